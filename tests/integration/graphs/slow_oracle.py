"""A test graph loaded by path: runs a real sandbox command that takes a while, then answers from the
reference — or raises SandboxError (an infrastructure fault, so the attempt is `error`, not the agent's
`failed`) when AGENTBENCH_TEST_FAIL names the task (to make `error` attempts on purpose)."""

import os
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
        result = await ctx.tools.bash(f"sleep {ctx.params.get('sleep_s', 0.4)}; echo done")
        assert result.exit_code == 0
        return {"answer": ctx.task.expected.answer}

    graph = StateGraph(State)
    graph.add_node("work", work)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile()


build_graph.uses_model = False
