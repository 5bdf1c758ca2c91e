"""A test graph loaded by path, with a bug of its own: it asks the model once, then reads a key its state
never has (a KeyError in a node function). The attempt is the agent's `failed` (reason `agent_error`),
not an infrastructure `error`."""

from typing import TypedDict

from langgraph.graph import END, START, StateGraph

from agentbench.protocols import AgentContext


class State(TypedDict, total=False):
    messages: list
    answer: str | None


def build_graph(ctx: AgentContext):
    async def ask(state: State) -> dict:
        reply = await ctx.model.ainvoke(state["messages"])
        return {"messages": [*state["messages"], reply]}

    def parse(state: State) -> dict:
        plan = state["plan"]  # the bug: no node ever writes `plan`
        return {"answer": plan}

    graph = StateGraph(State)
    graph.add_node("ask", ask)
    graph.add_node("parse", parse)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", "parse")
    graph.add_edge("parse", END)
    return graph.compile()
