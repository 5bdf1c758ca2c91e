"""A test graph loaded by path: runs a real sandbox command that takes a while, then answers from the
reference — or raises SandboxError (an infrastructure fault, so the attempt is `error`, not the agent's
`failed`) when AGENTBENCH_TEST_FAIL names the task (to make `error` attempts on purpose).

`graph_params.gate` (a file path): every task but `graph_params.first` waits (up to 180 s) until that file
exists, so a test can hold a run between its first attempt and the rest (the live OTLP export test starts
its collector there)."""

import asyncio
import os
import time
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

from agentbench.protocols import AgentContext, SandboxError


class State(TypedDict, total=False):
    messages: list
    answer: str | None


def build_graph(ctx: AgentContext):
    async def work(state: State) -> dict:
        if ctx.task.id in os.environ.get("AGENTBENCH_TEST_FAIL", "").split(","):
            raise SandboxError(f"injected infrastructure fault for {ctx.task.id}")
        gate = ctx.params.get("gate")
        if gate and ctx.task.id != ctx.params.get("first"):
            deadline = time.monotonic() + 180
            while not os.path.exists(gate) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        result = await ctx.tools.bash(f"sleep {ctx.params.get('sleep_s', 0.4)}; echo done")
        assert result.exit_code == 0
        return {"answer": ctx.task.expected.answer}

    graph = StateGraph(State)
    graph.add_node("work", work)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile()


build_graph.uses_model = False
