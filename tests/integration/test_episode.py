"""One attempt's status rules with the real local sandbox and in-test graphs (pure control flow)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TypedDict

import httpx
import openai
import pytest

from langgraph.graph import END, START, StateGraph

from agentbench.protocols import Limits, SandboxError, Task, TaskExpected
from agentbench.runner.episode import AttemptDeps, run_attempt
from agentbench.sandbox.local import LocalSandboxConfig, LocalSandboxProvider
from agentbench.scoring.gaia import GaiaScorer

TASK = Task(id="t1", kind="qa", prompt="6*7?", expected=TaskExpected(answer="42"))


class State(TypedDict, total=False):
    messages: list
    answer: str | None


def graph_of(body):
    def build_graph(ctx):
        async def node(state: State) -> dict:
            return await body(ctx)

        graph = StateGraph(State)
        graph.add_node("work", node)
        graph.add_edge(START, "work")
        graph.add_edge("work", END)
        return graph.compile()

    return build_graph


def deps(body, timeout_s: float = 30.0) -> AttemptDeps:
    return AttemptDeps(make_model=lambda seed: None, sandboxes=LocalSandboxProvider(LocalSandboxConfig()),
                       factory=graph_of(body), scorer=GaiaScorer(), limits=Limits(timeout_s=timeout_s))


async def test_solved_and_failed():
    async def right(ctx):
        await ctx.tools.bash("echo 42")
        return {"answer": "42"}

    async def wrong(ctx):
        return {"answer": "41"}

    assert (await run_attempt(TASK, 0, deps(right))).record.status == "solved"
    result = await run_attempt(TASK, 0, deps(wrong))
    assert result.record.status == "failed" and result.record.score.details["expected"] == "42"


async def test_attempt_budget_is_a_time_limit():
    async def slow(ctx):
        await ctx.tools.bash("sleep 5")
        return {"answer": "42"}

    result = await run_attempt(TASK, 0, deps(slow, timeout_s=0.5))
    assert result.record.status == "limit" and "time limit" in result.record.error


async def test_a_timeout_the_graph_sets_itself_is_the_agents_not_the_budget():
    async def own_timeout(ctx):
        await asyncio.wait_for(asyncio.sleep(1), 0.01)

    result = await run_attempt(TASK, 0, deps(own_timeout))
    assert (result.record.status, result.record.reason) == ("failed", "agent_error")
    assert "TimeoutError" in result.record.error


async def test_a_bug_in_the_graph_is_failed_agent_error_with_its_traceback():
    async def crash(ctx):
        return {"answer": {}["missing"]}

    result = await run_attempt(TASK, 0, deps(crash))
    record = result.record
    assert (record.status, record.reason) == ("failed", "agent_error") and "KeyError" in record.error
    assert record.score is None  # nothing to grade
    (event,) = [e for e in result.events if e.type == "error"]
    assert event.payload["source"] == "agent" and "KeyError" in event.payload["traceback"]
    assert "in crash" in event.payload["traceback"]  # the agent's own frame is in it


async def test_a_factory_that_raises_is_the_agents_too():
    def build_graph(ctx):
        raise ValueError("bad graph_params")

    d = deps(None)
    d = AttemptDeps(**{**d.__dict__, "factory": build_graph})
    result = await run_attempt(TASK, 0, d)
    assert (result.record.status, result.record.reason) == ("failed", "agent_error")


async def test_sandbox_failures_stay_errors_even_when_the_graph_wraps_them():
    async def broken(ctx):
        raise SandboxError("container vanished")

    async def wrapped(ctx):
        try:
            await ctx.tools.bash("true")
            raise SandboxError("engine gone")
        except SandboxError as exc:
            raise RuntimeError("tool failed") from exc

    for body in (broken, wrapped):
        result = await run_attempt(TASK, 0, deps(body))
        assert (result.record.status, result.record.reason) == ("error", "sandbox"), result.record
        assert [e.payload["source"] for e in result.events if e.type == "error"] == ["sandbox"]


async def test_a_backend_exception_inside_a_sandbox_call_is_the_sandboxs():
    class Exploding(LocalSandboxProvider):
        @asynccontextmanager
        async def open(self, task):
            async with super().open(task) as sandbox:
                async def exec_(cmd, timeout=None, cwd=None):
                    raise ConnectionResetError("engine socket closed")
                sandbox.exec = exec_
                yield sandbox

    async def body(ctx):
        with pytest.raises(FileNotFoundError):  # a file result passes through unchanged
            await ctx.tools.read_file("missing.txt")
        await ctx.tools.bash("echo hi")

    d = AttemptDeps(**{**deps(body).__dict__, "sandboxes": Exploding(LocalSandboxConfig())})
    result = await run_attempt(TASK, 0, d)
    assert (result.record.status, result.record.reason) == ("error", "sandbox")
    assert "ConnectionResetError" in result.record.error


async def test_model_client_errors_are_infrastructure():
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")

    async def unreachable(ctx):
        raise openai.APIConnectionError(request=request)

    async def auth(ctx):
        raise openai.AuthenticationError("bad key", response=httpx.Response(401, request=request), body=None)

    result = await run_attempt(TASK, 0, deps(unreachable))
    assert (result.record.status, result.record.reason) == ("error", "model")
    result = await run_attempt(TASK, 0, deps(auth))
    assert (result.record.status, result.record.reason) == ("error", "auth")


async def test_a_command_cut_off_by_the_budget_is_sandbox_time_in_the_trace():
    async def slow(ctx):
        await ctx.tools.bash("sleep 30")

    result = await run_attempt(TASK, 0, deps(slow, timeout_s=1.0))
    assert (result.record.status, result.record.reason) == ("limit", "time")
    (cut,) = [e for e in result.events if e.type == "sandbox_exec"]
    assert cut.payload["cancelled"] is True and cut.payload["command"] == "sleep 30"
    assert 0.7 < result.record.totals.sandbox_time_s <= result.record.totals.wall_clock_s
    assert result.record.totals.tool_calls == 1
    node_end = [e for e in result.events if e.type == "node_end"]
    assert node_end and node_end[-1].payload.get("cancelled") is True


async def test_a_scorer_crash_stays_an_error():
    class Crashing(GaiaScorer):
        async def score(self, task, outcome):
            raise KeyError("expected")

    async def right(ctx):
        return {"answer": "42"}

    d = AttemptDeps(**{**deps(right).__dict__, "scorer": Crashing()})
    result = await run_attempt(TASK, 0, d)
    assert (result.record.status, result.record.reason) == ("error", "scorer")
    assert result.record.error.startswith("scorer crashed: KeyError")
