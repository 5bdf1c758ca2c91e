"""The oracle: answers with the task's reference answer (qa) or applies the gold patch (swe), without a
model. It validates the suite and the scorer end to end (a run with it must score 100%). It still runs
sandbox commands so that sandbox tracing is exercised."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph

from agentbench.protocols import AgentContext, SandboxError


class OracleState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str | None


GOLD_PATH = "/tmp/agentbench-gold.patch"


def build_graph(ctx: AgentContext) -> CompiledStateGraph:
    async def answer(state: OracleState) -> dict:
        if ctx.task.swe is not None:  # a SWE-bench instance: edit the repo as a perfect agent would, the gold patch
            await ctx.tools.write_file(GOLD_PATH, ctx.task.swe.patch)
            result = await ctx.tools.bash(f"git apply --verbose {GOLD_PATH} && rm -f {GOLD_PATH}")
            if result.exit_code != 0:
                raise SandboxError(f"the gold patch of {ctx.task.id} does not apply: {result.stderr.strip()}")
            return {"answer": None}
        await ctx.tools.bash("ls")
        return {"answer": ctx.task.expected.answer}

    graph = StateGraph(OracleState)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    return graph.compile(name="oracle")


build_graph.uses_model = False  # type: ignore[attr-defined]  # the runner starts no model server for it
