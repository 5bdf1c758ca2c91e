"""A test graph loaded by path: applies the gold patch (or, with graph_params.wrong: true, breaks the
repo instead), then never submits — it waits until the attempt's time limit ends it. So the attempt is a
`limit` whose working tree is (or is not) the fix: what `limits.on_limit: grade` is for."""

import asyncio
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

from agentbench.protocols import AgentContext

GOLD_PATH = "/tmp/agentbench-gold.patch"


class State(TypedDict, total=False):
    messages: list


def build_graph(ctx: AgentContext):
    async def work(state: State) -> dict:
        if ctx.params.get("wrong"):
            result = await ctx.tools.bash("echo '# agentbench: not a fix' >> README.rst || echo x > NOT_A_FIX.txt")
        else:
            await ctx.tools.write_file(GOLD_PATH, ctx.task.swe.patch)
            result = await ctx.tools.bash(f"git apply {GOLD_PATH} && rm {GOLD_PATH}")
        assert result.exit_code == 0, result.stderr
        await asyncio.sleep(3600)  # never submits: the time limit ends the attempt
        return {}

    graph = StateGraph(State)
    graph.add_node("work", work)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile()


build_graph.uses_model = False  # the runner starts no model server for it
