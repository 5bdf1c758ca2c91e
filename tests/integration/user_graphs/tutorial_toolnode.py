"""The LangGraph tutorial graph, as a user copies it: `StateGraph(MessagesState)`, a `call_model` node with
the model bound to the tools, the prebuilt `ToolNode` and `tools_condition` routing between them."""

from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition


def build_graph(ctx):
    @tool
    async def bash(command: str) -> str:
        """Run a shell command in the task's working directory and return its output."""
        result = await ctx.tools.bash(command)
        return f"exit code {result.exit_code}\n{result.stdout}{result.stderr}"

    @tool
    async def read_file(path: str) -> str:
        """Read a text file from the task's working directory."""
        return await ctx.tools.read_file(path)

    tools = [bash, read_file]
    model = ctx.model.bind_tools(tools)

    async def call_model(state: MessagesState):
        response = await model.ainvoke(state["messages"])
        return {"messages": [response]}

    builder = StateGraph(MessagesState)
    builder.add_node("call_model", call_model)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "call_model")
    builder.add_conditional_edges("call_model", tools_condition)
    builder.add_edge("tools", "call_model")
    return builder.compile()
