"""Graphs as users write them (tests/integration/user_graphs/: the prebuilt ReAct agent, the ToolNode
tutorial graph, a subgraph, a graph that builds its own ChatOpenAI, one that imports a module beside it),
none counting its steps or setting `answer`, run through the real Runner against a scripted OpenAI-compatible
server on loopback (tool calls streamed as OpenAI streams them) and the local sandbox: the answer is taken
from the last AI message, `max_steps` / `max_supersteps` hold, every node, model call, tool call and sandbox
command is in the stored trace, and a graph that raises is the agent's `failed` (agent_error). One of them
also runs against the real embedded vLLM server."""

from __future__ import annotations

import pytest

from agentbench.config.loader import load_experiment
from agentbench.runner.runner import Runner
from agentbench.store import RunStore
from agentbench.suites.loader import load_suite
from agentbench.testing.openai_stub import OpenAIStub, StubReply, tool_call

from .conftest import ROOT

HERE = "tests/integration/user_graphs"
GRAPHS = {
    "prebuilt_react": f"{HERE}/prebuilt_react.py:build_graph",
    "tutorial_toolnode": f"{HERE}/tutorial_toolnode.py:build_graph",
    "with_subgraph": f"{HERE}/with_subgraph.py:build_graph",
    "own_chatopenai": f"{HERE}/own_chatopenai.py:build_graph",
    "sibling_import": f"{HERE}/sibling_import/agent.py:build_graph",
    "swallows_errors": f"{HERE}/swallows_errors.py:build_graph",
}
NODES = {  # the graph's own nodes (a subgraph's nodes too), each of which must be traced
    "prebuilt_react": {"agent", "tools"},
    "tutorial_toolnode": {"call_model", "tools"},
    "with_subgraph": {"look", "solve", "think"},
    "own_chatopenai": {"agent", "tools"},
    "sibling_import": {"chatbot"},
}
TOOL_GRAPHS = ("prebuilt_react", "tutorial_toolnode", "own_chatopenai")  # they bind tools: bash(ls) first
TASK = "gm-l1-001"  # its working directory holds orders.csv; the expected answer is "10"


def expected_answers() -> dict[str, str]:
    _, tasks = load_suite("gaia-mini")
    return {t.prompt: t.expected.answer for t in tasks}


def question(messages: list[dict]) -> str:
    return next(m["content"] for m in messages if m["role"] == "user")


def solver(first_call: StubReply | None, final: str = "FINAL ANSWER: {answer}"):
    """A scripted model that makes `first_call` (when given) until a tool result is in the conversation,
    then replies `final` with the task's expected answer."""
    answers = expected_answers()

    def reply(messages: list[dict]) -> str | StubReply:
        if first_call is not None and not any(m["role"] == "tool" for m in messages):
            return first_call
        return final.format(answer=answers[question(messages)])

    return reply


def config(graph: str, stub: OpenAIStub, *extra: str):
    return load_experiment(ROOT / "experiments" / "demo.yaml", [
        f"graph={GRAPHS[graph]}", "model.provider=openai", f"model.base_url={stub.base_url}", "model.retries=0",
        f"suite.ids=[{TASK}]", "run.concurrency=1", "sandbox.backend=local", "limits.max_steps=6", *extra])


async def run_graph(graph: str, reply, tmp_path, *extra: str) -> tuple[RunStore, OpenAIStub]:
    stub = OpenAIStub(reply=reply)
    await stub.start()
    try:
        store = await Runner(config(graph, stub, *extra), tmp_path / "run", base_dir=ROOT).run()
    finally:
        await stub.stop()
    return store, stub


def only_attempt(store: RunStore):
    (record,) = store.attempts()
    (row,) = store.attempt_rows()
    return record, list(store.events(row["id"]))


def of_type(events, type_: str) -> list:
    return [e for e in events if e.type == type_]


@pytest.mark.parametrize("graph", list(NODES))
async def test_a_users_graph_is_answered_from_its_last_message_and_fully_traced(graph, tmp_path):
    uses_tools = graph in TOOL_GRAPHS
    store, stub = await run_graph(graph, solver(tool_call("bash", command="ls") if uses_tools else None), tmp_path)
    record, events = only_attempt(store)
    assert (record.status, record.answer) == ("solved", "10"), (record.status, record.error)
    assert record.answer_source == "last_message"

    assert NODES[graph] <= {e.node for e in of_type(events, "node_start")}
    assert {e.node for e in of_type(events, "node_end")} == {e.node for e in of_type(events, "node_start")}
    calls = of_type(events, "model_call")
    assert len(calls) == record.totals.model_calls == stub.requests == (2 if uses_tools else 1)
    assert all(c.node in NODES[graph] and c.payload["prompt_tokens"] > 0 for c in calls)
    # every call the server answered is in the trace, whichever chat model the graph called it through
    assert record.totals.usage.total_tokens == stub.prompt_tokens + stub.completion_tokens
    # ctx.model sends the attempt's seed; a ChatOpenAI the graph built itself sends none
    assert all((seed is None) == (graph == "own_chatopenai") for seed in stub.seeds)

    execs = of_type(events, "sandbox_exec")
    if uses_tools:
        assert all("bash" in offered for offered in stub.tools_offered)  # bind_tools reached the server
        assert calls[0].payload["reply"]["tool_calls"] == [{"name": "bash", "args": {"command": "ls"}}]
        (tool,) = of_type(events, "tool_call")
        assert tool.payload["tool"] == "bash" and "orders.csv" in tool.payload["output"] and tool.node == "tools"
        assert [(e.payload["command"], e.payload["exit_code"]) for e in execs] == [("ls", 0)]
        assert tool.t_start <= execs[0].t_start <= execs[0].t_end <= tool.t_end
    elif graph == "with_subgraph":
        assert [e.payload["command"] for e in execs] == ["ls"] and execs[0].node == "look"
        assert "orders.csv" in str(calls[0].payload["messages"])  # what `look` found reached the subgraph's call
    if graph == "sibling_import":  # the system prompt comes from common.py, the module beside agent.py
        assert "sibling-import marker" in calls[0].payload["messages"][0]["content"]
    store.close()


async def test_a_last_message_without_the_final_answer_marker_is_the_answer_whole(tmp_path):
    store, _ = await run_graph("sibling_import", solver(None, final="{answer}"), tmp_path)
    record, _ = only_attempt(store)
    assert (record.status, record.answer, record.answer_source) == ("solved", "10", "last_message")
    store.close()


def never_stops(messages: list[dict]) -> StubReply:
    return tool_call("bash", command="ls")


@pytest.mark.parametrize("graph", TOOL_GRAPHS)
async def test_max_steps_holds_for_a_graph_that_counts_nothing(graph, tmp_path):
    store, stub = await run_graph(graph, never_stops, tmp_path, "limits.max_steps=3")
    record, events = only_attempt(store)
    assert (record.status, record.reason) == ("limit", "steps"), record.error
    assert len(of_type(events, "model_call")) == record.totals.model_calls == 3
    assert stub.requests == 3  # the call past the budget never reached the server
    assert len(of_type(events, "sandbox_exec")) == 3
    assert (record.answer, record.answer_source) == (None, None)  # the graph did not finish
    (error,) = of_type(events, "error")
    assert error.payload["source"] == "limit" and error.payload["which"] == "steps"
    store.close()


async def test_max_supersteps_is_langgraphs_recursion_limit(tmp_path):
    # (the prebuilt agent is not used here: it watches LangGraph's `remaining_steps` and ends itself one
    # superstep early with "Sorry, need more steps to process this request." -- docs/graphs.md)
    store, _ = await run_graph("tutorial_toolnode", never_stops, tmp_path, "limits.max_steps=50",
                               "limits.max_supersteps=4")
    record, events = only_attempt(store)
    assert (record.status, record.reason) == ("limit", "supersteps"), record.error
    assert "limits.max_supersteps" in record.error and "recursion_limit" not in record.error
    assert [e.node for e in of_type(events, "node_start")] == ["call_model", "tools"] * 2
    assert record.totals.model_calls == 2 and record.totals.supersteps == 4
    store.close()


async def test_a_graph_that_catches_the_refused_call_still_hit_the_limit(tmp_path):
    store, stub = await run_graph("swallows_errors", lambda messages: "thinking...", tmp_path, "limits.max_steps=3")
    record, events = only_attempt(store)
    assert (record.status, record.reason) == ("limit", "steps"), (record.status, record.error)
    assert stub.requests == 3 and record.answer is None  # its "gave up" answer is not scored
    store.close()


async def test_the_prebuilt_agents_need_more_steps_reply_is_a_supersteps_limit_not_an_answer(tmp_path):
    # create_react_agent ends itself one superstep before the recursion limit with a fixed reply
    store, _ = await run_graph("prebuilt_react", never_stops, tmp_path, "limits.max_steps=50",
                               "limits.max_supersteps=5")
    record, _ = only_attempt(store)
    assert (record.status, record.reason) == ("limit", "supersteps"), record.error
    assert "limits.max_supersteps" in record.error and record.answer is None
    store.close()


@pytest.mark.parametrize("graph", ["tutorial_toolnode", "prebuilt_react"])
async def test_a_tool_that_raises_inside_a_node_is_the_agents_failure(graph, tmp_path):
    store, _ = await run_graph(graph, solver(tool_call("read_file", path="no_such_file.txt")), tmp_path)
    record, events = only_attempt(store)
    assert (record.status, record.reason) == ("failed", "agent_error"), (record.status, record.error)
    assert "FileNotFoundError" in record.error and record.totals.model_calls == 1
    (tool,) = of_type(events, "tool_call")
    assert tool.payload["tool"] == "read_file" and "FileNotFoundError" in tool.payload["error"]
    (error,) = of_type(events, "error")
    assert error.payload["source"] == "agent" and "user_graphs" in error.payload["traceback"]
    assert any(e.node == "tools" and "FileNotFoundError" in e.payload.get("error", "")
               for e in of_type(events, "node_end"))
    store.close()


@pytest.mark.model
async def test_a_users_subgraph_against_the_embedded_model(embedded_url, tmp_path):
    cfg = load_experiment(ROOT / "experiments" / "demo.yaml", [
        f"graph={GRAPHS['with_subgraph']}", "model.provider=openai", f"model.base_url={embedded_url}",
        "suite.ids=[gm-l1-001, gm-l1-002]", "run.concurrency=2", "sandbox.backend=local", "limits.max_steps=2",
        "model.max_tokens=128"])
    store = await Runner(cfg, tmp_path / "run", base_dir=ROOT).run()
    for record, row in zip(store.attempts(), store.attempt_rows()):
        assert record.status in ("solved", "failed") and record.reason is None, (record.status, record.error)
        assert record.answer_source in ("last_message", "none")
        assert (record.answer is None) == (record.answer_source == "none")
        events = list(store.events(row["id"]))
        assert NODES["with_subgraph"] <= {e.node for e in of_type(events, "node_start")}
        (call,) = of_type(events, "model_call")
        assert call.node == "think" and call.payload["completion_tokens"] > 0
        assert record.totals.model_calls == 1 and [e.payload["command"] for e in of_type(events, "sandbox_exec")] == ["ls"]
    store.close()
