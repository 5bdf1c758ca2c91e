"""Semantic version parsing, comparison and ranges."""

from .errors import InvalidSpecifier, InvalidVersion, SemverError
from .spec import Range, max_satisfying, min_satisfying
from .version import Version, parse

__all__ = [
    "InvalidSpecifier",
    "InvalidVersion",
    "Range",
    "SemverError",
    "Version",
    "max_satisfying",
    "min_satisfying",
    "parse",
]
__version__ = "1.1.0"
