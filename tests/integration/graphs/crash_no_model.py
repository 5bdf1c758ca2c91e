"""A test graph that needs no model: `graph_params.crash` picks how its one node ends: `bug` (its own
code raises: the agent's `failed`, reason agent_error), `sandbox` (the sandbox failed: `error`), or
nothing (it answers `42`); `graph_params.only` limits the crash to that task id."""

from typing import TypedDict

from langgraph.graph import END, START, StateGraph

from agentbench.protocols import AgentContext, SandboxError


class State(TypedDict, total=False):
    messages: list
    answer: str | None


def build_graph(ctx: AgentContext):
    def work(state: State) -> dict:
        crash = ctx.params.get("crash") if ctx.params.get("only", ctx.task.id) == ctx.task.id else None
        if crash == "bug":
            raise ValueError("could not parse the plan\nthe last line says why: no plan")
        if crash == "sandbox":
            raise SandboxError("the sandbox went away")
        return {"answer": "42"}

    graph = StateGraph(State)
    graph.add_node("work", work)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile()


build_graph.uses_model = False
