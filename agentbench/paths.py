"""Where agentbench keeps what setup builds (virtual environments, weights, rootfs tarballs, logs)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """AGENTBENCH_CACHE, else `.cache` of the source checkout, else ~/.cache/agentbench."""
    env = os.environ.get("AGENTBENCH_CACHE")
    if env:
        return Path(env).resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists():
        return checkout / ".cache"
    return Path.home() / ".cache" / "agentbench"
