"""A user's graph, referenced by file path, runs through the same contract as ours against the real
embedded model server."""

import json

from agentbench.store import RunStore

from .conftest import ROOT, run_cli


def test_example_graph_by_path(tmp_path, embedded_url):
    out = tmp_path / "run"
    run_cli("run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet",
            "--set", "graph=examples/my_graph.py:build_graph", "--set", "model.provider=openai",
            "--set", f"model.base_url={embedded_url}", "--set", "suite.ids=[gm-l1-001, gm-l2-002]",
            "--set", "run.concurrency=2")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attempts"] == 2 and summary["graph"] == "examples/my_graph.py:build_graph"
    store = RunStore.in_dir(out)
    for row in store.attempt_rows():
        types = [e.type for e in store.events(row["id"])]
        assert types.count("model_call") >= 1 and "node_start" in types
    assert summary["model_identity"]["provider"] == "openai"


def test_unknown_graph_is_a_clear_error(tmp_path):
    proc = run_cli("run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(tmp_path / "r"),
                   "--set", "graph=examples/nope.py:build_graph", check=False)
    assert proc.returncode == 2 and "nope.py" in proc.stderr and "not found" in proc.stderr
