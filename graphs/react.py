"""A ReAct agent on native tool calls (for servers that support them): `bash`, `python`, `final_answer`.

    START -> agent -> tools -> agent ... -> finish -> END
                  \\-> nudge -> agent   (a reply without a tool call)

A reply with no tool call that says `FINAL ANSWER: ...` is accepted as the answer. Every model call is
one step; the framework refuses the call past `ctx.limits.max_steps` (the attempt ends as `limit`).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph

from agentbench.graphs.actions import Action, format_observation, parse_action
from agentbench.graphs.planning import execute, text_of
from agentbench.protocols import AgentContext

SYSTEM_PROMPT = """\
You are solving a task inside a sandbox. Your working directory holds the task's files.
Use the `bash` tool to run shell commands and the `python` tool to run Python scripts; you will see \
their output. When you are sure, call `final_answer` with the answer only, in the format the question asks."""

NUDGE = ("You did not call a tool. Call `bash` or `python` to work on the task, or `final_answer` with the "
         "answer when you are sure.")


class ReactState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str | None


def make_tools(ctx: AgentContext) -> list[BaseTool]:
    """The LangChain tools over the sandbox (their outputs are rendered like the text protocol's)."""

    async def bash(command: str) -> str:
        """Run a bash command in the sandbox working directory; returns exit code, stdout and stderr."""
        return format_observation(await execute(ctx, Action(kind="bash", code=command)))

    async def python(code: str) -> str:
        """Run a Python script in the sandbox working directory; print what you want to see."""
        return format_observation(await execute(ctx, Action(kind="python", code=code)))

    async def final_answer(answer: str) -> str:
        """Submit the final answer (the answer only, in the format the question asks). Call it alone."""
        return answer

    return [StructuredTool.from_function(coroutine=fn, name=fn.__name__, handle_validation_error=True)
            for fn in (bash, python, final_answer)]


def _final_call(message: AIMessage) -> str | None:
    """The answer when the reply is exactly one valid `final_answer` call."""
    calls = message.tool_calls
    if len(calls) == 1 and calls[0]["name"] == "final_answer":
        answer = calls[0]["args"].get("answer")
        if isinstance(answer, (str, int, float)) and str(answer).strip():
            return str(answer).strip()
    return None


def build_graph(ctx: AgentContext) -> CompiledStateGraph:
    tools = make_tools(ctx)
    by_name = {tool.name: tool for tool in tools}
    model = ctx.model.bind_tools(tools)

    async def agent(state: ReactState) -> dict:
        reply = await model.ainvoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])
        return {"messages": [reply]}

    async def run_tools(state: ReactState) -> dict:
        calls = state["messages"][-1].tool_calls
        out: list[ToolMessage] = []
        for call in calls:
            name = call["name"]
            if name == "final_answer":
                content = ("Not accepted: call final_answer alone, after you have seen your commands' results."
                           if len(calls) > 1 else "Not accepted: final_answer needs a non-empty `answer`.")
            elif name in by_name:
                content = str(await by_name[name].ainvoke(call["args"]))
            else:
                content = f"Unknown tool {name!r}; the tools are bash, python and final_answer."
            out.append(ToolMessage(content=content, tool_call_id=call["id"], name=name))
        return {"messages": out}

    async def nudge(state: ReactState) -> dict:
        reply = state["messages"][-1]
        # Malformed calls still need a reply, or OpenAI-compatible servers reject the next request.
        broken = [ToolMessage(content=f"Invalid tool call: {bad.get('error') or 'arguments are not valid JSON'}",
                              tool_call_id=bad["id"], name=bad.get("name") or "unknown", status="error")
                  for bad in getattr(reply, "invalid_tool_calls", []) if bad.get("id")]
        return {"messages": [*broken, HumanMessage(NUDGE)]}

    async def finish(state: ReactState) -> dict:
        reply = state["messages"][-1]
        answer = _final_call(reply)
        return {"answer": answer if answer is not None else parse_action(text_of(reply)).answer}

    def after_agent(state: ReactState) -> Literal["finish", "tools", "nudge"]:
        reply = state["messages"][-1]
        if _final_call(reply) is not None:
            return "finish"
        if reply.tool_calls:
            return "tools"
        return "finish" if parse_action(text_of(reply)).kind == "final" else "nudge"

    graph = StateGraph(ReactState)
    graph.add_node("agent", agent)
    graph.add_node("tools", run_tools)
    graph.add_node("nudge", nudge)
    graph.add_node("finish", finish)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", after_agent)
    graph.add_edge("tools", "agent")
    graph.add_edge("nudge", "agent")
    graph.add_edge("finish", END)
    return graph.compile(name="react")
