"""The supervisor against a real process (a stdlib HTTP server standing in for vLLM: no /metrics): deaths
are seen when they happen, restarted up to the limit, recorded even as the run ends."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from agentbench.models.server import ManagedServer, ServerSpec
from agentbench.models.supervisor import ServerDied, ServerSupervisor


def http_server(tmp_path) -> ManagedServer:
    spec = ServerSpec(argv=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "{port}"],
                      health_path="/", startup_timeout_s=30)
    return ManagedServer(spec, tmp_path / "server.log")


def kill(server: ManagedServer) -> int:
    pid = server.pid
    os.killpg(pid, signal.SIGKILL)
    return pid


async def test_a_death_mid_run_is_restarted_and_new_work_waits_for_it(tmp_path):
    async with http_server(tmp_path) as server:
        notes: list[str] = []
        sup = ServerSupervisor(server.root_url, server, interval_s=0.2, max_restarts=1, note=notes.append)
        await sup.start()
        assert not sup.sampling  # no vLLM metrics here: nothing to sample
        done = asyncio.Event()
        watch = asyncio.create_task(sup.watch(done))
        old = kill(server)
        await asyncio.wait_for(_until(lambda: not sup.up.is_set()), 5)  # restarting: the runner holds new attempts
        await asyncio.wait_for(sup.up.wait(), 30)
        assert server.alive() and server.pid != old
        done.set()
        await asyncio.wait_for(watch, 5)
        await sup.finish()
    assert [d["restarted"] for d in sup.deaths] == [True] and sup.deaths[0]["exit_code"] == -signal.SIGKILL
    assert any("restarting" in n for n in notes) and any("back" in n for n in notes)


async def test_a_death_as_the_run_ends_is_recorded_and_past_the_limit_stops_the_run(tmp_path):
    sup, server = await _died_as_the_run_ended(tmp_path, max_restarts=2)
    assert [d["restarted"] for d in sup.deaths] == [False] and not server.alive()
    with pytest.raises(ServerDied, match="max_restarts=0.*--resume"):
        await _died_as_the_run_ended(tmp_path, max_restarts=0)


async def _died_as_the_run_ended(tmp_path, max_restarts: int) -> tuple[ServerSupervisor, ManagedServer]:
    """The last attempts ended as the server died: the supervisor finds both at once."""
    async with http_server(tmp_path) as server:
        sup = ServerSupervisor(server.root_url, server, interval_s=0.2, max_restarts=max_restarts,
                               note=lambda _: None)
        await sup.start()
        kill(server)
        await server.wait_exit()
        done = asyncio.Event()
        done.set()
        try:
            await asyncio.wait_for(sup.watch(done), 5)
        finally:
            await sup.finish()
        return sup, server


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.01)
