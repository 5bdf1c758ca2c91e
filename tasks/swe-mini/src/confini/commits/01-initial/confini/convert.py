"""String conversions used by the typed getters of :class:`~confini.Config`.

Every converter takes the raw string and raises ``ValueError`` when it cannot
convert it; :class:`~confini.Config` turns that into a ``ConversionError``.
"""

from __future__ import annotations

__all__ = ["to_float", "to_int"]

def to_int(value):
    return int(value.strip())


def to_float(value):
    return float(value.strip())
