"""A test graph loaded by path: one model call, answer parsed from `FINAL ANSWER:`."""

from typing import TypedDict

from langchain_core.messages import SystemMessage
from langgraph.graph import END, START, StateGraph

from agentbench.protocols import AgentContext


class State(TypedDict, total=False):
    messages: list
    answer: str | None


def build_graph(ctx: AgentContext):
    async def ask(state: State) -> dict:
        reply = await ctx.model.ainvoke([SystemMessage("Reply with FINAL ANSWER: <answer>."), *state["messages"]])
        text = str(reply.content)
        answer = text.split("FINAL ANSWER:", 1)[1].strip() if "FINAL ANSWER:" in text else None
        return {"answer": answer}

    graph = StateGraph(State)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph.compile()
