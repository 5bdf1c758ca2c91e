"""What agentbench ships beside its code: the bundled suites (`tasks/`) and the sandbox recipes
(`sandboxes/`). In the source tree they stay the repository's top-level folders and `tasks` and
`sandboxes` here are relative links to them; a wheel holds copies as package data (pyproject.toml,
without the fixtures' sources `tasks/*/src`). Either way they are found through importlib.resources."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_dir(name: str) -> Path:
    """The shipped folder `name` (`tasks` or `sandboxes`), resolved: the repository's own in a checkout."""
    root = resources.files(__name__)
    if not isinstance(root, Path):  # a zipped install: the recipes are docker build contexts, folders
        raise RuntimeError(f"agentbench's bundled data must be installed as files, not in {root}")
    return (root / name).resolve()
