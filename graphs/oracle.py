"""The oracle: answers with the task's reference answer, without a model. It validates the suite and the
scorer end to end (a run with it must score 100%). It still runs one trivial sandbox command so that
sandbox tracing is exercised."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph

from agentbench.protocols import AgentContext


class OracleState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str | None


def build_graph(ctx: AgentContext) -> CompiledStateGraph:
    if ctx.task.kind == "swe":
        raise NotImplementedError("swe oracle arrives with the SWE-bench suite")

    async def answer(state: OracleState) -> dict:
        await ctx.tools.bash("ls")
        return {"answer": ctx.task.expected.answer}

    graph = StateGraph(OracleState)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    return graph.compile(name="oracle")


build_graph.uses_model = False  # type: ignore[attr-defined]  # the runner starts no model server for it
