"""Resolve a graph reference to its factory: `planning` (ours), `path/to/file.py:build_graph`, or
`package.module:build_graph`. Ours load through the same contract as a user's.

The import path is set the way Python sets it for a script and for `python -m`:

- `path/to/file.py:fn` loads like `python path/to/file.py`: the file's folder goes first on `sys.path`
  before the file runs, so `import common` (a module beside it) and `from helpers.util import x` (a package
  beside it) work. The folder stays there, as a script's does, because nodes run later (in the attempts)
  and may import lazily. A module imported earlier in this process from another graph file's folder under a
  name this folder also has (two agents, each with its own `common.py`) is forgotten first.
- `package.module:fn` loads like `python -m package.module` run in the current folder: the current folder
  (and the run's base folder) go first on `sys.path`, and stay.
- a bare name (`planning`) is ours, `agentbench.graphs.<name>` (BUILTIN_PACKAGE: the repository's top-level
  graphs/ folder, installed inside the agentbench package — a link in the checkout, a copy in the wheel),
  imported as installed; nothing is added to the path, so a user's folder named `graphs` cannot shadow ours.

Every failure is one GraphLoadError naming the reference, the file and (for an import) the missing module.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

from agentbench.protocols import GraphFactory

OURS = ("planning", "coding", "react", "oracle", "null", "predictions")
BUILTIN_PACKAGE = "agentbench.graphs"  # where ours are installed (the repository's graphs/ folder)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_FOLDERS: list[Path] = []  # graph files' folders this process put on sys.path (for _forget_shadowed)


class GraphLoadError(ValueError):
    pass


@dataclass(frozen=True)
class GraphRef:
    """A parsed graph reference: ours by name, a file, or a module, and the factory's name in it."""

    ref: str
    kind: Literal["builtin", "file", "module"]
    module: str  # the dotted module (builtin, module); "" for a file
    attr: str
    path: Path | None = None  # the file (resolved), for a file reference

    @property
    def label(self) -> str:
        """Short name: ours by name, a file by its stem, a module by its dotted name (`:fn` when not
        `build_graph`)."""
        base = {"file": self.path.stem if self.path else "", "builtin": self.module.removeprefix(f"{BUILTIN_PACKAGE}."),
                "module": self.module}[self.kind]
        return base if self.attr == "build_graph" else f"{base}:{self.attr}"


def parse_ref(ref: str, base_dir: Path | None = None) -> GraphRef:
    """`ref` parsed; a relative file path is taken from the current folder, else from `base_dir`."""
    module_ref, _, attr = ref.partition(":")
    attr = attr or "build_graph"
    if not re.fullmatch(_NAME, attr):
        raise GraphLoadError(f"graph {ref!r}: {attr!r} is not a Python name (expected FILE.py:FUNCTION or "
                             "package.module:FUNCTION)")
    if module_ref.endswith(".py"):
        path = Path(module_ref).expanduser()
        if not path.is_absolute() and base_dir is not None and not path.exists():
            path = Path(base_dir) / path
        if not path.is_file():
            raise GraphLoadError(f"graph {ref!r}: file {path} not found")
        return GraphRef(ref, "file", "", attr, path.resolve())
    if re.fullmatch(_NAME, module_ref):
        return GraphRef(ref, "builtin", f"{BUILTIN_PACKAGE}.{module_ref}", attr)
    if not re.fullmatch(rf"{_NAME}(\.{_NAME})*", module_ref):
        raise GraphLoadError(f"graph {ref!r}: expected one of ours ({', '.join(OURS)}), path/to/file.py:build_graph "
                             "or package.module:build_graph")
    return GraphRef(ref, "module", module_ref, attr)


def load_graph_factory(ref: str, base_dir: Path | None = None) -> GraphFactory:
    graph = parse_ref(ref, base_dir)
    if graph.kind == "file":
        module = _load_file(graph)
    else:
        if graph.kind == "module":
            for folder in dict.fromkeys([Path(base_dir or Path.cwd()).resolve(), Path.cwd().resolve()]):
                _put_first(folder)  # the current folder ends up first, as with `python -m`
        module = _import_module(graph)
    factory = getattr(module, graph.attr, None)
    if not callable(factory):
        where = graph.path if graph.path is not None else graph.module
        found = sorted(n for n, v in vars(module).items() if callable(v) and n.startswith(("build", "make", "graph")))
        raise GraphLoadError(f"graph {ref!r}: {where} has no callable {graph.attr!r}"
                             + (f" (it has {', '.join(found)})" if found else ""))
    return factory


def _put_first(folder: Path) -> None:
    entry = str(folder)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)


def _forget_shadowed(folder: Path) -> None:
    """Forget modules another graph file's folder provided under a name `folder` provides too, so that
    this file imports its own."""
    others = [f for f in _FOLDERS if f != folder]
    if not others:  # no other graph file's folder on the path: nothing to forget (and no stat per module)
        return
    try:  # one listing of the folder rules most modules out; a candidate is still checked as before
        here: set[str] | None = {entry.casefold() for entry in os.listdir(folder)}
    except OSError:
        here = None
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        top = name.partition(".")[0]
        if not file or (here is not None and f"{top}.py".casefold() not in here and top.casefold() not in here):
            continue
        if not ((folder / f"{top}.py").exists() or (folder / top).is_dir()):
            continue
        path = Path(file).resolve()
        if not path.is_relative_to(folder) and any(path.is_relative_to(f) for f in others):
            del sys.modules[name]


def _load_file(graph: GraphRef) -> ModuleType:
    path = graph.path
    folder = path.parent
    _forget_shadowed(folder)
    _put_first(folder)
    if folder not in _FOLDERS:
        _FOLDERS.append(folder)
    name = f"agentbench_user_graph_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise GraphLoadError(import_failure(graph, exc)) from exc
    return module


def _import_module(graph: GraphRef) -> ModuleType:
    try:
        return importlib.import_module(graph.module)
    except ModuleNotFoundError as exc:
        if exc.name and (graph.module == exc.name or graph.module.startswith(exc.name + ".")):
            where = (f"ours are {', '.join(OURS)}" if graph.kind == "builtin" else
                     f"looked in the current folder {Path.cwd()} and on the import path, as `python -m` does")
            raise GraphLoadError(f"graph {graph.ref!r}: no module {graph.module!r} ({where})") from exc
        raise GraphLoadError(import_failure(graph, exc)) from exc
    except Exception as exc:
        raise GraphLoadError(import_failure(graph, exc)) from exc


def raised_at(exc: BaseException) -> str:
    """` at FILE:LINE`: where the exception was raised, in the last frame of a real file outside importlib
    (a syntax error: its own place); "" when there is none."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" at {exc.filename}:{exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")
              and "importlib" not in Path(f.filename).parts]
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def import_failure(graph: GraphRef, exc: BaseException) -> str:
    """`graph REF: importing FILE failed at FILE:LINE: ModuleNotFoundError: No module named 'x'` plus a hint."""
    what = graph.path if graph.path is not None else graph.module
    message = f"graph {graph.ref!r}: importing {what} failed{raised_at(exc)}: {type(exc).__name__}: {exc}"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        where = (f"beside the graph file in {graph.path.parent}" if graph.path is not None else
                 f"in the current folder {Path.cwd()}")
        message += f" (module {exc.name!r} is neither {where} nor installed in the environment {sys.prefix})"
    elif isinstance(exc, ImportError) and "no known parent package" in str(exc) and graph.path is not None:
        message += (" (a graph file loads like a script, so relative imports have no package: import the "
                    "modules beside it by name, or name the graph package.module:build_graph from the folder "
                    "above the package)")
    return message
