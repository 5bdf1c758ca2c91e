"""A run killed with SIGKILL mid-way resumes where it stopped: every attempt exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from agentbench.store import RunStore

from .conftest import ROOT, run_cli

GRAPH = "tests/integration/graphs/slow_oracle.py:build_graph"


def _meta(db_path, key):
    try:
        with sqlite3.connect(db_path) as db:
            row = db.execute("SELECT value FROM run WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return json.loads(row[0]) if row else None


def _finished(db_path) -> int:
    try:
        with sqlite3.connect(db_path) as db:
            return db.execute("SELECT COUNT(*) FROM attempt").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_then_resume_runs_each_attempt_once(tmp_path):
    out = tmp_path / "run"
    args = ["run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet",
            "--set", f"graph={GRAPH}", "--set", "suite.limit=10", "--set", "run.concurrency=1",
            "--set", "graph_params.sleep_s=0.5", "--set", "sandbox.backend=local"]
    proc = subprocess.Popen([sys.executable, "-m", "agentbench", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while _finished(out / "run.sqlite") < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _finished(out / "run.sqlite")
    assert 3 <= killed_at < 10

    run_cli("run", "--resume", str(out), "--quiet")
    store = RunStore.in_dir(out)
    tries = store.all_tries()
    keys = [(t, e) for t, e, _, _ in tries]
    assert len(keys) == 10 and len(set(keys)) == 10, tries  # nothing lost, nothing run twice
    assert {a.status for a in store.attempts()} == {"solved"}


def test_resume_reruns_error_attempts_only(tmp_path):
    out = tmp_path / "run"
    args = ["run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet",
            "--set", f"graph={GRAPH}", "--set", "suite.ids=[gm-l1-001, gm-l1-002, gm-l2-001]",
            "--set", "graph_params.sleep_s=0", "--set", "sandbox.backend=local"]
    run_cli(*args, env={"AGENTBENCH_TEST_FAIL": "gm-l1-002"})
    store = RunStore.in_dir(out)
    assert {a.task_id: a.status for a in store.attempts()} == {
        "gm-l1-001": "solved", "gm-l1-002": "error", "gm-l2-001": "solved"}
    error = next(a for a in store.attempts() if a.status == "error")
    assert "injected infrastructure fault" in error.error

    run_cli("run", "--resume", str(out), "--quiet")
    store = RunStore.in_dir(out)
    assert {a.task_id: a.status for a in store.attempts()} == {
        "gm-l1-001": "solved", "gm-l1-002": "solved", "gm-l2-001": "solved"}
    tries = store.all_tries()
    assert sorted((t, n) for t, _, n, _ in tries) == [("gm-l1-001", 0), ("gm-l1-002", 0), ("gm-l1-002", 1),
                                                       ("gm-l2-001", 0)]


def test_resume_with_changed_experiment_is_refused(tmp_path):
    out = tmp_path / "run"
    base = ["--out", str(out), "--quiet", "--set", f"graph={GRAPH}", "--set", "suite.limit=1",
            "--set", "graph_params.sleep_s=0"]
    run_cli("run", str(ROOT / "experiments" / "demo.yaml"), *base)
    proc = run_cli("run", str(ROOT / "experiments" / "demo.yaml"), "--resume", str(out), "--set", "suite.limit=2",
                   check=False)
    assert proc.returncode == 2 and "differs from the stored config" in proc.stderr


def test_sigkilled_docker_run_leaves_no_container_after_resume(tmp_path, docker_client):
    out = tmp_path / "run"
    args = ["run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet",
            "--set", f"graph={GRAPH}", "--set", "suite.limit=4", "--set", "run.concurrency=1",
            "--set", "graph_params.sleep_s=3", "--set", "sandbox.backend=docker"]
    proc = subprocess.Popen([sys.executable, "-m", "agentbench", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not (out / "run.sqlite").exists() and time.time() < deadline:
        time.sleep(0.1)
    label = None
    while time.time() < deadline:
        uid = _meta(out / "run.sqlite", "run_uid")
        label = {"label": ["agentbench", f"agentbench.run={uid}"]}
        if uid and docker_client.containers.list(filters=label, sparse=True):
            break
        time.sleep(0.2)
    assert docker_client.containers.list(filters=label, sparse=True), "no container started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert docker_client.containers.list(all=True, filters=label, sparse=True)  # the kill left one behind ...
    run_cli("run", "--resume", str(out), "--quiet")
    assert docker_client.containers.list(all=True, filters=label, sparse=True) == []  # ... resume cleaned it up
    assert len(RunStore.in_dir(out).attempts()) == 4


def _small_suite(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "suite.yaml").write_text("name: small\nformat: gaia\n")
    return folder


def _row(task_id, answer):
    return {"task_id": task_id, "Question": f"What is {task_id}?", "Level": 1, "Final answer": answer}


def test_resume_refuses_a_changed_suite_unless_allowed(tmp_path):
    suite = _small_suite(tmp_path / "suite", [_row("a-1", "1"), _row("a-2", "2"), _row("a-3", "3")])
    out = tmp_path / "run"
    run_cli("run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet", "--set", f"graph={GRAPH}",
            "--set", f"suite.name={suite}", "--set", "graph_params.sleep_s=0", "--set", "sandbox.backend=local",
            env={"AGENTBENCH_TEST_FAIL": "a-3"})  # a-3 is `error`: a resume would rerun it
    _small_suite(suite, [_row("a-1", "1"), _row("a-2", "22"), _row("a-3", "3"), _row("a-4", "4")])
    proc = run_cli("run", "--resume", str(out), "--quiet", check=False)
    message = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "the suite" in message and "changed since this run started (added: a-4; changed: a-2)" in message
    assert "--allow-changed-suite" in message
    assert len(RunStore.in_dir(out).all_tries()) == 3  # nothing ran

    proc = run_cli("run", str(ROOT / "experiments" / "demo.yaml"), "--allow-changed-suite", "--quiet", check=False)
    assert proc.returncode == 2 and "goes with --resume" in proc.stderr

    run_cli("run", "--resume", str(out), "--quiet", "--allow-changed-suite")
    store = RunStore.in_dir(out)
    assert {a.task_id: a.status for a in store.attempts()} == {"a-1": "solved", "a-2": "solved", "a-3": "solved",
                                                              "a-4": "solved"}
    assert [(c["added"], c["changed"]) for c in store.meta("suite_changes")] == [(["a-4"], ["a-2"])]
    assert sorted(store.meta("suite")["tasks"]) == ["a-1", "a-2", "a-3", "a-4"]
    store.close()
    run_cli("run", "--resume", str(out), "--quiet")  # the suite as accepted is the reference from now on
