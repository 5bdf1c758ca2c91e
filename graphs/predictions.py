"""The graph of `agentbench grade PREDICTIONS --suite S`: the patch was made elsewhere, by another agent
(SWE-agent, mini-swe-agent, OpenHands, Agentless, your own harness). It calls no model and changes nothing in
the sandbox; `grade` hands the grader each instance's `model_patch` from the predictions file, as submitted,
in place of the sandbox's diff, so the attempt is graded exactly as the SWE-bench harness grades it (the
official apply chain, the eval script, swebench's report) and the run folder is an ordinary one.

Run on its own (`agentbench run --set graph=predictions`) there is no patch to grade: the node stops the
attempt with a message naming `agentbench grade` (a `failed`, reason agent_error)."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph

from agentbench.protocols import AgentContext

PARAM = "predictions"  # graph_params key `agentbench grade` sets: the predictions file graded


class PredictionsState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str | None


def build_graph(ctx: AgentContext) -> CompiledStateGraph:
    async def submit(state: PredictionsState) -> dict:
        if not ctx.params.get(PARAM):
            raise ValueError("the `predictions` graph grades patches another agent made: run `agentbench grade "
                             "PREDICTIONS --suite S`, which hands each instance's model_patch to the grader")
        return {"answer": None}

    graph = StateGraph(PredictionsState)
    graph.add_node("submit", submit)
    graph.add_edge(START, "submit")
    graph.add_edge("submit", END)
    return graph.compile(name="predictions")


build_graph.uses_model = False  # type: ignore[attr-defined]  # the runner starts no model server for it
