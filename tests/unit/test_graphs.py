"""Our graphs and the example graph, driven by a scripted fake chat model and fake sandbox tools."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph.state import CompiledStateGraph

from agentbench.protocols import AgentContext, ExecResult, LimitExceeded, Limits, Task, TaskExpected
from agentbench.swe_spec import SweSpec
from agentbench.graphs import null, oracle, planning, react
from agentbench.graphs.actions import STEP_FILE
from agentbench.testing.chat import FakeTools, forever, last_text, run_graph, scripted

ROOT = Path(__file__).resolve().parents[2]
F = "```"


def make_ctx(model: Any = None, tools: FakeTools | None = None, max_steps: int = 10, kind: str = "qa",
             **params: Any) -> AgentContext:
    task = Task(id="t1", kind=kind, prompt="What is 6*7?", expected=TaskExpected(answer="42"))
    return AgentContext(model=model, tools=tools or FakeTools(), task=task, limits=Limits(max_steps=max_steps),
                        params=params)


def gold(patch: str) -> SweSpec:
    """A SWE-bench instance whose gold patch is `patch`."""
    return SweSpec(instance_id="t1", repo="acme/widget", version="1.0", base_commit="a" * 40,
                   environment_setup_commit="a" * 40, patch=patch, test_patch="", source="/mirror")


async def run(graph: CompiledStateGraph, ctx: AgentContext) -> dict:
    assert isinstance(graph, CompiledStateGraph)
    final, _ = await run_graph(graph, ctx)  # the tracer enforces max_steps, as in a run
    return final


def bash_call(command: str, call_id: str) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "bash", "args": {"command": command}, "id": call_id}])


# -- planning ----------------------------------------------------------------------------------------

async def test_planning_plans_acts_and_answers():
    model = scripted("1. look\n2. compute", f"Look first.\n{F}bash\nls\n{F}", f"{F}python\nprint(6*7)\n{F}",
                     "FINAL ANSWER: 42")
    tools = FakeTools({"python3 .agent_step.py": ExecResult(exit_code=0, stdout="42\n")})
    ctx = make_ctx(model, tools)
    final = await run(planning.build_graph(ctx), ctx)
    assert final["answer"] == "42" and final["steps"] == 4 and final["plan"] == "1. look\n2. compute"
    assert tools.calls == ["ls", f"write_file {STEP_FILE}", f"python3 {STEP_FILE}"]
    assert tools.files[STEP_FILE] == "print(6*7)"
    assert model.inputs[0][0].content == planning.PLAN_PROMPT
    act_system = model.inputs[1][0]
    assert isinstance(act_system, SystemMessage) and "FINAL ANSWER" in act_system.content
    assert "1. look\n2. compute" in act_system.content
    assert "stdout:\n42" in last_text(model.inputs[3])  # the python output is fed back


async def test_planning_feeds_format_errors_back():
    model = scripted("The answer is probably 42.", "FINAL ANSWER: 42")
    tools = FakeTools()
    ctx = make_ctx(model, tools, plan=False)
    final = await run(planning.build_graph(ctx), ctx)
    assert final["answer"] == "42" and final["steps"] == 2 and tools.calls == []
    assert isinstance(model.inputs[1][-1], HumanMessage)
    assert "no code block and no FINAL ANSWER" in last_text(model.inputs[1])


async def test_planning_is_stopped_at_max_steps():
    model = forever(lambda i: AIMessage(f"{F}bash\necho {i}\n{F}"))
    tools = FakeTools()
    ctx = make_ctx(model, tools, max_steps=3)
    with pytest.raises(LimitExceeded) as info:
        await run(planning.build_graph(ctx), ctx)
    assert info.value.which == "steps"
    assert len(model.inputs) == 3  # plan + 2 acts, then no more model calls
    assert tools.calls == ["echo 1", "echo 2"]  # reply 0 was the plan


async def test_planning_replans_after_consecutive_failures():
    model = scripted("1. try", f"{F}bash\nfalse\n{F}", f"{F}bash\nfalse\n{F}", "1. revised", "FINAL ANSWER: 42")
    tools = FakeTools({"false": ExecResult(exit_code=1, stderr="boom")})
    ctx = make_ctx(model, tools)
    final = await run(planning.build_graph(ctx), ctx)
    assert final["answer"] == "42" and final["plan"] == "1. revised" and final["steps"] == 5
    assert tools.calls == ["false", "false"]
    assert planning.REPLAN_PROMPT in last_text(model.inputs[3]) and "boom" in last_text(model.inputs[3])
    assert "1. revised" in model.inputs[4][0].content


async def test_planning_without_plan_skips_the_planning_call():
    model = scripted(f"{F}bash\nls\n{F}", "FINAL ANSWER: 42")
    ctx = make_ctx(model, FakeTools(), plan=False)
    final = await run(planning.build_graph(ctx), ctx)
    assert final["answer"] == "42" and len(model.inputs) == 2
    assert model.inputs[0][0].content.startswith("You are solving a task")


# -- react -------------------------------------------------------------------------------------------

async def test_react_runs_tool_calls_and_answers():
    model = scripted(
        bash_call("ls", "c1"),
        AIMessage("", tool_calls=[{"name": "python", "args": {"code": "print(6*7)"}, "id": "c2"}]),
        AIMessage("", tool_calls=[{"name": "final_answer", "args": {"answer": "42"}, "id": "c3"}]))
    tools = FakeTools({"ls": ExecResult(exit_code=0, stdout="data.csv")})
    ctx = make_ctx(model, tools)
    final = await run(react.build_graph(ctx), ctx)
    assert final["answer"] == "42" and len(model.inputs) == 3
    assert model.bound_tools == ["bash", "python", "final_answer"]
    assert tools.calls == ["ls", f"write_file {STEP_FILE}", f"python3 {STEP_FILE}"]
    observation = model.inputs[1][-1]
    assert isinstance(observation, ToolMessage) and observation.tool_call_id == "c1"
    assert "stdout:\ndata.csv" in observation.content


async def test_react_nudges_a_reply_without_tool_calls_and_accepts_final_answer_text():
    model = scripted("Let me think about it.", "FINAL ANSWER: 42")
    ctx = make_ctx(model, FakeTools())
    final = await run(react.build_graph(ctx), ctx)
    assert final["answer"] == "42"
    assert last_text(model.inputs[1]) == react.NUDGE


async def test_react_rejects_final_answer_mixed_with_other_calls():
    mixed = AIMessage("", tool_calls=[{"name": "bash", "args": {"command": "ls"}, "id": "a"},
                                      {"name": "final_answer", "args": {"answer": "41"}, "id": "b"}])
    model = scripted(mixed, AIMessage("", tool_calls=[{"name": "final_answer", "args": {"answer": "42"}, "id": "c"}]))
    tools = FakeTools()
    ctx = make_ctx(model, tools)
    final = await run(react.build_graph(ctx), ctx)
    assert final["answer"] == "42" and tools.calls == ["ls"]
    replies = {m.tool_call_id: m.content for m in model.inputs[1] if isinstance(m, ToolMessage)}
    assert "exit code: 0" in replies["a"] and "Not accepted" in replies["b"]


async def test_react_is_stopped_at_max_steps():
    model = forever(lambda i: bash_call(f"echo {i}", f"c{i}"))
    tools = FakeTools()
    ctx = make_ctx(model, tools, max_steps=3)
    with pytest.raises(LimitExceeded) as info:
        await run(react.build_graph(ctx), ctx)
    assert info.value.which == "steps" and len(model.inputs) == 3
    assert tools.calls == ["echo 0", "echo 1", "echo 2"]


# -- oracle and null ---------------------------------------------------------------------------------

async def test_oracle_answers_the_reference_without_a_model():
    tools = FakeTools()
    ctx = make_ctx(None, tools)
    final = await run(oracle.build_graph(ctx), ctx)
    assert final["answer"] == "42" and tools.calls == ["ls"]
    assert oracle.build_graph.uses_model is False


async def test_oracle_swe_applies_the_gold_patch():
    tools = FakeTools()
    ctx = make_ctx(None, tools, kind="swe")
    ctx.task.swe = gold("diff --git a/x.py b/x.py\n")
    final = await run(oracle.build_graph(ctx), ctx)
    assert final.get("answer") is None
    assert tools.files[oracle.GOLD_PATH] == "diff --git a/x.py b/x.py\n"
    assert tools.calls[-1].startswith(f"git apply --verbose {oracle.GOLD_PATH}")


async def test_oracle_swe_fails_loudly_when_the_gold_patch_does_not_apply():
    tools = FakeTools({f"git apply --verbose {oracle.GOLD_PATH} && rm -f {oracle.GOLD_PATH}":
                       ExecResult(exit_code=1, stderr="error: corrupt patch")})
    ctx = make_ctx(None, tools, kind="swe")
    ctx.task.swe = gold("garbage")
    with pytest.raises(RuntimeError, match="corrupt patch"):
        await run(oracle.build_graph(ctx), ctx)


async def test_null_never_answers():
    tools = FakeTools()
    ctx = make_ctx(None, tools)
    final = await run(null.build_graph(ctx), ctx)
    assert final.get("answer") is None and tools.calls == []
    assert null.build_graph.uses_model is False


# -- the example graph, loaded by path as the runner does --------------------------------------------

def load_example():
    spec = importlib.util.spec_from_file_location("example_my_graph", ROOT / "examples" / "my_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_example_graph_computes_then_answers():
    example = load_example()
    model = scripted(f"Compute it.\n{F}python\nprint(6*7)\n{F}", "FINAL ANSWER: 42")
    tools = FakeTools({f"python3 {STEP_FILE}": ExecResult(exit_code=0, stdout="42\n")})
    ctx = make_ctx(model, tools)
    final = await run(example.build_graph(ctx), ctx)
    assert final["answer"] == "42"
    assert tools.calls == [f"write_file {STEP_FILE}", f"python3 {STEP_FILE}"]
    assert "stdout:\n42" in last_text(model.inputs[1])


async def test_example_graph_takes_a_direct_answer():
    example = load_example()
    model = scripted("FINAL ANSWER: 42")
    tools = FakeTools()
    ctx = make_ctx(model, tools)
    final = await run(example.build_graph(ctx), ctx)
    assert final["answer"] == "42" and len(model.inputs) == 1 and tools.calls == []


async def test_planning_shows_the_worked_example_unless_disabled():
    from agentbench.graphs.actions import FEW_SHOT

    for few_shot, expected in ((True, len(FEW_SHOT)), (False, 0)):
        model = scripted("FINAL ANSWER: 42")
        ctx = make_ctx(model, FakeTools(), plan=False, few_shot=few_shot)
        await run(planning.build_graph(ctx), ctx)
        (act_input,) = model.inputs
        assert len(act_input) == 1 + expected + 1  # system, the example turns, the task
        if expected:
            assert act_input[2].content == FEW_SHOT[1][1] and isinstance(act_input[2], AIMessage)
