"""String conversions used by the typed getters of :class:`~confini.Config`.

Every converter takes the raw string and raises ``ValueError`` when it cannot
convert it; :class:`~confini.Config` turns that into a ``ConversionError``.
"""

from __future__ import annotations

__all__ = ["BOOLEAN_STATES", "to_bool", "to_float", "to_int", "to_list"]

BOOLEAN_STATES = {
    "1": True,
    "yes": True,
    "true": True,
    "on": True,
    "0": False,
    "no": False,
    "false": False,
    "off": False,
}


def to_bool(value):
    """``yes/no``, ``true/false``, ``on/off`` and ``1/0``, in any case."""
    return BOOLEAN_STATES[value.strip().lower()]


def to_int(value):
    return int(value.strip())


def to_float(value):
    return float(value.strip())


def to_list(value, sep=","):
    """Split on ``sep`` and on newlines; blank items are dropped."""
    items = []
    for line in value.splitlines():
        items.extend(item.strip() for item in line.split(sep))
    return [item for item in items if item]
