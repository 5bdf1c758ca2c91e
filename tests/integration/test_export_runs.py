"""`agentbench export inspect` and `agentbench export parquet` on real runs through the CLI (the local
sandbox; graphs that need no model): an oracle run with injected infrastructure faults (`error` attempts),
the same run after `--resume` (the errors' second tries: `latest` matters), and a null run. The Inspect log
is read back with the real inspect_ai (and served by a real `inspect view`); the tables with pyarrow.
Everything is compared with the store's own SQL and summary.json."""

from __future__ import annotations

import json
import math
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from inspect_ai.log import list_eval_logs, read_eval_log, read_eval_log_sample_summaries

from agentbench.export.parquet import attempts_schema, events_schema
from agentbench.store import RunStore
from agentbench.suites.loader import load_suite

from .conftest import ROOT, run_cli

DEMO = str(ROOT / "experiments" / "demo.yaml")
LOCAL = ["--quiet", "--set", "sandbox.backend=local", "--set", "run.concurrency=4", "--set", "run.epochs=2"]
SLOW_ORACLE = "tests/integration/graphs/slow_oracle.py:build_graph"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export-runs")
    made = {name: root / name for name in ("faulty", "resumed", "null")}
    run_cli("run", DEMO, "--out", str(made["faulty"]), *LOCAL, "--set", f"graph={SLOW_ORACLE}",
            "--set", "graph_params.sleep_s=0", "--set", "suite.limit=4", env={"AGENTBENCH_TEST_FAIL": "gm-l1-002"})
    shutil.copytree(made["faulty"], made["resumed"])
    run_cli("run", "--resume", str(made["resumed"]), "--quiet")
    run_cli("run", DEMO, "--out", str(made["null"]), *LOCAL, "--set", "graph=null", "--set", "suite.limit=3")
    return made


def _sql(run: Path, query: str) -> list[tuple]:
    with sqlite3.connect(run / "run.sqlite") as db:
        return db.execute(query).fetchall()


def _written(proc: subprocess.CompletedProcess, label: str) -> list[Path]:
    return [Path(line.split(": ", 1)[1]) for line in proc.stdout.splitlines() if line.startswith(f"{label}: ")]


@pytest.mark.parametrize("name", ["faulty", "resumed", "null"])
def test_inspect_log_reads_back_with_the_store_figures(runs, name):
    run = runs[name]
    (path,) = _written(run_cli("export", "inspect", str(run)), "inspect log")
    assert path.parent == run / "exports" / "inspect" and path.suffix == ".eval"
    log = read_eval_log(str(path))
    summary = json.loads((run / "summary.json").read_text())
    store = RunStore.in_dir(run)
    records = {(a.task_id, a.epoch): a for a in store.attempts()}
    prompts = {t.id: t.prompt for t in load_suite("gaia-mini")[1]}
    assert log.status == "success" and log.eval.task == "gaia-mini" and log.eval.config.epochs == 2
    assert log.eval.dataset.samples == (3 if name == "null" else 4)
    assert len(log.samples) == len(records) == summary["attempts"]
    for s in log.samples:
        record = records[(s.id, s.epoch - 1)]  # Inspect epochs are 1-based
        value = s.scores["agentbench"].value
        if record.status == "error":
            assert math.isnan(value) and s.error.message == record.error
        else:
            assert value == ("C" if record.status == "solved" else "I") and s.error is None
        assert s.scores["agentbench"].metadata["status"] == record.status
        assert s.input == prompts[s.id]  # these graphs make no model call: the prompt attempt_start recorded
        assert sum(u.total_tokens for u in s.model_usage.values()) == record.totals.usage.total_tokens
    accuracy = log.results.scores[0].metrics.get("accuracy")
    assert (accuracy.value if accuracy else None) == pytest.approx(summary["completion_rate"])
    assert log.results.completed_samples == summary["attempts"] - summary["error"]
    assert sum(u.total_tokens for u in log.stats.model_usage.values()) == summary["tokens_total"]
    retried = {(s.id, s.epoch - 1) for s in log.samples if s.error_retries}
    older = {(t, e) for t, e, n, _ in store.all_tries() if n > 0}
    assert retried == older and (name != "resumed" or len(older) == 2)
    # what `inspect view` lists and loads first
    assert [Path(i.name.removeprefix("file://")) for i in list_eval_logs(str(path.parent))] == [path]
    summaries = read_eval_log_sample_summaries(str(path))
    assert sorted((s.id, s.epoch) for s in summaries) == sorted((t, e + 1) for t, e in records)


@pytest.mark.parametrize("name", ["faulty", "resumed"])
def test_parquet_tables_count_what_the_store_holds(runs, name):
    run = runs[name]
    attempts_path, events_path = _written(run_cli("export", "parquet", str(run)), "parquet")
    assert attempts_path == run / "exports" / "parquet" / "attempts.parquet"
    attempts, events = pq.read_table(attempts_path), pq.read_table(events_path)
    assert attempts.schema.equals(attempts_schema()) and events.schema.equals(events_schema())
    rows = attempts.to_pylist()
    assert len(rows) == _sql(run, "SELECT COUNT(*) FROM attempt")[0][0]
    latest: dict[str, int] = {}
    for r in rows:
        if r["latest"]:
            latest[r["status"]] = latest.get(r["status"], 0) + 1
    assert latest == dict(_sql(run, "SELECT status, COUNT(*) FROM latest_attempt GROUP BY status"))
    assert sum(r["total_tokens"] for r in rows if r["latest"]) == json.loads(
        (run / "summary.json").read_text())["tokens_total"]
    per_type: dict[str, int] = {}
    for t in events.column("type").to_pylist():
        per_type[t] = per_type.get(t, 0) + 1
    assert per_type == dict(_sql(run, "SELECT type, COUNT(*) FROM event GROUP BY type"))
    latest_events = sum(events.column("latest").to_pylist())
    assert latest_events == _sql(run, "SELECT COUNT(*) FROM event e JOIN latest_attempt a ON e.attempt_id = a.id")[0][0]
    if name == "resumed":
        assert len(rows) == 10 and sum(not r["latest"] for r in rows) == 2
        assert {r["status"] for r in rows if not r["latest"]} == {"error"} and set(latest) == {"solved"}
    else:
        assert latest == {"solved": 6, "error": 2}
    commands = [c for c in events.column("command").to_pylist() if c]
    assert commands and len(commands) == _sql(run, "SELECT COUNT(*) FROM event WHERE type = 'sandbox_exec'")[0][0]


def test_out_option_and_a_folder_that_is_not_a_run(runs, tmp_path):
    (path,) = _written(run_cli("export", "inspect", str(runs["null"]), "--out", str(tmp_path / "x.eval")),
                       "inspect log")
    assert path == tmp_path / "x.eval" and read_eval_log(str(path)).results.scores[0].metrics["accuracy"].value == 0
    paths = _written(run_cli("export", "parquet", str(runs["null"]), "--out", str(tmp_path / "tables")), "parquet")
    assert paths == [tmp_path / "tables" / "attempts.parquet", tmp_path / "tables" / "events.parquet"]
    for command in ("inspect", "parquet"):
        proc = run_cli("export", command, str(tmp_path), check=False)
        assert proc.returncode == 2 and "not a run folder" in proc.stderr, proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_inspect_view_serves_the_log(runs):
    run = runs["faulty"]
    (path,) = _written(run_cli("export", "inspect", str(run)), "inspect log")
    port = _free_port()
    view = subprocess.Popen([str(Path(sys.executable).parent / "inspect"), "view", "start", "--log-dir",
                             str(path.parent), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                page = _get(base + "/")
                break
            except OSError:
                assert view.poll() is None and time.time() < deadline, view.stderr.read().decode()[-2000:]
                time.sleep(0.3)
        assert b"<html" in page.lower()
        listing = json.loads(_get(base + "/api/logs"))
        (entry,) = listing["files"]
        assert entry["name"].endswith(path.name) and entry["task"] == "gaia-mini"
        served = json.loads(_get(f"{base}/api/logs/{path}"))
        summary = json.loads((run / "summary.json").read_text())
        assert served["status"] == "success" and len(served["samples"]) == summary["attempts"]
        assert served["results"]["scores"][0]["metrics"]["accuracy"]["value"] == pytest.approx(
            summary["completion_rate"])
    finally:
        view.terminate()
        try:
            view.wait(timeout=10)
        except subprocess.TimeoutExpired:
            view.kill()
            view.wait()
