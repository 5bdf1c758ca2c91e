"""The coding graph, driven by a scripted fake chat model and an in-memory fake repository (agentbench.testing)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph.state import CompiledStateGraph

from agentbench.protocols import AgentContext, ExecResult, LimitExceeded, Limits, Task
from agentbench.graphs import coding
from agentbench.graphs.coding import DROPPED_NOTE, FEW_SHOT, SYSTEM_PROMPT, fit_history
from agentbench.testing.chat import FakeTools, forever, last_text, run_graph, scripted

F = "```"
ISSUE = "`add(a, b)` in calc.py returns a - b instead of a + b."
CALC = "def add(a, b):\n    return a - b\n"
FIX = f"Fix it.\n{F}edit calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n{F}"


def make_ctx(model: Any, tools: FakeTools, max_steps: int = 10, **params: Any) -> AgentContext:
    task = Task(id="calc-1", kind="swe", prompt=ISSUE)
    return AgentContext(model=model, tools=tools, task=task, limits=Limits(max_steps=max_steps), params=params)


async def run(ctx: AgentContext) -> dict:
    graph = coding.build_graph(ctx)
    assert isinstance(graph, CompiledStateGraph)
    final, _ = await run_graph(graph, ctx)  # the tracer enforces max_steps, as in a run
    return final


async def test_explore_edit_test_submit():
    grep = 'grep -rn "def add" .'
    test = "python -m pytest -q tests/test_calc.py"
    model = scripted(f"Find it.\n{F}bash\n{grep}\n{F}", FIX, f"Test it.\n{F}bash\n{test}\n{F}", "Fixed.\nSUBMIT")
    tools = FakeTools(files={"calc.py": CALC},
                      results={grep: ExecResult(exit_code=0, stdout="./calc.py:1:def add(a, b):"),
                               test: ExecResult(exit_code=0, stdout="2 passed in 0.01s")})
    ctx = make_ctx(model, tools)
    final = await run(ctx)
    assert final["submitted"] is True and final["answer"] is None
    assert len(model.inputs) == 4 and final["n_test_runs"] == 1 and final["n_edits"] == 1
    assert final["last_action"].kind == "submit"
    assert tools.files["calc.py"] == "def add(a, b):\n    return a + b\n"
    assert tools.calls == [grep, "read_file calc.py", "write_file calc.py", test]
    # the prompt: system, the worked example, the issue; then each result is fed back
    first = model.inputs[0]
    assert isinstance(first[0], SystemMessage) and first[0].content == SYSTEM_PROMPT
    assert len(first) == 1 + len(FEW_SHOT) + 1 and last_text(first) == ISSUE
    assert "stdout:\n./calc.py:1:def add" in last_text(model.inputs[1])
    assert last_text(model.inputs[2]) == "Edited calc.py: 1 hunk applied."
    assert "2 passed" in last_text(model.inputs[3])
    assert len(model.inputs) == 4


async def test_format_error_is_fed_back_and_the_agent_recovers():
    model = scripted("The bug is in calc.py, I am sure.", FIX, "SUBMIT")
    tools = FakeTools(files={"calc.py": CALC})
    final = await run(make_ctx(model, tools))
    assert final["submitted"] is True and len(model.inputs) == 3
    feedback = model.inputs[1][-1]
    assert isinstance(feedback, HumanMessage) and feedback.content.startswith("Format error:")
    assert "```edit path/to/file.py" in feedback.content  # it says how to fix the reply
    assert "return a + b" in tools.files["calc.py"]
    assert final.get("n_test_runs", 0) == 0


async def test_empty_reply_is_a_format_error():
    model = scripted("", "SUBMIT")
    final = await run(make_ctx(model, FakeTools()))
    assert final["submitted"] is True
    assert "reply was empty" in last_text(model.inputs[1])


async def test_failed_edit_is_reported_and_nothing_is_written():
    wrong = FIX.replace("    return a - b\n=", "    return a-b\n=")
    model = scripted(wrong, FIX, "SUBMIT")
    tools = FakeTools(files={"calc.py": CALC})
    final = await run(make_ctx(model, tools))
    error = last_text(model.inputs[1])
    assert error.startswith("Edit of calc.py failed, nothing was written") and "not found" in error
    assert "    return a - b" in error  # the closest region is shown
    assert tools.calls == ["read_file calc.py", "read_file calc.py", "write_file calc.py"]
    assert final["n_edits"] == 1 and "a + b" in tools.files["calc.py"]


async def test_edit_creates_a_new_file_and_reports_bad_paths():
    create = f"{F}edit pkg/new.py\n<<<<<<< SEARCH\n=======\nVALUE = 1\n>>>>>>> REPLACE\n{F}"
    on_dir = f"{F}edit pkg/\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n{F}"
    model = scripted(create, on_dir, "SUBMIT")
    tools = FakeTools()
    await run(make_ctx(model, tools))
    assert tools.files == {"pkg/new.py": "VALUE = 1\n"}
    assert last_text(model.inputs[1]) == "Created pkg/new.py."
    assert "failed" in last_text(model.inputs[2]) and "pkg/" in last_text(model.inputs[2])


async def test_submit_before_editing_is_allowed():
    model = scripted("Nothing to change.\nSUBMIT")
    tools = FakeTools(files={"calc.py": CALC})
    final = await run(make_ctx(model, tools))
    assert final["submitted"] is True and final["answer"] is None and len(model.inputs) == 1
    assert tools.calls == [] and tools.files["calc.py"] == CALC


async def test_the_call_past_max_steps_is_refused():
    model = forever(lambda i: AIMessage(f"{F}bash\npytest -k t{i}\n{F}"))
    tools = FakeTools()
    with pytest.raises(LimitExceeded) as info:
        await run(make_ctx(model, tools, max_steps=3))
    assert info.value.which == "steps" and "limits.max_steps 3" in str(info.value)
    assert len(model.inputs) == 3
    assert tools.calls == ["pytest -k t0", "pytest -k t1", "pytest -k t2"]


async def test_params_trim_observations_and_drop_the_worked_example():
    model = scripted(f"{F}bash\ncat big.log\n{F}", "SUBMIT")
    tools = FakeTools(results={"cat big.log": ExecResult(exit_code=0, stdout="x" * 10_000 + "THE END")})
    await run(make_ctx(model, tools, max_observation_chars=500, few_shot=False))
    assert len(model.inputs[0]) == 2  # system prompt and the issue only
    observation = last_text(model.inputs[1])
    assert len(observation) < 700 and observation.endswith("THE END")


async def test_history_is_cut_to_fit_but_keeps_the_issue():
    replies = [f"{F}bash\necho {i}\n{F}" for i in range(6)] + ["SUBMIT"]
    tools = FakeTools(results={f"echo {i}": ExecResult(exit_code=0, stdout=f"{i}" * 300) for i in range(6)})
    model = scripted(*replies)
    await run(make_ctx(model, tools, max_history_chars=1000, few_shot=False))
    last_input = model.inputs[-1]
    head = last_input[1]
    assert isinstance(head, HumanMessage) and head.content.startswith(ISSUE) and "were dropped" in head.content
    assert "5" * 300 in last_text(last_input)  # the newest result is always there
    assert sum(len(str(m.content)) for m in last_input[1:]) < 1500
    assert all(isinstance(m, AIMessage) == (i % 2 == 1) for i, m in enumerate(last_input[1:]))  # roles alternate


def test_fit_history_pure():
    msgs = [HumanMessage("task"), AIMessage("a1"), HumanMessage("o1" * 50), AIMessage("a2"), HumanMessage("o2")]
    assert fit_history(msgs, 0) == msgs and fit_history(msgs, 10_000) == msgs
    cut = fit_history(msgs, 20)
    assert [type(m) for m in cut] == [HumanMessage, AIMessage, HumanMessage]
    assert cut[0].content == "task\n\n" + DROPPED_NOTE.format(n=2) and cut[1:] == msgs[3:]
    # only the last observation fits: it is folded into the task message
    only_last = fit_history([HumanMessage("task"), AIMessage("a" * 50), HumanMessage("obs")], 10)
    assert len(only_last) == 1 and only_last[0].content.endswith("\n\nobs") and "1 earlier" in only_last[0].content


def test_building_does_not_call_anything():
    tools = FakeTools()
    model = scripted()
    coding.build_graph(make_ctx(model, tools))
    assert tools.calls == [] and model.inputs == []
