"""Semantic version parsing, comparison and ranges."""

from .errors import InvalidSpecifier, InvalidVersion, SemverError
from .spec import Range
from .version import Version, parse

__all__ = ["InvalidSpecifier", "InvalidVersion", "Range", "SemverError", "Version", "parse"]
__version__ = "1.0.0"
