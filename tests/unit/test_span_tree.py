"""agentbench/tracing/tree.py, the one place events are nested: node spans and what they hold, a subgraph's
nodes inside the node running it, parallel nodes apart, a node never ended, a node_end that closes
nothing, sandbox commands inside a LangChain tool; and the tracer's typed events (unknown fields refused)."""

from __future__ import annotations

import pytest

from agentbench.events import (AttemptEnd, AttemptStart, ErrorEvent, Event, ModelCall, NodeEnd, NodeStart, Retry,
                               SandboxExec, ToolCall)
from agentbench.protocols import ExecResult
from agentbench.tracing.tracer import Tracer
from agentbench.tracing.tree import Closed, NodeSpan, event_of, span_tree


class Trace:
    """Events in order, each at the next second (a node_end at its node's start, as the tracer writes it)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.starts: dict[str, list[float]] = {}

    def _t(self) -> float:
        return float(len(self.events))

    def start(self, node: str) -> None:
        self.starts.setdefault(node, []).append(self._t())
        self.events.append(NodeStart(seq=len(self.events), t_start=self._t(), t_end=self._t(), node=node))

    def end(self, node: str, **fields) -> None:
        t0 = self.starts[node].pop()
        self.events.append(NodeEnd(seq=len(self.events), t_start=t0, t_end=self._t(), node=node, **fields))

    def add(self, cls, node: str | None, dt: float = 0.5, **fields) -> Event:
        event = cls(seq=len(self.events), t_start=self._t(), t_end=self._t() + dt, node=node, **fields)
        self.events.append(event)
        return event


def shape(items) -> list:
    """The tree as nested lists: a span as [name, *its items], an event as its type."""
    return [[i.name, *shape(i.items)] if isinstance(i, NodeSpan) else i.type for i in items]


def test_a_flat_graph_walks_in_store_order_and_closes_each_node():
    t = Trace()
    t.add(AttemptStart, None, 0.0)
    for _ in range(2):
        t.start("agent")
        t.add(Retry, "agent", 0.0)
        t.add(ModelCall, "agent")
        t.end("agent")
        t.start("tools")
        t.add(SandboxExec, "tools")
        t.end("tools")
    t.add(AttemptEnd, "tools", 0.0)
    tree = span_tree(t.events)
    assert shape(tree.top) == ["attempt_start", ["agent", "retry", "model_call"], ["tools", "sandbox_exec"],
                               ["agent", "retry", "model_call"], ["tools", "sandbox_exec"], "attempt_end"]
    assert [event_of(step).seq for step, _ in tree.walk()] == [e.seq for e in t.events]
    assert all(span.end is not None and span.parent is None for span in tree.spans)
    closes = [(step.span.start.seq, step.event.seq) for step, _ in tree.walk() if isinstance(step, Closed)]
    assert closes == [(1, 4), (5, 7), (8, 11), (12, 14)]


def test_a_subgraphs_nodes_nest_in_the_node_running_it():
    t = Trace()
    t.start("outer")
    t.start("inner")
    call = t.add(ModelCall, "inner")
    t.end("inner")
    late = t.add(SandboxExec, "inner")  # the tracer still names the inner node: it sits in outer
    t.end("outer")
    tree = span_tree(t.events)
    assert shape(tree.top) == [["outer", ["inner", "model_call"], "sandbox_exec"]]
    outer, inner = tree.spans
    assert inner.parent is outer and outer.parent is None
    holders = {event_of(step).seq: holder for step, holder in tree.walk()}
    assert holders[call.seq] is inner and holders[late.seq] is outer and holders[inner.start.seq] is outer


def test_parallel_nodes_keep_their_own_events_and_a_node_end_closes_its_own_span():
    t = Trace()
    t.start("a")
    t.start("b")  # b starts while a runs: inside a's time, but the events name their node
    in_a = t.add(ModelCall, "a")
    in_b = t.add(ModelCall, "b")
    t.end("a")  # closes a, not b (the innermost open span)
    t.end("b")
    tree = span_tree(t.events)
    a, b = tree.spans
    assert a.items == [b, in_a] and b.items == [in_b]
    assert a.end is not None and a.end.t_start == a.start.t_start and b.end is not None


def test_a_node_never_ended_and_a_node_end_that_closes_nothing():
    t = Trace()
    t.events.append(NodeEnd(seq=0, t_start=0.0, t_end=0.0, node="ghost"))  # its node_start is not in the store
    t.start("act")
    t.add(ErrorEvent, "act", 0.0, source="agent", error="boom")
    tree = span_tree(t.events)
    assert shape(tree.top) == ["node_end", ["act", "error"]]
    assert tree.spans[0].end is None
    assert not any(isinstance(step, Closed) for step, _ in tree.walk())


def test_commands_a_tool_ran_are_held_by_that_tool():
    t = Trace()
    t.start("tools")
    inside = t.add(SandboxExec, "tools", 0.2)
    t.events.append(ToolCall(seq=2, t_start=0.5, t_end=3.0, node="tools", tool="bash"))  # recorded at its end
    after = t.add(SandboxExec, "tools", 0.2)
    t.end("tools")
    tree = span_tree(t.events)
    assert tree.tool_of == {inside.seq: t.events[2]} and after.seq not in tree.tool_of


def test_the_tracer_builds_typed_events_and_refuses_unknown_fields():
    tracer = Tracer()
    start = tracer.record("attempt_start", 1.0, task_id="t", epoch=0, prompt="p")
    assert isinstance(start, AttemptStart) and start.trace_id == tracer.trace_id and start.t_end == 1.0
    done = tracer.record_exec("ls", ExecResult(exit_code=2, duration_s=0.5, stdout="x", timed_out=True), 2.0)
    assert isinstance(done, SandboxExec) and (done.exit_code, done.t_end, done.timed_out, done.kind) == (2, 2.5, True,
                                                                                                       "bash")
    assert done.payload == {"kind": "bash", "command": "ls", "exit_code": 2, "duration_s": 0.5, "stdout": "x",
                            "stderr": "", "truncated": False, "timed_out": True}
    assert tracer.totals.tool_calls == 1 and tracer.totals.sandbox_time_s == 0.5
    with pytest.raises(TypeError, match="commnd"):
        tracer.record("sandbox_exec", 3.0, commnd="ls")
    assert [e.seq for e in tracer.events] == [0, 1]


def test_every_reader_nests_a_subgraph_as_the_tree_does():
    from agentbench.export.inspect_map import chat_messages, transcript
    from agentbench.export.inspect_conversation import conversation
    from agentbench.export.otel_spans import RunInfo, TryInfo, attempt_spans
    from agentbench.protocols import AttemptRecord
    from agentbench.report.traces import AttemptData, trace_data

    t = Trace()
    t.start("outer")
    t.add(SandboxExec, "outer")
    t.start("inner")
    t.add(ModelCall, "inner", messages=[{"role": "human", "content": "q"}], reply={"role": "ai", "content": "a"})
    t.end("inner")
    t.end("outer")
    record = AttemptRecord(task_id="t", epoch=0, status="failed")
    info = RunInfo(resource={}, run_uid="u", graph="g", model="m", provider="openai")
    root, outer, command, inner, chat = attempt_spans(info, record, TryInfo(1, 0, 0.0, 9.0), t.events)
    assert [s.parent_id for s in (outer, command, inner, chat)] == [root.span_id, outer.span_id, outer.span_id,
                                                                      inner.span_id]
    assert (outer.attributes["graph.node.parent_id"], inner.attributes["graph.node.parent_id"]) == ("g", "outer")
    conv = conversation(e for e in t.events if isinstance(e, ModelCall))
    chat = chat_messages(conv, "openai/m", str, lambda v: v)
    begins = [e for e in transcript(t.events, conv, chat, "m", str, lambda v: v)
              if type(e).__name__ == "SpanBeginEvent"]
    assert [(b.name, b.parent_id) for b in begins] == [("outer", None), ("inner", begins[0].id)]
    rows = trace_data(AttemptData(id=1, record=record, events=t.events))["ev"]
    assert [r[1] for r in rows] == ["node_start", "sandbox_exec", "node_start", "model_call", "node_end", "node_end"]


def test_a_score_event_holds_every_field_of_a_score():
    """The episode records `record("score", **score.model_dump())`: a Score field ScoreEvent lacks would be
    refused (TypeError) at every graded attempt, so the two change together."""
    from agentbench.events import ScoreEvent
    from agentbench.protocols import Score

    assert set(Score.model_fields) <= set(ScoreEvent.model_fields)
    score = Score(passed=True, value=1.0, details={"a": 1}, env_error=None)
    assert Tracer().record("score", 1.0, 2.0, **score.model_dump()).payload == score.model_dump()
