"""One attempt's status rules with the real local sandbox and in-test graphs (pure control flow)."""

from __future__ import annotations

import asyncio
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

from agentbench.protocols import Limits, Task, TaskExpected
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


async def test_a_timeout_inside_the_graph_is_an_error_not_the_budget():
    async def own_timeout(ctx):
        await asyncio.wait_for(asyncio.sleep(1), 0.01)

    result = await run_attempt(TASK, 0, deps(own_timeout))
    assert result.record.status == "error" and result.record.error.startswith("TimeoutError")


async def test_graph_crash_is_an_error_with_traceback_event():
    async def crash(ctx):
        raise KeyError("boom")

    result = await run_attempt(TASK, 0, deps(crash))
    assert result.record.status == "error" and "KeyError" in result.record.error
    assert any(e.type == "error" and "traceback" in e.payload for e in result.events)
