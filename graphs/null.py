"""The null agent: never answers and calls no model. A run with it must score 0% (a scorer that passes
it is broken)."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph

from agentbench.protocols import AgentContext


class NullState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str | None


def build_graph(ctx: AgentContext) -> CompiledStateGraph:
    async def give_up(state: NullState) -> dict:
        return {"answer": None}

    graph = StateGraph(NullState)
    graph.add_node("give_up", give_up)
    graph.add_edge(START, "give_up")
    graph.add_edge("give_up", END)
    return graph.compile(name="null")


build_graph.uses_model = False  # type: ignore[attr-defined]  # the runner starts no model server for it
