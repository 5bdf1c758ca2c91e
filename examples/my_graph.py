"""An example of your own graph: "compute with Python, then answer", in two model calls.

Run it with:  agentbench run experiments/demo.yaml --set graph=examples/my_graph.py:build_graph

1. `compute`: ask the model for one ```python block that prints what the task needs, and run it in the
   sandbox (a reply that already says FINAL ANSWER skips the run);
2. `answer`: show the model the output and ask for `FINAL ANSWER: <answer>`.

A graph needs only `agentbench.protocols` (what it receives) and, if you like, our action parser. It
counts nothing: the framework refuses the model call past `limits.max_steps` (the attempt ends as
`limit`). Its unit test, examples/test_my_graph.py, needs no model server and no sandbox.
"""

from typing import Annotated, Literal, TypedDict

from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from agentbench.graphs.actions import STEP_FILE, format_observation, parse_action
from agentbench.protocols import AgentContext

COMPUTE_PROMPT = """\
You are in a sandbox whose working directory holds the task's files. Write one short thought, then \
exactly one ```python code block that computes and prints what you need to answer the task. \
If you already know the answer, reply `FINAL ANSWER: <answer>` instead."""

ANSWER_PROMPT = "Using the output above, reply with one line: FINAL ANSWER: <answer> (the answer only)."


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str | None


def build_graph(ctx: AgentContext):
    async def compute(state: State) -> dict:
        reply = await ctx.model.ainvoke([SystemMessage(COMPUTE_PROMPT), *state["messages"]])
        action = parse_action(str(reply.content))
        if action.kind == "final":
            return {"messages": [reply], "answer": action.answer}
        if action.kind == "format_error":
            return {"messages": [reply, HumanMessage(f"{action.error}\n\n{ANSWER_PROMPT}")]}
        if action.kind == "python":
            await ctx.tools.write_file(STEP_FILE, action.code)
            result = await ctx.tools.bash(f"python3 {STEP_FILE}")
        else:
            result = await ctx.tools.bash(action.code)
        return {"messages": [reply, HumanMessage(f"{format_observation(result)}\n\n{ANSWER_PROMPT}")]}

    def route(state: State) -> Literal["answer", "__end__"]:
        return END if state.get("answer") else "answer"

    async def answer(state: State) -> dict:
        reply = await ctx.model.ainvoke([SystemMessage(COMPUTE_PROMPT), *state["messages"]])
        action = parse_action(str(reply.content))
        return {"messages": [reply], "answer": action.answer if action.kind == "final" else None}

    graph = StateGraph(State)
    graph.add_node("compute", compute)
    graph.add_node("answer", answer)
    graph.add_edge(START, "compute")
    graph.add_conditional_edges("compute", route)
    graph.add_edge("answer", END)
    return graph.compile()
