"""A graph that builds its own chat model, as users with an existing agent do: a `ChatOpenAI` made from the
settings it finds on `ctx.model` (endpoint, model name, key, temperature), then the prebuilt agent. The
runner's tracer still sees every call: LangGraph hands the run's callbacks to each node through the
RunnableConfig (a context variable), and a chat model invoked inside a node picks them up."""

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent


def build_graph(ctx):
    llm = ChatOpenAI(
        base_url=ctx.model.openai_api_base,
        model=ctx.model.model_name,
        api_key=ctx.model.openai_api_key,
        temperature=ctx.model.temperature,
    )

    @tool
    async def bash(command: str) -> str:
        """Run a shell command in the task's working directory and return its output."""
        result = await ctx.tools.bash(command)
        return f"exit code {result.exit_code}\n{result.stdout}{result.stderr}"

    return create_react_agent(llm, [bash])
