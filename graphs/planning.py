"""Our planning agent: plan, then act/observe with the text action protocol, replanning when stuck.

    START -> plan -> act -> observe -> (replan ->) act -> ... -> answer -> END
                      \\-> answer (FINAL ANSWER)

Every model call (plan, act, replan) is one step; the framework refuses the call past
`ctx.limits.max_steps` (the attempt ends as `limit`). The graph counts its turns only to plan well (it
never replans on the last step). Params: `plan` (default true), `few_shot` (show a worked example of the protocol
before the task; default true), `replan_after_failures` (replan after this many
failed commands or format errors in a row; default 2, 0 = never), `replan_every` (also replan after every
K observations; default 0 = never).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph

from agentbench.graphs.actions import FEW_SHOT, PROTOCOL_PROMPT, STEP_FILE, Action, format_observation, parse_action
from agentbench.protocols import AgentContext, ExecResult
from agentbench.text import content_text

PLAN_PROMPT = """\
You will solve the task below inside a sandbox where you can run bash and Python code, one block per turn.
Do not solve it yet: write a short numbered plan (at most 5 steps) of what to run and check."""

REPLAN_PROMPT = """\
Your recent steps did not go as planned. Look at the results above and write a short revised numbered \
plan (at most 5 steps). Do not run anything in this reply."""


class PlanningState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    plan: str  # the current plan ("" when planning is off)
    steps: int  # model turns so far (plan + act + replan)
    observations: int  # actions run (or format errors fed back) so far
    failures: int  # consecutive failed commands / format errors
    last_action: Action | None
    answer: str | None


async def execute(ctx: AgentContext, action: Action) -> ExecResult:
    """Run a bash or python action in the sandbox (python goes through a file, `python3 .agent_step.py`)."""
    if action.kind == "python":
        await ctx.tools.write_file(STEP_FILE, action.code)
        return await ctx.tools.bash(f"python3 {STEP_FILE}")
    return await ctx.tools.bash(action.code)


def text_of(message: AnyMessage) -> str:
    return content_text(message.content)


def build_graph(ctx: AgentContext) -> CompiledStateGraph:
    max_steps = ctx.limits.max_steps
    use_plan = bool(ctx.params.get("plan", True)) and max_steps > 1
    replan_after = int(ctx.params.get("replan_after_failures", 2))
    replan_every = int(ctx.params.get("replan_every", 0))
    shots: list[AnyMessage] = [HumanMessage(text) if role == "user" else AIMessage(text)
                               for role, text in FEW_SHOT] if ctx.params.get("few_shot", True) else []

    def take_step(state: PlanningState) -> int:
        return state.get("steps", 0) + 1

    async def plan(state: PlanningState) -> dict:
        steps = take_step(state)
        reply = await ctx.model.ainvoke([SystemMessage(PLAN_PROMPT), *state["messages"]])
        return {"plan": text_of(reply).strip()[:2000], "steps": steps}

    async def act(state: PlanningState) -> dict:
        steps = take_step(state)
        system = PROTOCOL_PROMPT
        if state.get("plan"):
            system += f"\n\nYour plan:\n{state['plan']}"
        reply = await ctx.model.ainvoke([SystemMessage(system), *shots, *state["messages"]])
        return {"messages": [reply], "steps": steps, "last_action": parse_action(text_of(reply))}

    async def observe(state: PlanningState) -> dict:
        action = state["last_action"]
        assert action is not None and action.kind != "final"
        if action.kind == "format_error":
            text, failed = action.error, True
        else:
            result = await execute(ctx, action)
            text, failed = format_observation(result), result.exit_code != 0 or result.timed_out
        return {"messages": [HumanMessage(text)], "observations": state.get("observations", 0) + 1,
                "failures": state.get("failures", 0) + 1 if failed else 0}

    async def replan(state: PlanningState) -> dict:
        steps = take_step(state)
        *history, last = state["messages"]  # the last one is an observation: fold the request into it
        request = HumanMessage(f"{text_of(last)}\n\n{REPLAN_PROMPT}")
        reply = await ctx.model.ainvoke([SystemMessage(PLAN_PROMPT), *history, request])
        return {"plan": text_of(reply).strip()[:2000], "steps": steps, "failures": 0}

    async def answer(state: PlanningState) -> dict:
        action = state["last_action"]
        return {"answer": action.answer if action is not None else None}

    def after_act(state: PlanningState) -> Literal["answer", "observe"]:
        action = state["last_action"]
        return "answer" if action is not None and action.kind == "final" else "observe"

    def after_observe(state: PlanningState) -> Literal["replan", "act"]:
        if not use_plan or state.get("steps", 0) >= max_steps - 1:  # leave the last step to act
            return "act"
        stuck = replan_after > 0 and state.get("failures", 0) >= replan_after
        periodic = replan_every > 0 and state.get("observations", 0) % replan_every == 0
        return "replan" if stuck or periodic else "act"

    graph = StateGraph(PlanningState)
    graph.add_node("plan", plan)
    graph.add_node("act", act)
    graph.add_node("observe", observe)
    graph.add_node("replan", replan)
    graph.add_node("answer", answer)
    graph.add_edge(START, "plan" if use_plan else "act")
    graph.add_edge("plan", "act")
    graph.add_conditional_edges("act", after_act)
    graph.add_conditional_edges("observe", after_observe)
    graph.add_edge("replan", "act")
    graph.add_edge("answer", END)
    return graph.compile(name="planning")
