"""A test graph loaded by path that uses both a sandbox and the model: a command that takes
`graph_params.sleep_s` (default 1 s) in the sandbox, then one model call whose `FINAL ANSWER:` is the answer."""

from typing import TypedDict

from langchain_core.messages import SystemMessage
from langgraph.graph import END, START, StateGraph

from agentbench.protocols import AgentContext


class State(TypedDict, total=False):
    messages: list
    answer: str | None


def build_graph(ctx: AgentContext):
    async def work(state: State) -> dict:
        result = await ctx.tools.bash(f"sleep {ctx.params.get('sleep_s', 1)}; echo done")
        assert result.exit_code == 0, result.stderr
        reply = await ctx.model.ainvoke([SystemMessage("Reply with FINAL ANSWER: <answer>."), *state["messages"]])
        text = str(reply.content)
        return {"answer": text.split("FINAL ANSWER:", 1)[1].strip() if "FINAL ANSWER:" in text else None}

    graph = StateGraph(State)
    graph.add_node("work", work)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile()
