"""A user's graph as the LangGraph docs write it: the prebuilt ReAct agent over LangChain tools that wrap
the sandbox. No `answer` key in its state, no step counter: agentbench takes the answer from the last AI
message and enforces `limits.max_steps` itself."""

from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent


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

    return create_react_agent(ctx.model, [bash, read_file],
                              prompt="Use the tools, then reply with FINAL ANSWER: <answer>.")
