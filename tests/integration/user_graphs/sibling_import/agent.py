"""A graph file that imports a module beside it, loaded as `path/agent.py:build_graph`: its folder is on
the import path while it loads, as when running `python agent.py`."""

from common import SYSTEM_PROMPT
from langchain_core.messages import SystemMessage
from langgraph.graph import END, START, MessagesState, StateGraph


def build_graph(ctx):
    async def chatbot(state: MessagesState):
        return {"messages": [await ctx.model.ainvoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])]}

    builder = StateGraph(MessagesState)
    builder.add_node("chatbot", chatbot)
    builder.add_edge(START, "chatbot")
    builder.add_edge("chatbot", END)
    return builder.compile()
