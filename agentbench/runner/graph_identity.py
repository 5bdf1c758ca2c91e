"""A graph's identity, stored as the run's `graph` meta so that `compare` and `--resume` can tell an edited
agent from the one a run started with: which source it is, a hash of that source, the git commit and dirty
flag of that source when it lies in a git work tree, and the run's graph_params.

What is hashed (`source_files`, read after the graph loaded, so every import resolves as it did):

- ours by name (`planning`): every .py file of the folder ours are installed from (`agentbench.graphs`: the
  repository's graphs/ folder in a checkout, its copy in an installed wheel);
- `package.module:fn`: every .py file under the top-level package's folder (a top-level plain module: as
  a file, below);
- `path/file.py:fn` in a package folder (one with `__init__.py`): every .py file under the top-level
  package's folder; otherwise the file and what it imports from beside it (modules and packages, found by
  reading the imports of each file hashed, those inside functions included), which is what it can import
  as a script.

The hash is over each file's path relative to the source folder and its content (a moved checkout is the
same graph). Pure apart from reading those files and asking `git`.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import subprocess
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentbench.runner.graph_loader import GraphLoadError, GraphRef, parse_ref

MAX_LISTED = 200  # per-file hashes are stored up to this many files (the resume check names changed files)
GIT_TIMEOUT_S = 10.0


class GraphIdentity(BaseModel):
    """The run's `graph` meta."""

    ref: str = Field(description="the graph reference as configured")
    label: str = Field(description="short name: ours by name, a file by its stem, a module by its dotted name")
    kind: Literal["builtin", "file", "module"]
    source: str = Field(description="the file or package folder hashed (absolute)")
    source_hash: str = Field(description="sha256 (16 hex) over the files' relative paths and contents")
    file_count: int
    files: dict[str, str] | None = Field(None, description=f"relative path -> content sha256 (16 hex), up to "
                                                           f"{MAX_LISTED} files")
    git_commit: str | None = Field(None, description="HEAD of the work tree holding the source; None outside git")
    git_dirty: bool | None = Field(None, description="the source has uncommitted changes (or is untracked); "
                                                     "None outside git")
    params: dict[str, Any] = Field(default_factory=dict, description="the run's graph_params")


def _py_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py")
                  if not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(folder).parts))


def _top_package(folder: Path) -> Path:
    """The outermost folder of the package `folder` is part of (folders with __init__.py)."""
    while (folder.parent / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def _imported_names(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a file (anywhere in it); none when it does not parse."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), str(path))
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.partition(".")[0])
    return names


def script_files(path: Path) -> list[Path]:
    """A script and what it imports from its folder, transitively: modules beside it, and every .py file of
    a package (or plain folder) beside it that it imports."""
    folder, found, queue = path.parent, {path}, [path]
    while queue:
        for name in sorted(_imported_names(queue.pop())):
            module, package = folder / f"{name}.py", folder / name
            new = [module] if module.is_file() else _py_files(package) if package.is_dir() else []
            for file in new:
                if file not in found:
                    found.add(file)
                    queue.append(file)
    return sorted(found)


def source_files(graph: GraphRef) -> tuple[Path, list[Path]]:
    """The folder (or file) the graph's source is, and the files hashed."""
    if graph.kind == "file":
        if (graph.path.parent / "__init__.py").is_file():
            root = _top_package(graph.path.parent)
            return root, _py_files(root)
        return graph.path, script_files(graph.path)
    package = graph.module.rpartition(".")[0] if graph.kind == "builtin" else graph.module.partition(".")[0]
    spec = importlib.util.find_spec(package)  # loaded already: resolves as the import did
    if spec is None:
        raise GraphLoadError(f"graph {graph.ref!r}: module {graph.module!r} not found")
    if spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations))).resolve()
        return root, _py_files(root)
    file = Path(spec.origin).resolve()
    return file, script_files(file)


def hash_files(root: Path, files: list[Path]) -> tuple[str, dict[str, str]]:
    """The source hash and each file's content hash, by path relative to the root's folder."""
    base = root if root.is_dir() else root.parent
    per_file = {f.relative_to(base).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()[:16] for f in files}
    total = hashlib.sha256("".join(f"{name}\0{digest}\n" for name, digest in sorted(per_file.items())).encode())
    return total.hexdigest()[:16], per_file


def _git(folder: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_state(root: Path, files: list[Path]) -> tuple[str | None, bool | None]:
    """(HEAD commit, whether any of the files is modified, untracked or ignored: not as committed) of the git
    work tree holding the source; (None, None) without git or outside a work tree."""
    folder = root if root.is_dir() else root.parent
    if (_git(folder, "rev-parse", "--is-inside-work-tree") or "").strip() != "true":
        return None, None
    head = _git(folder, "rev-parse", "--verify", "-q", "HEAD")  # a repository without commits has none
    status = _git(folder, "status", "--porcelain", "--untracked-files=all", "--ignored", "--", *map(str, files))
    return (head.strip() or None) if head else None, None if status is None else bool(status.strip())


def graph_identity(ref: str, base_dir: Path | None, params: dict[str, Any]) -> GraphIdentity:
    """The identity of the graph `ref` names (call it after the graph loaded)."""
    graph = parse_ref(ref, base_dir)
    root, files = source_files(graph)
    source_hash, per_file = hash_files(root, files)
    commit, dirty = git_state(root, files)
    return GraphIdentity(ref=ref, label=graph.label, kind=graph.kind, source=str(root), source_hash=source_hash,
                         file_count=len(files), files=per_file if len(files) <= MAX_LISTED else None,
                         git_commit=commit, git_dirty=dirty, params=params)
