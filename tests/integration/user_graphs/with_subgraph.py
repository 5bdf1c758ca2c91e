"""A parent graph with a compiled subgraph as one of its nodes (LangGraph's "add a graph as a node"):
`look` lists the working directory through the sandbox, `solve` is a subgraph whose `think` node calls the
model. Both share `MessagesState`; the answer is the last AI message."""

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, MessagesState, StateGraph


def build_subgraph(model):
    def think(state: MessagesState):
        system = SystemMessage("Answer the question. End with: FINAL ANSWER: <answer>")
        return {"messages": [model.invoke([system, *state["messages"]])]}

    sub = StateGraph(MessagesState)
    sub.add_node("think", think)
    sub.add_edge(START, "think")
    sub.add_edge("think", END)
    return sub.compile()


def build_graph(ctx):
    async def look(state: MessagesState):
        listing = await ctx.tools.bash("ls")
        return {"messages": [HumanMessage(f"Files in the working directory:\n{listing.stdout}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("look", look)
    builder.add_node("solve", build_subgraph(ctx.model))
    builder.add_edge(START, "look")
    builder.add_edge("look", "solve")
    builder.add_edge("solve", END)
    return builder.compile()
