"""A small INI configuration reader with typed getters and ${...} interpolation."""

from .config import Config
from .errors import (
    ConfigError,
    ConversionError,
    InterpolationError,
    NoOptionError,
    NoSectionError,
    ParseError,
)
from .parser import parse

__all__ = [
    "Config",
    "ConfigError",
    "ConversionError",
    "InterpolationError",
    "NoOptionError",
    "NoSectionError",
    "ParseError",
    "parse",
]
__version__ = "1.1.0"
