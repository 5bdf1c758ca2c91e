"""Crashes and errors are visible, through the real CLI on a log (no TTY): a graph crash reads
`failed (agent_error)` with the exception's last line, summary.json counts it apart, and the exit code
says when nothing could be scored or a --fail-on outcome occurred."""

from __future__ import annotations

import json

from .conftest import ROOT, run_cli

GRAPH = "graph=tests/integration/graphs/crash_no_model.py:build_graph"


def run(tmp_path, name: str, *extra: str):
    out = tmp_path / name
    proc = run_cli("run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--set", GRAPH,
                   "--set", "sandbox.backend=local", "--set", "suite.ids=[gm-l1-001, gm-l2-002]", *extra, check=False)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else None
    return proc, summary


def test_a_crash_is_shown_and_counted_apart(tmp_path):
    proc, summary = run(tmp_path, "bug", "--set", "graph_params={crash: bug, only: gm-l2-002}")
    assert proc.returncode == 0, proc.stderr  # a crash is the agent's failure: the run itself worked
    assert "failed (agent_error)" in proc.stdout and "the last line says why: no plan" in proc.stdout
    assert summary["failed"] == 2 and summary["agent_error"] == 1 and summary["error"] == 0
    assert summary["reasons"] == {"failed": {"agent_error": 1, "wrong": 1}}
    assert [e["task_id"] for e in summary["agent_errors"]] == ["gm-l2-002"]
    assert summary["setup_s"] >= 0 and summary["attempts_s"] > 0
    assert abs(summary["setup_s"] + summary["attempts_s"] - summary["wall_clock_s"]) < 0.5
    assert "setup done: attempts start" in proc.stderr  # the phase is named before attempts start

    failing, _ = run(tmp_path, "bug-gated", "--set", "graph_params={crash: bug, only: gm-l2-002}",
                     "--fail-on", "agent_error")
    assert failing.returncode == 1 and "agent_error" in failing.stderr


def test_a_run_where_every_attempt_crashed_exits_1(tmp_path):
    proc, summary = run(tmp_path, "all-bug", "--set", "graph_params={crash: bug}")
    assert summary["agent_error"] == 2 and proc.returncode == 1
    assert "no attempt ran to an end: 2 of 2 crashed" in proc.stderr


def test_a_run_where_nothing_could_be_scored_exits_1(tmp_path):
    proc, summary = run(tmp_path, "sandbox", "--set", "graph_params={crash: sandbox}")
    assert summary["error"] == 2 and summary["reasons"] == {"error": {"sandbox": 2}}
    assert proc.returncode == 1 and "no attempt could be scored" in proc.stderr and "sandbox 2" in proc.stderr
    assert "error (sandbox)" in proc.stdout


def test_a_clean_run_exits_0_and_fail_on_needs_a_known_outcome(tmp_path):
    proc, summary = run(tmp_path, "ok", "--fail-on", "error", "--fail-on", "agent_error")
    assert proc.returncode == 0 and summary["answer_sources"] == {"state": 2}  # wrong answers, no crash
    assert summary["reasons"] == {"failed": {"wrong": 2}} and summary["agent_error"] == 0
    bad, _ = run(tmp_path, "bad", "--fail-on", "wrong")
    assert bad.returncode == 2 and "--fail-on wrong" in bad.stderr
