"""A graph written carelessly: it catches every exception of its model calls, the framework's refusal
of the call past `limits.max_steps` included, and answers anyway."""

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph


def build_graph(ctx):
    async def ask(state: MessagesState) -> dict:
        messages = list(state["messages"])
        for _ in range(10):
            try:
                messages.append(await ctx.model.ainvoke(messages))
            except Exception as exc:  # noqa: BLE001 - what careless graphs do
                return {"messages": [AIMessage(f"FINAL ANSWER: gave up after {type(exc).__name__}")]}
        return {"messages": messages[-1:]}

    graph = StateGraph(MessagesState)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph.compile()
