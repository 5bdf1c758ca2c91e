"""The two-node agent of bench/overhead.py: a model call, then `true` in the sandbox, `steps` times."""

from __future__ import annotations

from typing import Literal, TypedDict

from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    messages: list
    steps: int
    answer: str | None


def make_graph(call_model, run_true, steps: int):
    """The same graph for agentbench and for bare LangGraph: only the two callables differ."""

    async def model(state: State) -> dict:
        await call_model([HumanMessage("step")])
        return {"steps": state.get("steps", 0) + 1}

    async def tool(state: State) -> dict:
        await run_true()
        return {}

    def route(state: State) -> Literal["model", "__end__"]:
        return "model" if state["steps"] < steps else END

    graph = StateGraph(State)
    graph.add_node("model", model)
    graph.add_node("tool", tool)
    graph.add_edge(START, "model")
    graph.add_edge("model", "tool")
    graph.add_conditional_edges("tool", route)
    return graph.compile()


def build_graph(ctx):
    async def run_true():
        await ctx.tools.bash("true")

    return make_graph(ctx.model.ainvoke, run_true, int(ctx.params.get("steps", 20)))
