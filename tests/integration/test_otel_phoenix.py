"""OTLP export against a real backend: Arize Phoenix on loopback (tests/integration/phoenix_server.py).

- A real run (the embedded vLLM behind a fault-injecting proxy, so model calls are retried; the planning
  graph; the local sandbox) exported live during the run, and again after the fact through the CLI with
  `--content` (to a second Phoenix: Phoenix keeps one copy per span id): read back through Phoenix's REST
  API, the tree, the attributes and the counts match run.sqlite, and both exports have the same ids,
  timestamps and attributes, the second one plus the prompts and replies.
- A live export whose collector is down when the run starts and comes up mid-run: reported once, the
  run unharmed, every trace delivered with the ids an after-the-fact export gives.
- An unreachable collector costs the run nothing: `attempt_stored` returns at once, `close` is bounded.
- The model server joins the trace: a managed vLLM started with the run's tracing section exports its
  `llm_request` spans to Phoenix, under the `chat` span whose `traceparent` the model client sent.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from agentbench.config.loader import load_experiment
from agentbench.export.otel_live import LiveOtlpSink
from agentbench.export.otel_spans import TryInfo, attempt_spans, run_info
from agentbench.export.store_rows import tries
from agentbench.models.server import free_port
from agentbench.runner.runner import Runner
from agentbench.store import RunStore
from agentbench.testing.fault_proxy import FaultProxy

from .conftest import ROOT, run_cli
from .phoenix_server import Phoenix, seconds

IDS = ["gm-l1-001", "gm-l2-001"]


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory):
    server = Phoenix(tmp_path_factory.mktemp("phoenix")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def phoenix_after(tmp_path_factory):
    """A second Phoenix for the export after the fact: Phoenix keys spans by id, so the same ids sent
    again to the first one would be kept once (which is the point of stable ids)."""
    server = Phoenix(tmp_path_factory.mktemp("phoenix-after")).start()
    yield server
    server.stop()


CONTENT_KEYS = ("llm.input_messages", "llm.output_messages", "input.", "output.", "gen_ai.input.messages",
                "gen_ai.output.messages", "gen_ai.tool.call.",
                "tool.parameters")  # Phoenix derives this one from gen_ai.tool.call.arguments


class Notes:
    """A progress sink that keeps the run's notes (the live export reports through `note`)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def start(self, total, done): ...
    def advance(self, record): ...
    def stop(self): ...

    def note(self, text: str) -> None:
        self.lines.append(text)


def expected_spans(store: RunStore, service_name: str | None = None):
    """What the after-the-fact mapping makes of every stored try (the reference the tests compare to)."""
    info = run_info(store.meta, service_name=service_name)
    return {row.id: (row, attempt_spans(info, row.record, TryInfo(row.id, row.try_, row.t_start, row.t_end),
                                        list(store.events(row.id)), store.redactor.text)) for row in tries(store)}


def key(span: dict) -> tuple:
    return span["context"]["trace_id"], span["context"]["span_id"]


@pytest.fixture(scope="module")
def model_run(tmp_path_factory, embedded_url, phoenix) -> Path:
    out = tmp_path_factory.mktemp("otel-model") / "run"

    async def go():
        proxy = FaultProxy(embedded_url)
        await proxy.start()
        proxy.fail(1, 502)  # the preflight's GET /models
        proxy.fail(2, 503)  # the first model call: retried twice
        try:
            cfg = load_experiment(ROOT / "experiments" / "demo.yaml", [
                "model.provider=openai", f"model.base_url={proxy.base_url}", f"suite.ids=[{', '.join(IDS)}]",
                "sandbox.backend=local", "limits.max_steps=3", "run.concurrency=2", "model.max_tokens=64",
                "model.backoff_max_s=0.5", f"tracing.otlp_endpoint={phoenix.url}", "tracing.service_name=ab-live"])
            await Runner(cfg, out, base_dir=ROOT).run()
        finally:
            await proxy.stop()

    asyncio.run(go())
    return out


def test_a_real_run_live_and_after_the_fact(model_run, phoenix, phoenix_after):
    store = RunStore.in_dir(model_run)
    reference = expected_spans(store)
    n_spans = sum(len(spans) for _, spans in reference.values())
    live = phoenix.wait_spans("ab-live", n_spans)
    proc = run_cli("export", "otel", str(model_run), "--endpoint", phoenix_after.url, "--content")
    assert f"{len(reference)} traces, {n_spans} spans sent" in proc.stdout
    after = phoenix_after.wait_spans("ab-live", n_spans)  # the run's service name: the same project
    assert len(live) == len(after) == n_spans
    by_id = {key(s): s for s in after}
    content_seen = 0
    for span in live:  # the same ids, parents, timestamps and attributes, live or after the fact
        twin = by_id[key(span)]
        for field in ("name", "parent_id", "start_time", "end_time", "status_code", "span_kind"):
            assert span[field] == twin[field], (field, span["name"])
        assert [e["name"] for e in span["events"]] == [e["name"] for e in twin["events"]]
        extra = {k for k in twin["attributes"] if k not in span["attributes"]}
        assert all(k.startswith(CONTENT_KEYS) for k in extra), extra  # --content adds the texts, nothing else
        assert {k: twin["attributes"][k] for k in span["attributes"]} == span["attributes"], span["name"]
        assert not any(k.startswith(CONTENT_KEYS) for k in span["attributes"])  # content is off by default
        content_seen += bool(extra)
    assert content_seen >= len(reference)
    first_call = next(e for row in tries(store) for e in store.events(row.id) if e.type == "model_call")
    chat = next(s for s in after if s["context"]["span_id"] == first_call.payload["span_id"])
    assert chat["attributes"]["llm.output_messages.0.message.content"] == first_call.payload["reply"]["content"]
    assert chat["attributes"]["llm.input_messages.0.message.content"] == first_call.payload["messages"][0]["content"]

    retries = 0
    for attempt_id, (row, spans) in reference.items():
        events = list(store.events(attempt_id))
        types = Counter(e.type for e in events)
        got = [s for s in live if s["context"]["trace_id"] == spans[0].trace_id]
        assert {key(s) for s in got} == {(s.trace_id, s.span_id) for s in spans}
        roots = [s for s in got if s["parent_id"] is None]
        assert len(roots) == 1 and roots[0]["name"] == "invoke_agent planning" and roots[0]["span_kind"] == "AGENT"
        root = roots[0]
        attrs = root["attributes"]
        assert (attrs["agentbench.task.id"], attrs["agentbench.epoch"], attrs["agentbench.try"],
                attrs["agentbench.status"]) == (row.task_id, row.epoch, row.try_, row.status)
        assert seconds(root["start_time"]) == pytest.approx(row.t_start, abs=2e-6)
        verdicts = [e for e in root["events"] if e["name"] == "gen_ai.evaluation.result"]
        assert len(verdicts) == 1 and verdicts[0]["attributes"]["gen_ai.evaluation.score.label"] == row.status
        nodes = [s for s in got if s["parent_id"] == root["context"]["span_id"]]
        assert len(nodes) == types["node_start"] and all(s["span_kind"] == "CHAIN" for s in nodes)
        assert all(s["attributes"]["graph.node.parent_id"] == "planning" for s in nodes)
        node_ids = {s["context"]["span_id"] for s in nodes}
        chats = [s for s in got if s["name"].startswith("chat ")]
        tools = [s for s in got if s["name"].startswith("execute_tool ")]
        failed_calls = sum(1 for e in events if e.type == "error" and e.payload.get("span_id"))
        assert len(chats) == types["model_call"] + failed_calls
        assert len(tools) == types["sandbox_exec"] + types["tool_call"]
        assert len(got) == 1 + len(nodes) + len(chats) + len(tools)
        assert all(s["parent_id"] in node_ids for s in chats + tools)
        calls = [e for e in events if e.type == "model_call"]
        for call in calls:  # the recorded span id, tokens and timeline of every model call
            (span,) = [s for s in chats if s["context"]["span_id"] == call.payload["span_id"]]
            a = span["attributes"]
            assert span["span_kind"] == "LLM" and a["gen_ai.operation.name"] == "chat"
            assert a["gen_ai.provider.name"] == "vllm" and a["gen_ai.request.model"] == "smollm2-135m-instruct"
            assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == \
                (call.payload["prompt_tokens"], call.payload["completion_tokens"])
            assert a["llm.token_count.prompt"] == call.payload["prompt_tokens"]
            assert seconds(span["start_time"]) == pytest.approx(call.t_start, abs=2e-6)
            assert seconds(span["end_time"]) == pytest.approx(call.t_end, abs=2e-6)
        execs = [e for e in events if e.type == "sandbox_exec"]
        codes = [s["attributes"]["agentbench.exit_code"] for s in tools if "agentbench.exit_code" in s["attributes"]]
        assert sorted(codes) == sorted(e.payload["exit_code"] for e in execs)
        span_retries = sum(1 for s in chats for e in s["events"] if e["name"] == "agentbench.retry")
        assert span_retries == types["retry"]
        retries += span_retries
    assert retries == 2  # the injected 503s, each on the call it delayed
    store.close()


def test_a_collector_down_then_up_during_a_run(tmp_path):
    port = free_port()
    gate = tmp_path / "gate"
    cfg = load_experiment(None, [
        "graph=tests/integration/graphs/slow_oracle.py:build_graph", "suite.name=gaia-mini", "graph_params.sleep_s=0",
        "suite.ids=[gm-l1-001, gm-l1-002, gm-l1-003, gm-l2-001]", "sandbox.backend=local", "run.concurrency=1",
        f"graph_params.gate={gate}", "graph_params.first=gm-l1-001",
        f"tracing.otlp_endpoint=http://127.0.0.1:{port}", "tracing.service_name=ab-down-up"])
    notes, result = Notes(), {}
    runner = threading.Thread(target=lambda: result.update(store=asyncio.run(
        Runner(cfg, tmp_path / "run", progress=notes, base_dir=ROOT).run())), daemon=True)
    runner.start()
    deadline = time.monotonic() + 90
    while not any("does not answer" in n for n in notes.lines) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any("does not answer" in n for n in notes.lines), notes.lines  # the first try met the dead collector
    late = Phoenix(tmp_path / "late-phoenix", port=port).start()  # now it comes up, mid-run
    try:
        gate.touch()
        runner.join(180)
        assert not runner.is_alive() and "store" in result
        store: RunStore = result["store"]
        assert [a.status for a in store.attempts()] == ["solved"] * 4
        assert sum("does not answer" in n for n in notes.lines) == 1, notes.lines  # reported once
        assert not any("did not reach" in n for n in notes.lines), notes.lines  # and nothing was lost
        reference = expected_spans(store)
        want = {(s.trace_id, s.span_id, s.parent_id) for _, spans in reference.values() for s in spans}
        got = late.wait_spans("ab-down-up", len(want))
        assert {(s["context"]["trace_id"], s["context"]["span_id"], s["parent_id"]) for s in got} == want
        assert len({s["context"]["trace_id"] for s in got}) == 4
        store.close()
    finally:
        late.stop()


def test_an_unreachable_collector_costs_the_run_nothing(tmp_path):
    store = RunStore.in_dir(tmp_path)
    store.set_meta("config", {"name": "x", "graph": "null"})
    from agentbench.events import AttemptEnd, AttemptStart
    from agentbench.protocols import AttemptRecord

    record = AttemptRecord(task_id="t", epoch=0, status="failed")
    events = [AttemptStart(seq=0, t_start=1.0, t_end=1.0), AttemptEnd(seq=1, t_start=2.0, t_end=2.0, status="failed")]
    attempt_id = store.add_attempt(record, events, 1.0, 2.0)
    notes: list[str] = []
    sink = LiveOtlpSink(store.path, f"http://127.0.0.1:{free_port()}", store.redactor.text, notes.append,
                        flush_timeout_s=3.0)
    slowest = 0.0
    for _ in range(500):
        t0 = time.perf_counter()
        sink.attempt_stored(attempt_id, record, events, 1.0, 2.0)
        slowest = max(slowest, time.perf_counter() - t0)
    assert slowest < 0.05
    t0 = time.perf_counter()
    sink.close()
    assert time.perf_counter() - t0 < 6.0
    assert sum("does not answer" in n for n in notes) == 1
    assert [n for n in notes if "did not reach" in n] and sink.sent == 0
    store.close()


def test_the_model_server_joins_the_trace(tmp_path, phoenix):
    from langchain_core.messages import HumanMessage

    from agentbench.config.schema import ExperimentConfig
    from agentbench.export.otel import export_run
    from agentbench.models import embedded
    from agentbench.models.client import ChatSettings, RetryPolicy, build_chat_model
    from agentbench.models.server import ManagedServer
    from agentbench.tracing.tracer import Tracer, trace_headers

    cfg = ExperimentConfig(tracing={"otlp_endpoint": phoenix.url, "service_name": "ab-vllm"})
    spec = embedded.vllm_server_spec(cfg.model, embedded.venv_python(), str(embedded.model_dir()), tracing=cfg.tracing)
    store = RunStore.in_dir(tmp_path)
    store.set_meta("config", cfg.model_dump(mode="json"))

    async def one_attempt():
        async with ManagedServer(spec, tmp_path / "server.log") as server:
            model = build_chat_model(ChatSettings(base_url=server.base_url, model=cfg.model.name, max_tokens=8),
                                     RetryPolicy(), headers=trace_headers)  # the runner passes this hook
            tracer = Tracer()
            t0 = time.time()
            tracer.record("attempt_start", t0, task_id="hello", epoch=0)
            await model.ainvoke([HumanMessage("Say hi.")], config={"callbacks": [tracer]})
            tracer.record("attempt_end", time.time(), status="failed")
            from agentbench.protocols import AttemptRecord

            record = AttemptRecord(task_id="hello", epoch=0, status="failed", totals=tracer.totals)
            store.add_attempt(record, tracer.events, t0, time.time())
        return tracer  # leaving the block stopped vLLM: its batch span processor flushed what it held

    tracer = asyncio.run(one_attempt())
    export_run(store, phoenix.url)
    (call,) = [e for e in tracer.events if e.type == "model_call"]
    spans = phoenix.wait_spans("ab-vllm", 3, timeout_s=90)  # root, chat, and vLLM's llm_request
    server_spans = [s for s in spans if s["name"] == "llm_request"]
    assert server_spans, [s["name"] for s in spans]
    (vllm_span,) = server_spans
    assert vllm_span["context"]["trace_id"] == tracer.trace_id
    assert vllm_span["parent_id"] == call.payload["span_id"]  # under our chat span
    assert seconds(vllm_span["start_time"]) >= call.t_start - 0.5
    store.close()
