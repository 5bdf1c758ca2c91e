"""Finding a suite by name or path and loading it by the `format` in its suite.yaml.

A path that exists wins; otherwise the name is looked up among the bundled suites under the tasks root:
`$AGENTBENCH_TASKS` when set, else the bundled `tasks/` (the repository's folder, shipped in the wheel as
package data). A folder without suite.yaml but with GAIA's metadata.jsonl is read as `gaia`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from agentbench._bundled import bundled_dir
from agentbench.protocols import Task
from agentbench.safe_parse import ParseError, read_text, yaml_text
from agentbench.suites.errors import SuiteError
from agentbench.suites.gaia import METADATA, load_gaia
from agentbench.suites.swebench import load_swebench

SUITE_FILE = "suite.yaml"
TASKS_ENV = "AGENTBENCH_TASKS"
LOADERS: dict[str, Callable[..., list[Task]]] = {"gaia": load_gaia, "swebench": load_swebench}


def default_tasks_root() -> Path:
    env = os.environ.get(TASKS_ENV)
    return Path(env).expanduser() if env else bundled_dir("tasks")


def available_suites(tasks_root: Path | None = None) -> list[str]:
    root = tasks_root or default_tasks_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / SUITE_FILE).is_file())


def resolve_suite(name_or_path: str | Path, tasks_root: Path | None = None) -> Path:
    """The suite folder (absolute) for a path (a folder, or its suite.yaml / metadata.jsonl) or a bundled name."""
    given = Path(name_or_path).expanduser()
    if given.exists():
        if given.is_file() and given.name in (SUITE_FILE, METADATA):
            given = given.parent
        if not given.is_dir():
            raise SuiteError(f"{given}: a suite is a folder (with {SUITE_FILE}), not a file")
        return given.absolute()
    root = tasks_root or default_tasks_root()
    name = str(name_or_path)
    if given.name == name and name not in (".", "..") and (root / name).is_dir():
        return (root / name).absolute()
    names = available_suites(root)
    raise SuiteError(f"suite {name!r} not found: no such folder, and no bundled suite of that name in {root}"
                     f" (available: {', '.join(names) or 'none'}; set {TASKS_ENV} to use another tasks folder)")


def suite_format(suite_dir: Path) -> str:
    path = suite_dir / SUITE_FILE
    if not path.is_file():
        if (suite_dir / METADATA).is_file():
            return "gaia"
        raise SuiteError.at(path, f"not found (and no {METADATA} to read the folder as GAIA)")
    try:
        spec = yaml_text(read_text(path))
    except (ParseError, OSError) as exc:
        raise SuiteError.at(path, f"cannot be read: {exc}") from None
    if not isinstance(spec, dict):
        raise SuiteError.at(path, "expected a mapping with a 'format' field")
    fmt = spec.get("format")
    if fmt is None:
        raise SuiteError.at(path, f"missing; one of: {', '.join(LOADERS)}", field="format")
    if fmt not in LOADERS:
        raise SuiteError.at(path, f"unknown format {fmt!r}; one of: {', '.join(LOADERS)}", field="format")
    return str(fmt)


def load_suite(name_or_path: str | Path, tasks_root: Path | None = None,
               repo_mirror: Path | None = None) -> tuple[Path, list[Task]]:
    """(suite folder, its tasks), read with the loader named by suite.yaml's `format`; `repo_mirror`
    (SWE-bench suites) replaces the suite's own mirror folder."""
    suite_dir = resolve_suite(name_or_path, tasks_root)
    fmt = suite_format(suite_dir)
    if fmt == "swebench":
        return suite_dir, load_swebench(suite_dir, repo_mirror)
    return suite_dir, LOADERS[fmt](suite_dir)
