"""The dependency direction of docs/design.md holds, read from the source with `ast`:

cli -> runner -> attempt (episode) -> models, sandbox, scoring, tracing, suites -> protocols;
report, analysis, compare, sweep, export -> metrics, stats (pure) -> store -> protocols;
graphs/ (the package agentbench.graphs) -> protocols (and a few pure leaf modules) only.

Every `import` / `from ... import` of agentbench.* and graphs.* counts, at module level and inside
functions; imports under `if TYPE_CHECKING:` count for the layer rules (a type is a dependency too) but not
for cycles (they never run). Also: no module over 400 lines, and no file pointing outside the repository.
"""

from __future__ import annotations

import ast
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("agentbench", "graphs")

#: Pure leaf modules: they import nothing of ours but other leaves, and anything (graphs included) may import
#: them.
LEAVES = {"agentbench.commands", "agentbench.text", "agentbench._bundled", "agentbench.swebench_layout",
          "agentbench.swe_spec", "agentbench.events"}
MAX_LINES = 400
#: Python files over MAX_LINES that are data, not code (a suite's generator of its own attachments).
LONG_DATA = {"tasks/gaia-mini/make_attachments.py"}
#: Pointers outside the repository (split so that this file does not match itself).
OUTSIDE = ("../" + "shared", "DESIGN" + ".md")


@cache
def repo_files() -> tuple[str, ...]:
    """Tracked and new (not ignored) files, as paths relative to the root; without git, a walk."""
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", ".cache", "runs", "build", "dist", "__pycache__"}
        names = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
                 if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    return tuple(sorted(n for n in names if (ROOT / n).exists() or (ROOT / n).is_symlink()))


GRAPHS = "agentbench.graphs"  # the repository's graphs/ folder, installed inside agentbench (pyproject.toml)


def module_name(rel: str) -> str:
    parts = rel.removesuffix(".py").split("/")
    if parts[0] == "graphs":  # imported as agentbench.graphs.* (agentbench/graphs links to it)
        parts = GRAPHS.split(".") + parts[1:]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of agentbench/ and graphs/ (the bundled data links excluded)."""
    return {module_name(rel): ROOT / rel for rel in repo_files()
            if rel.endswith(".py") and rel.split("/")[0] in OURS and not rel.startswith("agentbench/_bundled/")
            and not (ROOT / rel).is_symlink()}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@cache
def imports() -> dict[str, dict[str, bool]]:
    """module -> {imported module of ours: whether only under TYPE_CHECKING}."""
    known = modules()
    graph: dict[str, dict[str, bool]] = {}
    for name, path in known.items():
        edges: dict[str, bool] = {}
        is_package = path.name == "__init__.py"

        def add(target: str, typing_only: bool) -> None:
            if target.split(".")[0] in OURS and target != name:
                edges[target] = edges.get(target, True) and typing_only

        def visit(node: ast.AST, typing_only: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child.test):
                    for sub in child.body:
                        visit_stmt(sub, True)
                    for sub in child.orelse:
                        visit_stmt(sub, typing_only)
                else:
                    visit_stmt(child, typing_only)

        def visit_stmt(node: ast.AST, typing_only: bool) -> None:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(alias.name, typing_only)
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(name, is_package, node)
                for alias in node.names:  # `from pkg import module` depends on the module
                    sub = f"{source}.{alias.name}"
                    add(sub if sub in known else source, typing_only)
            visit(node, typing_only)

        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
        graph[name] = edges
    return graph


def _within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def violations(importers: tuple[str, ...], allowed=None, forbidden: tuple[str, ...] = ()) -> list[str]:
    """`importer -> imported` for each import of a module in `importers` that breaks the rule."""
    bad = []
    for name, edges in sorted(imports().items()):
        if not _within(name, *importers):
            continue
        for target in sorted(edges):
            if (allowed is not None and not allowed(target)) or _within(target, *forbidden):
                bad.append(f"{name} -> {target}")
    return bad


def pkg(*names: str) -> tuple[str, ...]:
    return tuple(f"agentbench.{n}" for n in names)


def test_the_reader_sees_the_code():
    found = imports()
    assert "agentbench.runner.episode" in found and f"{GRAPHS}.coding" in found
    assert f"{GRAPHS}.planning" in found[f"{GRAPHS}.coding"]
    assert "agentbench.protocols" in found["agentbench.runner.episode"]
    assert all(not m.startswith("agentbench._bundled.") for m in found)


def test_no_import_cycle_between_modules():
    graph = {m: [t for t, typing_only in e.items() if not typing_only and t in imports()]
             for m, e in imports().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    assert cycles == []


def test_graphs_import_only_the_protocols_and_pure_leaves():
    assert violations((GRAPHS,), allowed=lambda t: _within(t, GRAPHS) or t in LEAVES | {"agentbench.protocols"}) == []


def test_protocols_and_leaves_import_nothing_of_ours_but_leaves():
    assert violations(("agentbench.protocols", *LEAVES), allowed=lambda t: t in LEAVES) == []


def test_metrics_and_stats_are_pure():
    assert violations(pkg("metrics", "stats", "stats_cluster", "stats_plan", "stats_sequential"),
                      allowed=lambda t: t in {"agentbench.protocols", "agentbench.stats", *LEAVES}) == []


def test_tracing_and_store_never_reach_up_into_analysis():
    assert violations(pkg("tracing", "store"), forbidden=pkg("report", "analysis", "compare", "sweep", "metrics")) == []


def test_components_below_the_runner_never_import_it_or_the_cli():
    assert violations(pkg("scoring", "suites", "sandbox", "models", "tracing", "store"),
                      forbidden=pkg("runner", "cli", "cli_compare", "cli_common")) == []


def test_report_analysis_and_export_never_import_the_runner_sandbox_or_models():
    assert violations(pkg("report", "analysis", "export", "compare", "sweep"),
                      forbidden=pkg("runner", "sandbox", "models")) == []


def test_the_attempt_speaks_only_protocols_tracing_and_the_runner():
    assert violations(pkg("runner.episode"), allowed=lambda t: _within(t, *pkg("protocols", "tracing", "runner"))
                      or t in LEAVES) == []


PEERS = ("scoring", "suites", "sandbox", "models", "tracing")


def test_the_components_below_the_attempt_do_not_import_each_other():
    assert [v for p in PEERS for v in violations(pkg(p), forbidden=pkg(*(o for o in PEERS if o != p)))] == []


def test_no_module_over_400_lines():
    long = {rel: n for rel in repo_files() if rel.endswith(".py") and not rel.startswith("tests/")
            and not (ROOT / rel).is_symlink()
            and (n := len((ROOT / rel).read_text(encoding="utf-8", errors="replace").splitlines())) > MAX_LINES}
    assert {rel: n for rel, n in long.items() if rel not in LONG_DATA} == {}


def test_no_file_points_outside_the_repository():
    hits = []
    for rel in repo_files():
        path = ROOT / rel
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(ROOT):
                hits.append(f"{rel} -> {target}")
            continue
        data = path.read_bytes()[:2_000_000]
        if b"\0" in data[:8192]:
            continue  # binary (packs, bundles, databases)
        text = data.decode("utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            hits += [f"{rel}:{lineno}: {needle}" for needle in OUTSIDE if needle in line]
    assert hits == []


@pytest.mark.parametrize("rule", ["graphs", "below-runner"])
def test_the_rules_catch_a_breach(rule, monkeypatch):
    """The checks are not vacuous: an injected import is reported."""
    fake = dict(imports())
    if rule == "graphs":
        fake[f"{GRAPHS}.coding"] = {**fake[f"{GRAPHS}.coding"], "agentbench.runner.runner": False}
        monkeypatch.setattr(f"{__name__}.imports", lambda: fake)
        assert violations((GRAPHS,), allowed=lambda t: _within(t, GRAPHS) or t in LEAVES
                          | {"agentbench.protocols"}) == [f"{GRAPHS}.coding -> agentbench.runner.runner"]
    else:
        fake["agentbench.scoring.gaia"] = {"agentbench.runner.episode": False}
        monkeypatch.setattr(f"{__name__}.imports", lambda: fake)
        assert violations(pkg("scoring"), forbidden=pkg("runner")) == ["agentbench.scoring.gaia -> "
                                                                        "agentbench.runner.episode"]
