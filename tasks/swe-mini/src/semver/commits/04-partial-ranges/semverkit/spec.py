"""Version ranges in the npm / Cargo style.

A range is one or more comparator sets joined by ``||``; a comparator set is
a whitespace-separated list of comparators that must all match::

    >=1.2.0 <2.0.0
    ^1.4.2 || ~2.1
    1.x || >=3.0.0-rc.1

Partial versions are allowed everywhere: ``1.2`` means "any 1.2.x" and
``x``, ``X`` or ``*`` stand for a missing component.
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

_COMPARATOR_RE = re.compile(
    r"""
    (?P<op>\^|~|>=|<=|>|<|=)?
    v?
    (?P<major>0|[1-9]\d*|[xX*])
    (?:\.(?P<minor>0|[1-9]\d*|[xX*])
        (?:\.(?P<patch>0|[1-9]\d*|[xX*])
            (?:-(?P<prerelease>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?
            (?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?
        )?
    )?
    """,
    re.VERBOSE,
)
# "> 1.2.3" is written as often as ">1.2.3": glue the operator on.
_SPACE_AFTER_OP_RE = re.compile(r"(\^|~|>=|<=|>|<|=)\s+")
_WILDCARDS = {"x", "X", "*"}


def _caret(lower):
    # ^1.2.3 := >=1.2.3 <2.0.0, ^1.2 := >=1.2.0 <2.0.0, ^1 := >=1.0.0 <2.0.0
    return [(">=", lower), ("<", lower.bump_major())]


def _tilde(lower, given):
    # ~1.2.3 := >=1.2.3 <1.3.0, ~1.2 := >=1.2.0 <1.3.0, ~1 := >=1.0.0 <2.0.0
    upper = lower.bump_major() if given == 1 else lower.bump_minor()
    return [(">=", lower), ("<", upper)]


def _parse_comparator(token):
    match = _COMPARATOR_RE.fullmatch(token)
    if match is None:
        raise InvalidSpecifier(f"invalid comparator {token!r}")
    op = match.group("op") or "="
    numbers = []
    for name in ("major", "minor", "patch"):
        value = match.group(name)
        if value is None or value in _WILDCARDS:
            break
        numbers.append(int(value))
    given = len(numbers)
    prerelease = match.group("prerelease")
    if prerelease and given < 3:
        raise InvalidSpecifier(f"invalid comparator {token!r}: pre-release on a partial version")
    if given == 0:
        # "*", ">=*", "^x" ... match everything; "<*" and ">*" match nothing.
        if op in ("<", ">"):
            return [("<", Version(0, 0, 0))]
        return [(">=", Version(0, 0, 0))]
    try:
        lower = Version(*numbers, prerelease=prerelease or ())
    except InvalidVersion as exc:
        raise InvalidSpecifier(f"invalid comparator {token!r}: {exc}") from None
    if op == "^":
        return _caret(lower)
    if op == "~":
        return _tilde(lower, given)
    if given == 3:
        return [(op, lower)]
    # The first version after the partial one: 1 -> 2.0.0, 1.2 -> 1.3.0.
    upper = lower.bump_major() if given == 1 else lower.bump_minor()
    if op == "=":
        return [(">=", lower), ("<", upper)]
    if op == ">":
        return [(">=", upper)]
    if op == "<=":
        return [("<", upper)]
    return [(op, lower)]


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

