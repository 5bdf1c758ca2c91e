"""Semantic version parsing and comparison."""

from .errors import InvalidVersion, SemverError
from .version import Version, parse

__all__ = ["InvalidVersion", "SemverError", "Version", "parse"]
__version__ = "1.0.0"
