"""A test graph loaded by path: a real sandbox command, then the reference answer. Every task but
`graph_params.first` waits (up to 180 s) until the file `graph_params.gate` exists, so a test can hold a
run between its first attempt and the rest (the live OTLP export test starts its collector there)."""

import asyncio
import os
import time
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

from agentbench.protocols import AgentContext


class State(TypedDict, total=False):
    messages: list
    answer: str | None


def build_graph(ctx: AgentContext):
    async def work(state: State) -> dict:
        gate = ctx.params.get("gate")
        if gate and ctx.task.id != ctx.params.get("first"):
            deadline = time.monotonic() + 180
            while not os.path.exists(gate) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        result = await ctx.tools.bash("echo checked")
        assert result.exit_code == 0
        return {"answer": ctx.task.expected.answer}

    graph = StateGraph(State)
    graph.add_node("work", work)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile()


build_graph.uses_model = False
