"""The run-level fault matrix (docs/fault-matrix.md, "Run level"): each row injects one fault into a real
`agentbench run` (the CLI in its own process, a real Docker engine or the local sandbox, a model endpoint
double on loopback) and asserts that nothing finished is lost, nothing is counted twice, no container is
left behind and the user reads a clear message; `--resume` then completes the run.

The model server killed mid-run is covered against the real vLLM server in test_server_faults.py
(`test_managed_server_killed_mid_run_is_restarted`, `..._dying_past_the_limit_stops_the_run_and_resume_
finishes`) and test_supervisor.py; a call cut off by the time budget in test_model_faults.py."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from agentbench.store import RunStore
from agentbench.testing.openai_stub import ThreadedStub

from .conftest import ROOT, run_cli
from .fault_doubles import FaultStub, PrivateEngine, answering

DEMO = str(ROOT / "experiments" / "demo.yaml")
ONE_SHOT = "graph=tests/integration/graphs/one_shot.py:build_graph"
IDS = ["gm-l1-001", "gm-l1-002", "gm-l1-003"]


def stub_run(stub: FaultStub, out: Path, *extra: str) -> list[str]:
    return ["run", DEMO, "--out", str(out), "--quiet", "--set", ONE_SHOT, "--set", "model.provider=openai",
            "--set", f"model.base_url={stub.base_url}", "--set", "model.backoff_max_s=0.5",
            "--set", f"suite.ids=[{', '.join(IDS)}]", "--set", "run.concurrency=1", "--set", "sandbox.backend=local",
            *[item for pair in (("--set", e) for e in extra) for item in pair]]


def tries(out: Path) -> Counter:
    store = RunStore.in_dir(out)
    counted = Counter((t, e) for t, e, _, _ in store.all_tries())
    store.close()
    return counted


def latest(out: Path) -> dict[str, tuple[str, str | None]]:
    store = RunStore.in_dir(out)
    result = {a.task_id: (a.status, a.reason) for a in store.attempts()}
    store.close()
    return result


def finished_once(out: Path, n: int) -> None:
    """Every one of the n (task, epoch) keys has exactly one finished try, and the summary counts n."""
    store = RunStore.in_dir(out)
    statuses = Counter(status for _, _, _, status in store.all_tries() if status != "error")
    keys = Counter((t, e) for t, e, _, s in store.all_tries() if s != "error")
    attempts = store.attempts()
    store.close()
    assert len(keys) == n and set(keys.values()) == {1}, keys  # nothing lost, nothing run twice
    assert all(a.status != "error" for a in attempts) and sum(statuses.values()) == n
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attempts"] == n and summary["error"] == 0
    assert summary["tokens_total"] == sum(a.totals.usage.total_tokens for a in attempts)  # counted once


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM attempt").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _meta(db: Path, key: str):
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT value FROM run WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return json.loads(row[0]) if row else None


def _wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"agentbench exited {proc.returncode} before {what}:\n"
                                 f"{proc.stderr.read().decode()[-3000:] if proc.stderr else ''}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# -- agentbench SIGKILLed mid-run, then --resume -----------------------------------------------------------

def test_sigkill_mid_run_then_resume_keeps_finished_and_runs_the_rest_once(tmp_path, docker_client, python_image):
    out = tmp_path / "run"
    with ThreadedStub(FaultStub(reply=answering)) as stub:
        args = ["run", DEMO, "--out", str(out), "--quiet", "--set", "model.provider=openai",
                "--set", f"model.base_url={stub.base_url}", "--set",
                "graph=tests/integration/graphs/model_and_sandbox.py:build_graph", "--set", "graph_params.sleep_s=1.5",
                "--set", "suite.limit=6", "--set", "run.concurrency=2", "--set", "sandbox.backend=docker"]
        proc = subprocess.Popen([sys.executable, "-m", "agentbench", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        db = out / "run.sqlite"
        try:
            _wait_for(lambda: _count(db) >= 2, 180, "two finished attempts", proc)
            label = {"label": ["agentbench", f"agentbench.run={_meta(db, 'run_uid')}"]}
            _wait_for(lambda: docker_client.containers.list(filters=label, sparse=True), 60, "an attempt in flight", proc)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        killed_at = _count(db)
        assert 2 <= killed_at < 6
        requests_before = stub.chat_requests
        resumed = run_cli("run", "--resume", str(out))
    assert f"resuming {out}: {killed_at} of 6 attempts finished, {6 - killed_at} to run" in resumed.stderr
    finished_once(out, 6)
    assert stub.chat_requests - requests_before == 6 - killed_at  # the resume asked the model for the rest only
    assert docker_client.containers.list(all=True, filters=label, sparse=True) == []  # the kill's leftovers were removed


# -- the Docker engine restarted mid-run ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def private_engine(python_image):
    """A Docker engine of this module's own (its dockerd started by sandboxes/ensure_engine.sh, on its own
    socket and data folder), holding the sandbox image: the rows kill and restart it, never the shared one."""
    engine = PrivateEngine(Path(tempfile.mkdtemp(prefix="abeng-", dir="/tmp")))
    try:
        engine.start()
        engine.load_image_from(python_image)
        yield engine
    finally:
        engine.shutdown()


def engine_run(engine: PrivateEngine, out: Path, n: int, **env: str) -> subprocess.Popen:
    args = ["run", DEMO, "--out", str(out), "--set", "graph=tests/integration/graphs/slow_oracle.py:build_graph",
            "--set", "graph_params.sleep_s=2", "--set", f"suite.limit={n}", "--set", "run.concurrency=2",
            "--set", "sandbox.backend=docker"]
    return subprocess.Popen([sys.executable, "-m", "agentbench", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            env={**engine.env, "COLUMNS": "200", **env})


def _kill_engine_mid_attempt(engine: PrivateEngine, out: Path, proc: subprocess.Popen) -> None:
    db = out / "run.sqlite"
    _wait_for(lambda: _count(db) >= 2, 180, "two finished attempts", proc)
    label = f"agentbench.run={_meta(db, 'run_uid')}"
    _wait_for(lambda: engine.containers(label), 60, "an attempt in flight", proc)
    engine.kill()


def test_docker_engine_restarted_mid_run(tmp_path, private_engine):
    engine, out, n = private_engine, tmp_path / "run", 8
    proc = engine_run(engine, out, n)
    try:
        _kill_engine_mid_attempt(engine, out, proc)
        time.sleep(3)  # the engine stays away for a while, then is started again by the same script
        engine.start()
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if not engine.answers():
            engine.start()
    stderr = " ".join(stderr.decode().split())  # rich wraps long lines
    assert proc.returncode == 0, stderr[-3000:]
    assert "the Docker engine stopped answering" in stderr and "the Docker engine answers again" in stderr
    first = latest(out)
    errors = {t for t, (status, _) in first.items() if status == "error"}
    assert len(first) == n and 1 <= len(errors) <= 4, first  # the attempts in flight (and few more) errored ...
    assert all(first[t][1] == "sandbox" for t in errors)
    assert sum(status == "solved" for status, _ in first.values()) >= n - 4  # ... later ones went on
    label = f"agentbench.run={_meta(out / 'run.sqlite', 'run_uid')}"
    run_cli("run", "--resume", str(out), "--quiet", env={"DOCKER_HOST": engine.host})
    finished_once(out, n)
    assert {key[0] for key, count in tries(out).items() if count == 2} == errors  # exactly the errors reran
    assert engine.containers(label) == []


def test_docker_engine_that_stays_away_stops_the_run_clearly(tmp_path, private_engine):
    engine, out, n = private_engine, tmp_path / "run", 8
    proc = engine_run(engine, out, n, AGENTBENCH_ENGINE_WAIT_S="3")  # the default wait is 120 s
    try:
        _kill_engine_mid_attempt(engine, out, proc)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        engine.start()  # whatever happened, the engine is up again
    stderr = " ".join(stderr.decode().split())  # rich wraps long lines
    assert proc.returncode == 2, stderr[-3000:]
    assert "the Docker engine stopped answering and was not back within 3 s" in stderr
    assert f"agentbench run --resume {out}`" in stderr and "Traceback" not in stderr
    done = _count(out / "run.sqlite")
    assert 2 <= done < n
    label = f"agentbench.run={_meta(out / 'run.sqlite', 'run_uid')}"
    run_cli("run", "--resume", str(out), "--quiet", env={"DOCKER_HOST": engine.host})
    finished_once(out, n)
    assert engine.containers(label) == []


# -- the model endpoint: 429 / 5xx, a stalled stream, a refused key ----------------------------------------

def test_429_and_5xx_are_retried_then_error_and_the_run_goes_on(tmp_path):
    out = tmp_path / "run"
    faults = [(429, "slow down", {"retry-after": "0.3"}), 503, 500]  # three tries of the first attempt
    with ThreadedStub(FaultStub(reply=answering, faults=faults)) as stub:
        first = run_cli(*stub_run(stub, out, "model.retries=2", "model.backoff_max_s=5"))
        assert latest(out) == {IDS[0]: ("error", "model"), IDS[1]: ("solved", None), IDS[2]: ("solved", None)}
        store = RunStore.in_dir(out)
        rows = {r["task_id"]: r["id"] for r in store.attempt_rows()}
        retries = [e.payload for e in store.events(rows[IDS[0]]) if e.type == "retry"]
        error = store.attempts()[0].error
        store.close()
        assert [(r["reason"], r["wait_s"]) for r in retries[:1]] == [("HTTP 429", 0.3)]  # Retry-After honoured
        assert [r["reason"] for r in retries] == ["HTTP 429", "HTTP 503"] and "500" in error
        assert "error" in first.stdout and "500" in first.stdout  # the summary lists the error
        run_cli("run", "--resume", str(out), "--quiet")
    finished_once(out, 3)
    assert tries(out)[(IDS[0], 0)] == 2 and stub.requests == 3 + 2 + 1


def test_a_stalled_stream_is_cut_by_the_request_timeout(tmp_path):
    out = tmp_path / "run"
    with ThreadedStub(FaultStub(reply=answering, stall=1)) as stub:
        t0 = time.time()
        run_cli(*stub_run(stub, out, "model.timeout_s=2", "model.retries=0"))
        assert time.time() - t0 < 60  # the stall did not hang the run
        status = latest(out)
        assert status[IDS[0]] == ("error", "model") and status[IDS[1]] == status[IDS[2]] == ("solved", None)
        store = RunStore.in_dir(out)
        record = store.attempts()[0]
        store.close()
        assert "Timeout" in record.error and 1.5 < record.totals.model_time_s < 10
        run_cli("run", "--resume", str(out), "--quiet")
    finished_once(out, 3)


def test_a_401_at_preflight_stops_the_run_before_any_attempt(tmp_path):
    out = tmp_path / "run"
    with ThreadedStub(FaultStub(reply=answering, key="the-right-key")) as stub:
        proc = run_cli(*stub_run(stub, out, "model.api_key_env=AGENTBENCH_FAULT_KEY", "model.retries=5"),
                       env={"AGENTBENCH_FAULT_KEY": "a-wrong-key"}, check=False)
        assert stub.chat_requests == 0 and stub.models_requests == 1
    assert proc.returncode == 2
    message = " ".join(proc.stderr.split())
    assert f"the model endpoint {stub.base_url} refused the request (HTTP 401 to GET /models)" in message
    assert "model.api_key_env is AGENTBENCH_FAULT_KEY" in message and "a-wrong-key" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert tries(out) == Counter()  # no attempt spent


def test_a_401_mid_run_stops_the_run_and_resume_finishes(tmp_path):
    out = tmp_path / "run"
    with ThreadedStub(FaultStub(reply=answering, refuse_after=1)) as stub:
        proc = run_cli(*stub_run(stub, out, "model.retries=5"), check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        message = " ".join(proc.stderr.split())
        assert f"the model endpoint {stub.base_url} refused the request (" in message and "401" in message
        assert "AuthenticationError" in message
        assert latest(out) == {IDS[0]: ("solved", None), IDS[1]: ("error", "auth")}  # not every attempt
        assert stub.chat_requests == 2
        stub.refuse_after = None  # the key is fixed
        run_cli("run", "--resume", str(out), "--quiet")
    finished_once(out, 3)
    assert tries(out)[(IDS[1], 0)] == 2 and tries(out)[(IDS[0], 0)] == 1
