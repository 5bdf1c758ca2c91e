"""A unit test of examples/my_graph.py, the way to test your own graph: a scripted chat model and fake
sandbox tools from `agentbench.testing`, no model server, no sandbox. Run it with
`pytest examples/test_my_graph.py` (CI runs it with the rest of the suite)."""

from __future__ import annotations

import pytest

from agentbench.protocols import ExecResult, LimitExceeded
from agentbench.testing import FakeTools, make_context, run_graph, scripted
from my_graph import build_graph

F = "```"


async def test_computes_in_the_sandbox_then_answers():
    model = scripted(f"Multiply.\n{F}python\nprint(6*7)\n{F}", "FINAL ANSWER: 42")
    tools = FakeTools({"python3 .agent_step.py": ExecResult(exit_code=0, stdout="42\n")})
    ctx = make_context(model, tools, prompt="What is 6*7?")
    final, tracer = await run_graph(build_graph(ctx), ctx)
    assert final["answer"] == "42"
    assert tools.files[".agent_step.py"] == "print(6*7)"  # the code block ran as a script
    assert "42" in str(model.inputs[1][-1].content)  # the model saw the output before answering
    assert tracer.totals.model_calls == 2 and [e.node for e in tracer.events if e.type == "node_start"] == [
        "compute", "answer"]


async def test_an_answer_in_the_first_reply_skips_the_sandbox():
    model = scripted("FINAL ANSWER: 42")
    tools = FakeTools()
    ctx = make_context(model, tools)
    final, _ = await run_graph(build_graph(ctx), ctx)
    assert final["answer"] == "42" and tools.calls == []


async def test_the_framework_stops_it_at_max_steps():
    model = scripted(f"{F}bash\nls\n{F}", "FINAL ANSWER: 42")
    ctx = make_context(model, FakeTools(), max_steps=1)
    with pytest.raises(LimitExceeded) as info:  # in a run: status `limit`, reason `steps`
        await run_graph(build_graph(ctx), ctx)
    assert info.value.which == "steps" and len(model.inputs) == 1
