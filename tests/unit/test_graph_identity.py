"""The graph's identity (runner/graph_identity.py): a hash of its source that changes when the file or a
module it imports from beside it changes, the git commit and dirty flag from a real git repository; a
resumed run refuses a changed graph unless allowed; compare and the SWE-bench predictions name it."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from agentbench.analysis.compare import graph_diff
from agentbench.analysis.io import load_run
from agentbench.analysis.compare import compare_runs
from agentbench.analysis.terminal import compare_tables
from agentbench.config.loader import load_experiment
from agentbench.export.swebench import model_name
from agentbench.runner.graph_identity import graph_identity
from agentbench.runner.graph_loader import load_graph_factory
from agentbench.runner.errors import RunError
from agentbench.runner.runner import Runner
from agentbench.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
ORACLE_FILE = """\
from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from answers import pick


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str


def build_graph(ctx):
    async def answer(state):
        return {{"answer": pick(ctx.task.expected.answer)}}

    graph = StateGraph(State)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    return graph.compile()


build_graph.uses_model = False
VERSION = {version}
"""


@pytest.fixture(autouse=True)
def _import_state():
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def agent_folder(folder: Path, version: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent.py").write_text(ORACLE_FILE.format(version=version))
    (folder / "answers.py").write_text("def pick(expected):\n    return expected\n")
    (folder / "notes.txt").write_text("not source\n")
    (folder / "unrelated.py").write_text("X = 1\n")
    return folder / "agent.py"


def identity(path: Path, params: dict | None = None):
    ref = f"{path}:build_graph"
    load_graph_factory(ref)
    return graph_identity(ref, None, params or {})


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=folder,
                          check=True, capture_output=True, text=True).stdout.strip()


def test_the_hash_covers_the_file_and_what_it_imports_beside_it(tmp_path):
    path = agent_folder(tmp_path / "a")
    first = identity(path, {"k": 1})
    assert first.kind == "file" and first.label == "agent" and first.source == str(path)
    assert set(first.files) == {"agent.py", "answers.py"} and first.params == {"k": 1}
    (tmp_path / "a" / "unrelated.py").write_text("X = 2\n")  # not imported: not the graph
    (tmp_path / "a" / "notes.txt").write_text("edited\n")
    assert identity(path).source_hash == first.source_hash
    (tmp_path / "a" / "answers.py").write_text("def pick(expected):\n    return 'x'\n")
    changed = identity(path)
    assert changed.source_hash != first.source_hash and changed.files["agent.py"] == first.files["agent.py"]
    moved = agent_folder(tmp_path / "b")  # the same source elsewhere: the same graph
    assert identity(moved).source_hash == first.source_hash


def test_ours_hash_the_graphs_folder_and_a_package_its_top_folder(tmp_path):
    ours = graph_identity("planning", None, {})
    assert ours.kind == "builtin" and ours.label == "planning" and Path(ours.source).name == "graphs"
    assert {"planning.py", "react.py", "actions.py"} <= set(ours.files)
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    for name in ("pkg/__init__.py", "pkg/sub/__init__.py"):
        (tmp_path / name).write_text("")
    (tmp_path / "pkg" / "tools.py").write_text("T = 1\n")
    (tmp_path / "pkg" / "sub" / "g.py").write_text("def build_graph(ctx):\n    return None\n")
    by_file = graph_identity(str(tmp_path / "pkg" / "sub" / "g.py"), None, {})
    assert by_file.source == str(tmp_path / "pkg") and set(by_file.files) == {"__init__.py", "tools.py",
                                                                             "sub/__init__.py", "sub/g.py"}
    load_graph_factory("pkg.sub.g:build_graph", tmp_path)
    by_module = graph_identity("pkg.sub.g:build_graph", tmp_path, {})
    assert by_module.source_hash == by_file.source_hash and by_module.label == "pkg.sub.g"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_and_dirty_flag_from_a_real_repository(tmp_path):
    outside = agent_folder(tmp_path / "plain")
    assert (identity(outside).git_commit, identity(outside).git_dirty) == (None, None)
    repo = tmp_path / "repo"
    path = agent_folder(repo)
    git(repo, "init", "-q")
    assert identity(path).git_commit is None and identity(path).git_dirty is True  # untracked, no commit
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "agent")
    clean = identity(path)
    assert clean.git_commit == git(repo, "rev-parse", "HEAD") and clean.git_dirty is False
    (repo / "unrelated.py").write_text("X = 3\n")
    assert identity(path).git_dirty is False  # not part of the graph
    (repo / "answers.py").write_text("def pick(expected):\n    return expected  # edited\n")
    assert identity(path).git_dirty is True


def small_suite(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rows = [{"task_id": f"q-{i}", "Question": f"What is {i}?", "Level": 1, "Final answer": str(i)} for i in (1, 2)]
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "suite.yaml").write_text("name: small\nformat: gaia\n")
    return folder


def test_resume_refuses_a_changed_graph_unless_allowed(tmp_path):
    path = agent_folder(tmp_path / "agent")
    cfg = load_experiment(None, [f"graph={path}:build_graph", f"suite.name={small_suite(tmp_path / 'suite')}",
                                 "sandbox.backend=local", "run.concurrency=1", "name=prov"])
    run_dir = tmp_path / "run"
    (path.parent / "answers.py").write_text(  # q-2's attempt is an `error`: a resume has work left
        "from agentbench.protocols import SandboxError\n\n\ndef pick(expected):\n"
        "    if expected == '2':\n        raise SandboxError('flaky')\n    return expected\n")
    store = asyncio.run(Runner(cfg, run_dir).run())
    stored = store.meta("graph")
    assert [a.status for a in store.attempts()] == ["solved", "error"] and stored["label"] == "agent"
    store.close()
    asyncio.run(Runner(cfg, run_dir).run()).close()  # unchanged: resumes

    (path.parent / "answers.py").write_text("def pick(expected):\n    return expected\n")
    with pytest.raises(RunError) as caught:
        asyncio.run(Runner(cfg, run_dir).run())
    message = str(caught.value)
    assert f"the graph '{path}:build_graph' changed since this run started (changed: answers.py in {path})" in message
    assert "--allow-changed-graph" in message

    store = asyncio.run(Runner(cfg, run_dir, allow_changed_graph=True).run())
    changes = store.meta("graph_changes")
    assert [c["change"] for c in changes] == ["changed: answers.py"] and changes[0]["from"] == stored["source_hash"]
    assert store.meta("graph")["source_hash"] == changes[0]["to"] != stored["source_hash"]
    store.close()
    asyncio.run(Runner(cfg, run_dir).run()).close()  # the graph as accepted is the reference from now on


def test_a_finished_run_is_not_refused_for_a_changed_graph(tmp_path):
    # re-running a finished sweep (every cell done) only re-analyses it: nothing would mix
    path = agent_folder(tmp_path / "agent")
    cfg = load_experiment(None, [f"graph={path}:build_graph", f"suite.name={small_suite(tmp_path / 'suite')}",
                                 "sandbox.backend=local", "run.concurrency=1", "name=done"])
    asyncio.run(Runner(cfg, tmp_path / "run").run()).close()
    path.write_text(ORACLE_FILE.format(version=3))
    store = asyncio.run(Runner(cfg, tmp_path / "run").run())
    assert [a.status for a in store.attempts()] == ["solved", "solved"] and not store.meta("graph_changes")
    store.close()


def test_compare_shows_a_changed_graph_like_a_changed_config_key(tmp_path):
    a = {"source_hash": "3f2a9c1b00000000", "git_dirty": False, "git_commit": "c" * 40}
    b = {**a, "source_hash": "9b1c0d2e11111111", "git_dirty": True}
    assert graph_diff(a, b) == {"source": ("3f2a9c1b00000000", "9b1c0d2e11111111"), "dirty": (False, True)}
    assert graph_diff(a, dict(a)) == {} and graph_diff(None, b) == {}

    path = agent_folder(tmp_path / "agent")
    suite = small_suite(tmp_path / "suite")
    for name in ("a", "b"):
        cfg = load_experiment(None, [f"graph={path}:build_graph", f"suite.name={suite}", "sandbox.backend=local",
                                     "run.concurrency=1", f"name={name}"])
        asyncio.run(Runner(cfg, tmp_path / name).run()).close()
        path.write_text(ORACLE_FILE.format(version=2))
    result = compare_runs([load_run(tmp_path / "a"), load_run(tmp_path / "b")], n_resamples=50)
    before, after = (RunStore.in_dir(tmp_path / n).meta("graph")["source_hash"] for n in ("a", "b"))
    assert result.comparisons[0].graph_diff == {"source": (before, after)}
    console = Console(record=True, width=100, color_system=None)
    for part in compare_tables(result):
        console.print(part)
    assert f"graph source: {before[:8]}… → {after[:8]}…" in console.export_text()


def test_swebench_predictions_name_model_and_graph(tmp_path):
    store = RunStore.in_dir(tmp_path)
    store.set_meta("config", {"graph": "agents/mine.py:build_graph", "model": {"name": "configured"}})
    assert model_name(store) == "configured+agents/mine.py:build_graph"  # a run without `graph` meta
    store.set_meta("graph", {"label": "mine"})
    store.set_meta("model_identity", {"provider": "embedded", "served_model_name": "smollm2-135m-instruct"})
    assert model_name(store) == "smollm2-135m-instruct+mine"
    store.set_meta("model_identity", {"provider": "none", "served_model_name": "(graph uses no model)"})
    assert model_name(store) == "none+mine"
    store.close()


def test_the_run_command_takes_allow_changed_graph_with_resume_only(tmp_path):
    from typer.testing import CliRunner

    from agentbench.cli import app

    path = agent_folder(tmp_path / "agent")
    (path.parent / "answers.py").write_text(  # one attempt is an `error`: the resume has work left
        "from agentbench.protocols import SandboxError\n\n\ndef pick(expected):\n"
        "    if expected == '2':\n        raise SandboxError('flaky')\n    return expected\n")
    run_dir = tmp_path / "run"
    sets = ["--set", f"graph={path}:build_graph", "--set", f"suite.name={small_suite(tmp_path / 'suite')}",
            "--set", "sandbox.backend=local", "--set", "run.concurrency=1"]
    cli = CliRunner()
    new = cli.invoke(app, ["run", str(ROOT / "experiments" / "demo.yaml"), *sets, "--allow-changed-graph"])
    assert new.exit_code == 2 and "--allow-changed-graph goes with --resume" in " ".join(new.output.split())
    first = cli.invoke(app, ["run", str(ROOT / "experiments" / "demo.yaml"), *sets, "--out", str(run_dir), "--quiet"])
    assert first.exit_code == 0, first.output
    path.write_text(ORACLE_FILE.format(version=2))
    refused = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert refused.exit_code == 2 and "changed: agent.py" in " ".join(refused.output.split())
    allowed = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet", "--allow-changed-graph"])
    assert allowed.exit_code == 0, allowed.output
