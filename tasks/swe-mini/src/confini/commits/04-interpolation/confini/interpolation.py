"""Expansion of ``${option}`` and ``${section:option}`` references.

``${option}`` refers to an option of the same section (or of ``[DEFAULT]``),
``${section:option}`` to one of another section, and ``$$`` is a literal ``$``.
References inside referenced values are expanded too.
"""

from __future__ import annotations

import re

from .errors import InterpolationError

__all__ = ["MAX_DEPTH", "interpolate"]

MAX_DEPTH = 10
_REFERENCE_RE = re.compile(r"\$(?:\$|\{(?P<ref>[^}]*)\})")


def interpolate(value, section, sections, defaults, depth=0):
    """Expand the references in ``value``, an option value of ``section``.

    ``sections`` maps section names to their options and ``defaults`` holds the
    ``[DEFAULT]`` options, both as stored by the parser.
    """
    if depth > MAX_DEPTH:
        raise InterpolationError(f"references nested more than {MAX_DEPTH} deep (a cycle?) in {value!r}")

    def expand(match):
        ref = match.group("ref")
        if ref is None:
            return "$"
        target, sep, option = ref.rpartition(":")
        if not sep:
            target = section
        options = sections.get(target)
        if options is None:
            raise InterpolationError(f"${{{ref}}} in section {section!r}: no section {target!r}")
        if option in options:
            raw = options[option]
        elif option in defaults:
            raw = defaults[option]
        else:
            raise InterpolationError(f"${{{ref}}} in section {section!r}: no option {option!r} in {target!r}")
        return interpolate(raw, target, sections, defaults, depth + 1)

    return _REFERENCE_RE.sub(expand, value)
