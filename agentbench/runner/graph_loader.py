"""Resolve a graph reference to its factory: `planning` (ours, in graphs/), `path/to/file.py:build_graph`,
or `package.module:build_graph`. Ours load through the same contract as a user's."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

from agentbench.protocols import GraphFactory


class GraphLoadError(ValueError):
    pass


def load_graph_factory(ref: str, base_dir: Path | None = None) -> GraphFactory:
    module_ref, _, attr = ref.partition(":")
    attr = attr or "build_graph"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", module_ref):
        module_ref = f"graphs.{module_ref}"
    if module_ref.endswith(".py"):
        path = Path(module_ref)
        if not path.is_absolute() and base_dir is not None and not path.exists():
            path = base_dir / path
        if not path.exists():
            raise GraphLoadError(f"graph {ref!r}: file {path} not found")
        name = f"agentbench_user_graph_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise GraphLoadError(f"graph {ref!r}: importing {path} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(module_ref)
        except ModuleNotFoundError as exc:
            if exc.name and module_ref.startswith(exc.name):
                raise GraphLoadError(f"graph {ref!r}: no module {module_ref!r}; ours are "
                                     "planning, coding, react, oracle, null") from exc
            raise GraphLoadError(f"graph {ref!r}: importing {module_ref} failed: {exc}") from exc
        except Exception as exc:
            raise GraphLoadError(f"graph {ref!r}: importing {module_ref} failed: {type(exc).__name__}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise GraphLoadError(f"graph {ref!r}: {module_ref} has no callable {attr!r}")
    return factory
