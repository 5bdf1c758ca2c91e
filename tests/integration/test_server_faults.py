"""Faults between agentbench and the REAL embedded vLLM server: a fault-injecting proxy on loopback in front
of it (5xx / 429 retried with backoff; a server that goes away makes attempts `error`, `--resume` completes
the run), and a managed server killed mid-run (restarted up to the limit, or the run stops clearly). No
finished attempt is lost or counted twice."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from agentbench.config.loader import load_experiment
from agentbench.runner.errors import RunError
from agentbench.runner.runner import Runner
from agentbench.store import RunStore
from agentbench.testing.fault_proxy import FaultProxy

from .conftest import ROOT

IDS = ["gm-l1-001", "gm-l1-002", "gm-l1-003"]


def config(*overrides: str):
    return load_experiment(ROOT / "experiments" / "demo.yaml", [
        f"suite.ids=[{', '.join(IDS)}]", "run.concurrency=1", "sandbox.backend=local", "limits.max_steps=2",
        "model.max_tokens=48", "model.backoff_max_s=0.5", *overrides])


def latest(store: RunStore) -> dict[str, str]:
    return {a.task_id: a.status for a in store.attempts()}


def tries(store: RunStore) -> dict[str, int]:
    out: dict[str, int] = {}
    for task_id, _epoch, _try, _status in store.all_tries():
        out[task_id] = out.get(task_id, 0) + 1
    return out


async def test_5xx_and_429_from_the_real_server_path_are_retried(tmp_path, embedded_url):
    proxy = FaultProxy(embedded_url)
    await proxy.start()
    proxy.fail(1, 502)  # met by the runner's preflight (GET /v1/models), which lets the run go on
    proxy.fail(1, 500)
    proxy.fail(1, 503)
    proxy.fail(1, 429)
    try:
        store = await Runner(config("model.provider=openai", f"model.base_url={proxy.base_url}", "model.retries=4"),
                             tmp_path / "run", base_dir=ROOT).run()
    finally:
        await proxy.stop()
    assert proxy.faults == 4 and proxy.forwarded >= 3
    assert all(status != "error" for status in latest(store).values()), store.attempts()
    first = store.find_attempt(IDS[0], 0)[0]
    reasons = [e.payload["reason"] for e in store.events(first) if e.type == "retry"]
    assert reasons == ["HTTP 500", "HTTP 503", "HTTP 429"]
    store.close()


async def test_server_gone_makes_errors_and_resume_completes(tmp_path, embedded_url):
    proxy = FaultProxy(embedded_url)
    await proxy.start()
    run_dir = tmp_path / "run"
    cfg = config("model.provider=openai", f"model.base_url={proxy.base_url}", "model.retries=1")
    try:
        proxy.down()  # every request dropped: the server is "dead" for the whole first run
        store = await Runner(cfg, run_dir, base_dir=ROOT).run()
        assert set(latest(store).values()) == {"error"}, store.attempts()
        assert all("connect" in a.error.lower() or "disconnect" in a.error.lower() or "reset" in a.error.lower()
                   for a in store.attempts()), [a.error for a in store.attempts()]
        store.close()
        proxy.up()
        store = await Runner(cfg, run_dir, base_dir=ROOT).run()  # what `--resume` does
    finally:
        await proxy.stop()
    assert all(status != "error" for status in latest(store).values()), store.attempts()
    assert tries(store) == {i: 2 for i in IDS}  # each errored once, completed once; nothing counted twice
    store.close()


async def _kill_server_after_first_attempt(runner: Runner, store_path) -> int:
    while runner.endpoint is None or not store_path.exists() or not RunStore(store_path).attempts():
        await asyncio.sleep(0.2)
    pid = runner.endpoint.server.pid
    os.killpg(pid, signal.SIGKILL)
    return pid


async def test_managed_server_killed_mid_run_is_restarted(tmp_path):
    run_dir = tmp_path / "run"
    runner = Runner(config("model.server.max_restarts=1", "model.retries=8", "model.backoff_max_s=10"),
                    run_dir, base_dir=ROOT)
    killer = asyncio.create_task(_kill_server_after_first_attempt(runner, run_dir / "run.sqlite"))
    store = await runner.run()
    await killer
    restarts = store.meta("server_restarts")
    assert len(restarts) == 1 and restarts[0]["exit_code"] == -signal.SIGKILL
    assert set(latest(store)) == set(IDS)  # the run finished every task
    assert tries(store) == {i: 1 for i in IDS}
    assert len(store.meta("server_metrics")) == 2  # one counter segment per server lifetime
    store.close()


async def test_managed_server_dying_past_the_limit_stops_the_run_and_resume_finishes(tmp_path):
    run_dir = tmp_path / "run"
    runner = Runner(config("model.server.max_restarts=0"), run_dir, base_dir=ROOT)
    killer = asyncio.create_task(_kill_server_after_first_attempt(runner, run_dir / "run.sqlite"))
    with pytest.raises(RunError, match="max_restarts=0.*--resume"):
        await runner.run()
    await killer
    store = RunStore(run_dir / "run.sqlite")
    finished = {a.task_id for a in store.attempts() if a.status != "error"}
    assert finished and finished != set(IDS)
    store.close()
    store = await Runner(config("model.server.max_restarts=0"), run_dir, base_dir=ROOT).run()
    assert set(latest(store)) == set(IDS) and all(s != "error" for s in latest(store).values())
    for task_id in finished:  # a finished attempt is never run again
        assert tries(store)[task_id] == 1
    store.close()


async def test_bad_model_path_is_a_clear_error_with_the_server_log(tmp_path):
    from agentbench.models.server import ServerStartError

    with pytest.raises(ServerStartError, match=r"(?s)exited with code .* during start-up; log .*server.log:\n.*"):
        await Runner(config("model.server.model_path=/nonexistent/weights"), tmp_path / "run", base_dir=ROOT).run()
    assert "/nonexistent/weights" in (tmp_path / "run" / "server.log").read_text()
