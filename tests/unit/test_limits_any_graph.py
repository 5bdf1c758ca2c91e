"""Limits hold for every graph, not only ours: the tracer refuses the model call past `max_steps` whichever
chat model a graph calls (LangGraph's prebuilt agent, a graph that counts nothing), and LangGraph's
recursion limit is `limits.max_supersteps`, attributed as its own limit."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.errors import GraphRecursionError
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import create_react_agent

from agentbench.protocols import LimitExceeded, Limits
from agentbench.runner.attribution import attribute
from agentbench.testing import FakeTools, forever, make_context, run_graph, scripted


def prebuilt(ctx):
    @tool
    async def bash(command: str) -> str:
        """Run a shell command."""
        return (await ctx.tools.bash(command)).stdout

    return create_react_agent(ctx.model, [bash])


async def test_the_prebuilt_agent_is_stopped_at_max_steps():
    model = forever(lambda i: AIMessage("", tool_calls=[{"name": "bash", "args": {"command": f"echo {i}"},
                                                         "id": f"c{i}"}]))
    tools = FakeTools()
    ctx = make_context(model, tools, max_steps=3)
    with pytest.raises(LimitExceeded) as info:
        await run_graph(prebuilt(ctx), ctx)
    assert info.value.which == "steps" and "limits.max_steps 3" in str(info.value)
    assert len(model.inputs) == 3 and tools.calls == ["echo 0", "echo 1", "echo 2"]  # the 4th call never left


async def test_within_the_budget_the_prebuilt_agent_finishes_and_is_traced():
    model = scripted(AIMessage("", tool_calls=[{"name": "bash", "args": {"command": "ls"}, "id": "c1"}]),
                     "FINAL ANSWER: 42")
    ctx = make_context(model, FakeTools(), max_steps=2)
    final, tracer = await run_graph(prebuilt(ctx), ctx)
    assert final["messages"][-1].content == "FINAL ANSWER: 42"
    assert tracer.totals.model_calls == 2
    kinds = [e.type for e in tracer.events]
    assert kinds.count("model_call") == 2 and kinds.count("tool_call") == 1
    assert {e.node for e in tracer.events if e.type == "node_start"} == {"agent", "tools"}


def looping(ctx):
    """Loops between two nodes without a model call: only the superstep limit stops it."""
    graph = StateGraph(MessagesState)
    graph.add_node("a", lambda state: {})
    graph.add_node("b", lambda state: {})
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_conditional_edges("b", lambda state: "a", ["a", END])
    return graph.compile()


async def test_max_supersteps_is_the_recursion_limit_and_its_own_limit():
    ctx = make_context(None, FakeTools(), max_steps=1)
    ctx.limits.max_supersteps = 7
    with pytest.raises(GraphRecursionError) as info:
        _, tracer = await run_graph(looping(ctx), ctx)
    verdict = attribute(info.value, budget_expired=False, in_graph=True, supersteps=ctx.limits.supersteps)
    assert (verdict.status, verdict.reason) == ("limit", "supersteps")
    assert "limits.max_supersteps" in verdict.error and "7 graph supersteps" in verdict.error
    assert "recursion_limit" not in verdict.error


def test_default_supersteps_as_before():
    assert Limits(max_steps=20).supersteps == 90 and Limits(max_steps=1).supersteps == 25
    assert Limits(max_steps=20, max_supersteps=12).supersteps == 12


async def test_a_refused_call_logs_no_callback_error(caplog):
    model = forever(lambda i: AIMessage("", tool_calls=[{"name": "bash", "args": {"command": "ls"}, "id": f"c{i}"}]))
    ctx = make_context(model, FakeTools(), max_steps=1)
    with caplog.at_level("WARNING", logger="langchain_core.callbacks.manager"), pytest.raises(LimitExceeded):
        await run_graph(prebuilt(ctx), ctx)
    assert not [r for r in caplog.records if "LimitExceeded" in r.getMessage()]


def test_the_scripted_model_binds_tools_in_any_form():
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    model = scripted("x")
    model.bind_tools([add, {"type": "function", "function": {"name": "mul", "parameters": {}}}])
    assert model.bound_tools == ["add", "mul"]



@pytest.mark.parametrize("bad", ["limits.max_steps=0", "limits.max_supersteps=0", "limits.max_tokens=-1",
                                 "limits.timeout_s=0", "limits.timeout_s=.inf"])
def test_limits_out_of_range_are_config_errors_naming_the_field(bad, tmp_path):
    from agentbench.config.loader import ConfigError, load_experiment

    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: t\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(experiment, [bad])
    assert bad.split("=")[0] in str(info.value) and "exp.yaml" in str(info.value)
