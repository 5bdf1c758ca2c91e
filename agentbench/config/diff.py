"""Where two resolved configs differ, as dotted keys (pure): what `compare` shows and what a refused
`--resume` names."""

from __future__ import annotations

from typing import Any


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as {dotted key: leaf value}."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def config_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two resolved configs (the run name left out)."""
    fa, fb = flatten(a), flatten(b)
    return {k: (fa.get(k), fb.get(k)) for k in sorted(fa.keys() | fb.keys())
            if k != "name" and fa.get(k) != fb.get(k)}
