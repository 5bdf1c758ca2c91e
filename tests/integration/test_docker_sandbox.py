"""Isolation of the Docker sandbox, against the real engine and the locally built `python` image."""

from __future__ import annotations

import asyncio

import pytest

from agentbench.protocols import Limits, SandboxError, Task, TaskExpected
from agentbench.runner.episode import AttemptDeps, run_attempt
from agentbench.sandbox.docker import LABEL, prune
from agentbench.scoring.gaia import GaiaScorer

TASK = Task(id="iso", kind="qa", prompt="p", expected=TaskExpected(answer="42"))


async def test_no_network_at_run_time(docker_provider):
    async with docker_provider().open(TASK) as sb:
        result = await sb.exec("python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)\"",
                               timeout=20)
        assert result.exit_code != 0 and ("unreachable" in result.stderr or "Errno" in result.stderr)
        assert (await sb.exec("cat /sys/class/net/*/operstate | sort | tr '\\n' ' '")).stdout.strip() in ("unknown", "")


async def test_runs_as_non_root_without_capabilities(docker_provider):
    async with docker_provider().open(TASK) as sb:
        assert (await sb.exec("id -u")).stdout.strip() == "1000"
        caps = (await sb.exec("grep CapEff /proc/self/status")).stdout.split()[-1]
        assert int(caps, 16) == 0
        assert (await sb.exec("grep NoNewPrivs /proc/self/status")).stdout.split()[-1] == "1"


async def test_fork_bomb_is_contained_by_the_pids_limit(docker_provider):
    async with docker_provider(pids_limit=64).open(TASK) as sb:
        bomb = await sb.exec("bomb() { bomb | bomb & }; bomb; sleep 2; echo survived", timeout=8)
        assert bomb.exit_code is not None
        after = await sb.exec("echo alive", timeout=20)
        assert after.exit_code == 0 and after.stdout.strip() == "alive"


async def test_memory_hog_is_killed_as_that_commands_failure(docker_provider):
    async with docker_provider(memory="128m").open(TASK) as sb:
        hog = await sb.exec("python3 -c \"x = bytearray(1024 * 1024 * 1024); print(len(x))\"", timeout=60)
        assert hog.exit_code != 0 and not hog.timed_out
        assert (await sb.exec("echo alive")).stdout.strip() == "alive"


async def test_endless_output_is_truncated(docker_provider):
    async with docker_provider(max_output_bytes=2048).open(TASK) as sb:
        result = await sb.exec("yes agentbench", timeout=3)
        assert result.timed_out and result.truncated
        assert "bytes truncated" in result.stdout and len(result.stdout) < 4096


async def test_timeout_kills_the_tree_and_the_container_still_answers(docker_provider):
    async with docker_provider().open(TASK) as sb:
        result = await sb.exec("sleep 300 & sleep 300; echo never", timeout=1)
        assert result.timed_out and result.exit_code == 124 and "never" not in result.stdout
        left = await sb.exec("ps -eo comm | grep -c '^sleep$' || true")
        assert left.stdout.strip() == "0"


async def test_cancelled_command_is_killed_and_the_sandbox_goes_on(docker_provider):
    async with docker_provider().open(TASK) as sb:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sb.exec("sleep 300; echo never"), timeout=0.5)
        left = await sb.exec("ps -eo comm | grep -c '^sleep$' || true")
        assert left.exit_code == 0 and left.stdout.strip() == "0"
        assert (await sb.exec("echo next")).stdout == "next\n"


async def test_container_killed_from_outside_is_an_error_and_the_run_goes_on(docker_provider, docker_client):
    provider = docker_provider()

    def build_graph(ctx):
        from typing import TypedDict

        from langgraph.graph import END, START, StateGraph

        class State(TypedDict, total=False):
            messages: list
            answer: str | None

        async def work(state: State) -> dict:
            if ctx.task.id == "victim":
                mine = docker_client.containers.list(filters={"label": f"{LABEL}.task=victim"})
                await asyncio.to_thread(mine[0].kill)
            await ctx.tools.bash("echo hello")
            return {"answer": "42"}

        graph = StateGraph(State)
        graph.add_node("work", work)
        graph.add_edge(START, "work")
        graph.add_edge("work", END)
        return graph.compile()

    deps = AttemptDeps(make_model=lambda seed: None, sandboxes=provider, factory=build_graph, scorer=GaiaScorer(),
                       limits=Limits(timeout_s=60))
    victim = await run_attempt(TASK.model_copy(update={"id": "victim"}), 0, deps)
    after = await run_attempt(TASK.model_copy(update={"id": "after"}), 0, deps)
    assert victim.record.status == "error" and "docker" in victim.record.error.lower()
    assert after.record.status == "solved"


async def test_killed_container_raises_sandbox_error(docker_provider, docker_client):
    async with docker_provider().open(TASK) as sb:
        await asyncio.to_thread(docker_client.containers.get(sb.container_id).kill)
        with pytest.raises(SandboxError):
            await sb.exec("echo x")


def test_no_labelled_container_is_left(docker_client):
    """Runs last in this module: every test above removed its containers; prune finds none left."""
    leftovers = docker_client.containers.list(all=True, filters={"label": "agentbench.test=1"})
    assert leftovers == [], [c.name for c in leftovers]
    assert prune(docker_client) >= 0
