"""Version ranges in the npm / Cargo style.

A range is one or more comparator sets joined by ``||``; a comparator set is
a whitespace-separated list of comparators that must all match::

    >=1.2.0 <2.0.0
    ^1.4.2 || ~2.1.0
"""

from __future__ import annotations

import operator
import re

from .errors import InvalidSpecifier, InvalidVersion
from .version import Version

__all__ = ["Range"]

_OPERATORS = {
    "=": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

_COMPARATOR_RE = re.compile(r"(?P<op>\^|~|>=|<=|>|<|=)?(?P<version>\S+)")
# "> 1.2.3" is written "> 1.2.3" as often as ">1.2.3": glue the operator on.
_SPACE_AFTER_OP_RE = re.compile(r"(\^|~|>=|<=|>|<|=)\s+")


def _caret(version):
    # ^1.2.3 := >=1.2.3 <2.0.0
    return [(">=", version), ("<", Version(version.major + 1, 0, 0))]


def _tilde(version):
    # ~1.2.3 := >=1.2.3 <1.3.0
    return [(">=", version), ("<", Version(version.major, version.minor + 1, 0))]


def _parse_comparator(token):
    match = _COMPARATOR_RE.fullmatch(token)
    if match is None:
        raise InvalidSpecifier(f"invalid comparator {token!r}")
    op = match.group("op") or "="
    try:
        version = Version.parse(match.group("version"))
    except InvalidVersion as exc:
        raise InvalidSpecifier(f"invalid comparator {token!r}: {exc}") from None
    if op == "^":
        return _caret(version)
    if op == "~":
        return _tilde(version)
    return [(op, version)]


class Range:
    """A set of versions described by a range expression."""

    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError(f"expected a range string, not {type(text).__name__}")
        self.text = text
        self._alternatives = []
        for part in text.split("||"):
            tokens = _SPACE_AFTER_OP_RE.sub(r"\1", part).split()
            if not tokens:
                raise InvalidSpecifier(f"empty comparator set in {text!r}")
            comparators = []
            for token in tokens:
                comparators.extend(_parse_comparator(token))
            self._alternatives.append(comparators)

    def contains(self, version):
        """True if ``version`` (a :class:`Version` or a string) is in the range."""
        if isinstance(version, str):
            version = Version.parse(version)
        return any(
            all(_OPERATORS[op](version, bound) for op, bound in comparators)
            for comparators in self._alternatives
        )

    __contains__ = contains

    def __str__(self):
        return " || ".join(
            " ".join(f"{op}{bound}" for op, bound in comparators)
            for comparators in self._alternatives
        )

    def __repr__(self):
        return f"Range({self.text!r})"
