"""The OTLP mapping (agentbench/export/otel_spans.py) and encoding (otlp_wire.py), pure: a trace made by the
real Tracer's callbacks on a fake clock becomes the span tree docs/tracing.md describes, with the recorded
ids and timestamps, content only when asked, secrets masked; the wire bytes decode to what the SDK's own
encoder makes; the tracer's trace context and the managed vLLM's tracing flags."""

from __future__ import annotations

import asyncio
import json
from uuid import uuid4

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from openinference.semconv.trace import MessageAttributes, SpanAttributes, ToolCallAttributes
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agentbench.config.schema import ExperimentConfig, TracingConfig, otlp_traces_url
from agentbench.export.otel import encode, readable_spans
from agentbench.export.otel_spans import TryInfo, attempt_spans, derived_id, run_info
from agentbench.models.embedded import vllm_server_spec, vllm_tracing
from agentbench.protocols import AttemptRecord, AttemptTotals, ExecResult, Score, Usage
from agentbench.redact import Redactor
from agentbench.tracing.tracer import Tracer, trace_headers

SECRET = "sk-test-0123456789abcdefghijklmnop"
META = {"run_id": "demo-1", "run_uid": "u" * 32, "model_identity": {"provider": "embedded", "server": "vllm",
        "served_model_name": "smol", "base_url": "http://127.0.0.1:8123/v1"},
        "config": {"name": "demo", "graph": "planning", "model": {"name": "smol", "provider": "embedded",
                   "temperature": 0.0, "max_tokens": 64}, "suite": {"name": "gaia-mini"},
                   "tracing": {"service_name": "bench-x"}}}


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def reply(text: str, tokens: tuple[int, int] = (7, 3)) -> LLMResult:
    msg = AIMessage(content=text, usage_metadata={"input_tokens": tokens[0], "output_tokens": tokens[1],
                                                  "total_tokens": sum(tokens)},
                    response_metadata={"finish_reason": "stop"})
    return LLMResult(generations=[[ChatGeneration(message=msg)]])


def traced_attempt(status: str = "solved"):
    """Two nodes: `plan` (a model call that is retried once, then answers) and `act` (a failing model call,
    a sandbox command inside a LangChain tool, a second command), then a score. Returns the record, events,
    the Tracer and the chat span ids it drew (in call order)."""
    clock = Clock()
    tracer = Tracer(clock=clock)
    t0 = clock.t
    tracer.record("attempt_start", t0, task_id="task-1", epoch=2)
    plan, act, call1, call2, tool = uuid4(), uuid4(), uuid4(), uuid4(), uuid4()
    drawn = []
    tracer.on_chain_start({}, {}, run_id=plan, metadata={"langgraph_node": "plan"}, name="plan")
    clock.t += 1
    tracer.on_chat_model_start({}, [[HumanMessage(f"solve it, key {SECRET}")]], run_id=call1)
    drawn.append(trace_headers()["traceparent"])
    clock.t += 0.5
    tracer.record("retry", clock.t, attempt=1, reason="HTTP 503", wait_s=0.2)
    clock.t += 1
    tracer.on_llm_end(reply("the plan: run ls"), run_id=call1)
    assert trace_headers() == {}  # no model call open any more
    tracer.on_chain_end({}, run_id=plan)
    tracer.on_chain_start({}, {}, run_id=act, metadata={"langgraph_node": "act"}, name="act")
    clock.t += 1
    tracer.on_chat_model_start({}, [[HumanMessage("go")]], run_id=call2)
    drawn.append(trace_headers()["traceparent"])
    clock.t += 1
    tracer.on_llm_error(ValueError("bad gateway"), run_id=call2)
    tracer.on_tool_start({"name": "shell"}, "ls", run_id=tool)
    clock.t += 0.1
    tracer.record_exec(f"echo {SECRET} && ls", ExecResult(exit_code=0, duration_s=0.5, stdout=f"out {SECRET}"),
                       clock.t)
    clock.t += 1
    tracer.on_tool_end("listing", run_id=tool)
    tracer.record_exec("pytest -q", ExecResult(exit_code=1, duration_s=0.25, stdout="1 failed", stderr="trace"),
                       clock.t)
    clock.t += 1
    tracer.on_chain_end({}, run_id=act)
    tracer.current_node = None
    tracer.record("score", clock.t, clock.t + 0.5, passed=status == "solved", value=1.0, details={"answer": "x"},
                  env_error=None)
    clock.t += 1
    tracer.record("attempt_end", clock.t, status=status)
    record = AttemptRecord(task_id="task-1", epoch=2, status=status, answer="x",
                           score=Score(passed=status == "solved", value=1.0), totals=tracer.totals)
    return record, tracer.events, tracer, drawn, (t0, clock.t)


def spans_of(content: bool = False, status: str = "solved", redactor: Redactor | None = None):
    record, events, tracer, drawn, (t0, t1) = traced_attempt(status)
    info = run_info(META.get, content=content, version="9.9")
    redact = (redactor or Redactor([SECRET])).text
    return attempt_spans(info, record, TryInfo(17, 1, t0, t1), events, redact), events, tracer, drawn


def by_name(spans, name):
    return [s for s in spans if s.name == name]


def test_the_tree_counts_and_recorded_ids():
    spans, events, tracer, drawn = spans_of()
    root = spans[0]
    assert root.name == "invoke_agent planning" and root.parent_id is None
    assert root.trace_id == tracer.trace_id == events[0].trace_id
    assert {s.trace_id for s in spans} == {tracer.trace_id}
    nodes = by_name(spans, "plan") + by_name(spans, "act")
    assert [n.parent_id for n in nodes] == [root.span_id, root.span_id]
    chats, tools = by_name(spans, "chat smol"), [s for s in spans if s.name.startswith("execute_tool")]
    types = [e.type for e in events]
    assert len(chats) == types.count("model_call") + sum(1 for e in events if e.type == "error" and
                                                         e.span_id)
    assert len(tools) == types.count("sandbox_exec") + types.count("tool_call") == 3
    assert len(spans) == 1 + types.count("node_start") + len(chats) + len(tools)
    # the chat spans carry the ids drawn when the calls started, the ones sent as traceparent
    assert [f"00-{tracer.trace_id}-{c.span_id}-01" for c in chats] == drawn
    assert chats[0].parent_id == nodes[0].span_id and chats[1].parent_id == nodes[1].span_id
    shell = by_name(spans, "execute_tool shell")[0]
    first_cmd, second_cmd = by_name(spans, "execute_tool bash")
    assert shell.parent_id == nodes[1].span_id
    assert first_cmd.parent_id == shell.span_id  # ran inside the tool's time
    assert second_cmd.parent_id == nodes[1].span_id
    # the recorded timeline, to the nanosecond
    by_seq = {e.seq: e for e in events}
    assert root.start_ns == int(round(events[0].t_start * 1e9)) and root.end_ns == int(round(events[-1].t_end * 1e9))
    exec_events = [e for e in events if e.type == "sandbox_exec"]
    assert first_cmd.start_ns == int(round(exec_events[0].t_start * 1e9))
    assert first_cmd.end_ns == int(round(exec_events[0].t_end * 1e9))
    assert len(by_seq) == len(events)
    assert len({s.span_id for s in spans}) == len(spans)


def test_attributes_follow_genai_and_openinference():
    spans, *_ = spans_of()
    root, ok_chat, failed_chat = spans[0], *by_name(spans, "chat smol")
    a = root.attributes
    assert (a["gen_ai.operation.name"], a["openinference.span.kind"]) == ("invoke_agent", "AGENT")
    assert (a["agentbench.task.id"], a["agentbench.epoch"], a["agentbench.try"], a["agentbench.status"],
            a["agentbench.score"]) == ("task-1", 2, 1, "solved", 1.0)
    c = ok_chat.attributes
    assert c["gen_ai.operation.name"] == "chat" and c["gen_ai.provider.name"] == "vllm"
    assert c["gen_ai.request.model"] == c["llm.model_name"] == "smol"
    assert (c["gen_ai.usage.input_tokens"], c["gen_ai.usage.output_tokens"]) == (7, 3)
    assert (c["llm.token_count.prompt"], c["llm.token_count.completion"], c["llm.token_count.total"]) == (7, 3, 10)
    assert c["gen_ai.response.finish_reasons"] == ["stop"] and c["openinference.span.kind"] == "LLM"
    assert (c["server.address"], c["server.port"]) == ("127.0.0.1", 8123)
    assert c["agentbench.latency_s"] == pytest.approx(1.5)
    assert failed_chat.status == "error" and "bad gateway" in failed_chat.status_message
    assert [e.name for e in failed_chat.events] == ["exception"]
    assert [e.name for e in ok_chat.events] == ["agentbench.retry"]  # the retry happened during that call
    node = by_name(spans, "act")[0].attributes
    assert (node["graph.node.id"], node["graph.node.name"], node["graph.node.parent_id"]) == ("act", "act", "planning")
    t = by_name(spans, "execute_tool bash")[1].attributes
    assert (t["gen_ai.operation.name"], t["gen_ai.tool.name"], t["openinference.span.kind"]) == \
        ("execute_tool", "bash", "TOOL")
    assert (t["agentbench.command"], t["agentbench.exit_code"], t["agentbench.duration_s"]) == ("pytest -q", 1, 0.25)
    verdict = [e for e in root.events if e.name == "gen_ai.evaluation.result"]
    assert len(verdict) == 1 and verdict[0].attributes["gen_ai.evaluation.score.label"] == "solved"
    assert verdict[0].attributes["gen_ai.evaluation.score.value"] == 1.0
    assert [e.name for e in root.events] == ["agentbench.score", "gen_ai.evaluation.result"]
    info = run_info(META.get, version="9.9")
    assert info.resource["service.name"] == info.resource["openinference.project.name"] == "bench-x"
    assert (info.resource["agentbench.run.id"], info.resource["agentbench.experiment.name"]) == ("demo-1", "demo")
    # every OpenInference-looking key is one of OpenInference's own
    known = {v for k, v in vars(SpanAttributes).items() if k.isupper()}
    message_keys = {v for k, v in vars(MessageAttributes).items() if k.isupper()}
    call_keys = {v for k, v in vars(ToolCallAttributes).items() if k.isupper()}
    for span in spans_of(content=True)[0]:
        for key in span.attributes:
            if key.split(".")[0] in ("llm", "graph", "openinference", "input", "output", "tool", "agent"):
                parts = key.split(".")
                if parts[1] in ("input_messages", "output_messages"):
                    rest = ".".join(parts[3:])
                    assert rest in message_keys or rest.split(".", 3)[-1] in call_keys or \
                        ".".join(parts[3:5]) in message_keys, key
                else:
                    assert key in known, key


def test_content_only_when_asked_and_secrets_never():
    plain, *_ = spans_of(content=False)
    texts = json.dumps([s.attributes for s in plain] + [[e.attributes for e in s.events] for s in plain])
    for word in ("solve it", "the plan", "out ", "1 failed", "listing"):
        assert word not in texts, word
    assert "echo *** && ls" in texts  # commands go out (redacted) without content
    full, *_ = spans_of(content=True)
    chat = by_name(full, "chat smol")[0].attributes
    assert chat["llm.input_messages.0.message.role"] == "human"
    assert chat["llm.input_messages.0.message.content"].startswith("solve it, key ")
    assert chat["llm.output_messages.0.message.content"] == chat["output.value"] == "the plan: run ls"
    assert json.loads(chat["gen_ai.input.messages"])[0]["parts"][0]["content"].startswith("solve it")
    cmd = by_name(full, "execute_tool bash")[0].attributes
    assert cmd["output.value"].startswith("out ") and full[0].attributes["output.value"] == "x"
    everything = json.dumps([[s.attributes, s.status_message, [e.attributes for e in s.events]] for s in full])
    assert SECRET not in everything and "solve it, key ***" in everything
    # and without knowing the secret, its shape is still masked
    shaped, *_ = spans_of(content=True, redactor=Redactor())
    assert SECRET not in json.dumps([s.attributes for s in shaped])


def test_ids_are_stable_and_derived_without_recorded_ones():
    record, events, *_ = traced_attempt()
    info = run_info(META.get)
    first = attempt_spans(info, record, TryInfo(3, 0, 0.0, 1.0), events)
    again = attempt_spans(info, record, TryInfo(3, 0, 0.0, 1.0), events)
    assert [(s.trace_id, s.span_id, s.parent_id) for s in first] == [(s.trace_id, s.span_id, s.parent_id)
                                                                      for s in again]
    bare = [e.model_copy(update={k: None for k in ("trace_id", "span_id") if k in type(e).model_fields})
            for e in events]  # a store from before ids were recorded
    old = attempt_spans(info, record, TryInfo(3, 0, 0.0, 1.0), bare)
    assert old[0].trace_id == derived_id(f"{META['run_uid']}/task-1/2/0", 32) != first[0].trace_id
    other_try = attempt_spans(info, record, TryInfo(4, 1, 0.0, 1.0), bare)
    assert other_try[0].trace_id != old[0].trace_id
    assert [s.span_id for s in old] == [s.span_id for s in attempt_spans(info, record, TryInfo(3, 0, 0.0, 1.0), bare)]


def test_an_error_attempt_is_an_error_root_with_the_exception():
    record, events, tracer, *_ = traced_attempt()
    events = events[:-1]
    tracer.events = events
    tracer.record("error", events[-1].t_end, source="model", reason="model", error="APIConnectionError: down")
    tracer.record("attempt_end", events[-1].t_end + 1, status="error", reason="model")
    record = record.model_copy(update={"status": "error", "reason": "model", "error": "APIConnectionError: down",
                                       "score": None})
    spans = attempt_spans(run_info(META.get), record, TryInfo(1, 0, events[0].t_start, tracer.events[-1].t_end),
                          tracer.events)
    root = spans[0]
    assert root.status == "error" and root.status_message == "APIConnectionError: down"
    exc = [e for e in root.events if e.name == "exception"]
    assert len(exc) == 1 and exc[0].attributes["agentbench.error.source"] == "model"
    verdict = [e for e in root.events if e.name == "gen_ai.evaluation.result"][0].attributes
    assert verdict["gen_ai.evaluation.score.label"] == "error" and "gen_ai.evaluation.score.value" not in verdict


def test_the_wire_bytes_are_what_the_sdk_encoder_makes():
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    spans, *_ = spans_of(content=True)
    info = run_info(META.get, version="9.9")
    ours = ExportTraceServiceRequest.FromString(encode(spans, info.resource))
    sdk = encode_spans(readable_spans(spans, info.resource))
    (a,), (b,) = ours.resource_spans, sdk.resource_spans
    assert a.resource == b.resource and a.scope_spans[0].scope == b.scope_spans[0].scope
    ours_spans, sdk_spans = a.scope_spans[0].spans, b.scope_spans[0].spans
    assert len(ours_spans) == len(sdk_spans) == len(spans)
    for x, y in zip(ours_spans, sdk_spans):
        y.flags = x.flags  # the SDK leaves the sampled bit out of the span flags; everything else is equal
        assert x == y, x.name
    # two requests back to back are one request holding both (the live export batches that way)
    both = ExportTraceServiceRequest.FromString(encode(spans[:2], info.resource) + encode(spans[2:], info.resource))
    assert sum(len(ss.spans) for rs in both.resource_spans for ss in rs.scope_spans) == len(spans)


def test_the_tracer_draws_ids_and_sends_them_only_inside_a_call():
    tracer = Tracer()
    assert len(tracer.trace_id) == 32 and Tracer().trace_id != tracer.trace_id
    start = tracer.record("attempt_start", 0.0, task_id="t", epoch=0)
    assert start.trace_id == tracer.trace_id
    run = uuid4()
    tracer.on_chat_model_start({}, [[HumanMessage("x")]], run_id=run)
    header = trace_headers()["traceparent"]
    tracer.on_llm_end(reply("y"), run_id=run)
    (call,) = [e for e in tracer.events if e.type == "model_call"]
    assert header == f"00-{tracer.trace_id}-{call.span_id}-01" and call.finish_reason == "stop"

    async def two_calls_at_once():  # each asyncio task sees its own call's span
        async def one(text):
            run_id = uuid4()
            tracer.on_chat_model_start({}, [[HumanMessage(text)]], run_id=run_id)
            await asyncio.sleep(0)
            seen = trace_headers()["traceparent"]
            tracer.on_llm_end(reply(text), run_id=run_id)
            return seen
        return await asyncio.gather(one("a"), one("b"))

    seen = asyncio.run(two_calls_at_once())
    calls = [e for e in tracer.events if e.type == "model_call"][1:]
    assert sorted(seen) == sorted(f"00-{tracer.trace_id}-{c.span_id}-01" for c in calls)
    assert len(set(seen)) == 2


def test_the_managed_vllm_joins_the_trace_when_tracing_is_on():
    assert vllm_tracing(None) == ([], {}) and vllm_tracing(TracingConfig()) == ([], {})
    args, env = vllm_tracing(TracingConfig(otlp_endpoint="http://127.0.0.1:6006/", service_name="my bench"))
    assert args == ["--otlp-traces-endpoint", "http://127.0.0.1:6006/v1/traces"]
    assert env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == "service.name=my%20bench-vllm,openinference.project.name=my%20bench"
    cfg = ExperimentConfig(tracing={"otlp_endpoint": "http://h:4318/v1/traces"})
    from pathlib import Path

    spec = vllm_server_spec(cfg.model, Path("/py"), "/weights", tracing=cfg.tracing)
    assert spec.argv[-2:] == ["--otlp-traces-endpoint", "http://h:4318/v1/traces"]
    assert "--otlp-traces-endpoint" not in vllm_server_spec(cfg.model, Path("/py"), "/weights").argv
    assert otlp_traces_url("https://x/v1/traces/") == "https://x/v1/traces"
    with pytest.raises(ValueError, match="not an http"):
        TracingConfig(otlp_endpoint="localhost:4318")


def test_totals_and_usage_on_the_root():
    spans, *_ = spans_of()
    root = spans[0].attributes
    assert root["agentbench.usage.input_tokens"] == 7 and root["agentbench.model_calls"] == 1
    assert "llm.token_count.prompt" not in root  # Phoenix sums LLM spans' counts; the root would count twice
    assert AttemptTotals(usage=Usage(prompt_tokens=1)).usage.total_tokens == 1
