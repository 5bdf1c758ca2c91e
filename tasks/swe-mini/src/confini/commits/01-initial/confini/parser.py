"""Turn INI text into nested dictionaries of strings."""

from __future__ import annotations

import re

from .errors import ParseError

__all__ = ["normalize_key", "parse"]

_SECTION_RE = re.compile(r"\[(?P<name>[^\]]+)\]")
_OPTION_RE = re.compile(r"(?P<key>[^=:\s][^=:]*?)\s*[=:]\s*(?P<value>.*)")
_COMMENT_PREFIXES = ("#", ";")


def normalize_key(key):
    """Option names are case-insensitive: they are stored stripped and lower-cased."""
    return key.strip().lower()


def parse(text, *, source="<string>"):
    """Parse INI ``text`` into ``{section: {option: value}}``.

    * ``[section]`` headers; section names are case-sensitive.
    * ``key = value`` or ``key: value``; keys are normalised by :func:`normalize_key`.
    * Comment lines start with ``#`` or ``;``.
    """
    sections = {}
    current = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(_COMMENT_PREFIXES):
            continue
        match = _SECTION_RE.fullmatch(stripped)
        if match:
            name = match.group("name").strip()
            if name in sections:
                raise ParseError(f"duplicate section {name!r}", source, lineno)
            current = sections[name] = {}
            continue
        match = _OPTION_RE.fullmatch(stripped)
        if match is None:
            raise ParseError(f"expected 'key = value', got {stripped!r}", source, lineno)
        if current is None:
            raise ParseError("option before the first [section] header", source, lineno)
        key = normalize_key(match.group("key"))
        if key in current:
            raise ParseError(f"duplicate option {key!r}", source, lineno)
        current[key] = match.group("value").strip()
    return sections
