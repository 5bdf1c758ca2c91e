"""A small INI configuration reader with typed getters."""

from .config import Config
from .errors import (
    ConfigError,
    ConversionError,
    NoOptionError,
    NoSectionError,
    ParseError,
)
from .parser import parse

__all__ = [
    "Config",
    "ConfigError",
    "ConversionError",
    "NoOptionError",
    "NoSectionError",
    "ParseError",
    "parse",
]
__version__ = "1.0.0"
