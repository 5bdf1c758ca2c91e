"""A stored try as OpenTelemetry span descriptions: pure mapping, no SDK, no I/O (docs/tracing.md).

One trace per try: a root `invoke_agent` span (task, epoch, try, status, score, totals), a span per graph
node (`node_start` … `node_end`, OpenInference `graph.node.*`; nested as agentbench/tracing/tree.py nests
them: a subgraph's nodes under the node running it), under its node a `chat` span per model
call (`model_call`, or the `error` event of a call that failed: it carries the call's `span_id`) and an
`execute_tool` span per sandbox command (`sandbox_exec`) and LangChain tool (`tool_call`; a command run
inside a tool's time sits under that tool). Point events become span events: `retry` on the call it
delayed, `score`, `patch` and `error` on the root, and the verdict as one `gen_ai.evaluation.result`.
Attributes follow the OTel GenAI conventions and OpenInference's (`openinference.span.kind`, `llm.*`),
so Phoenix renders the tree natively and any OTLP backend reads the GenAI names.

Ids are stable: the trace id is the one the tracer drew (`attempt_start.trace_id`), a chat span's id the
one it drew when the call started (and sent to the model server as `traceparent`), every other id is
derived from the trace id and the event's `seq`; a store without recorded ids gets a trace id derived from
run uid, task, epoch and try. So a live export and one after the fact give the same ids and timestamps.
Text that could be content (prompts, replies, command output, answers) is included only with
`content=True`; every string passes `redact` (the store's Redactor) on its way out.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentbench.events import (AttemptStart, ErrorEvent, Event, ModelCall, NodeEnd, Patch, Retry, SandboxExec,
                               ScoreEvent, ToolCall)
from agentbench.protocols import AttemptRecord
from agentbench.tracing.tree import Closed, NodeSpan, span_tree

CONTENT_CHARS = 32_000  # each exported text is cut there (a marker says so)
COMMAND_CHARS = 2_000  # the command of an execute_tool span (exported without content too)
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(slots=True)
class SpanEventSpec:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class SpanSpec:
    """One span, SDK-free: ids as lower-case hex, times in ns since the epoch, `status` unset/ok/error."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    kind: str  # internal | client
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[SpanEventSpec] = field(default_factory=list)
    status: str = "unset"
    status_message: str = ""


@dataclass(frozen=True)
class RunInfo:
    """What every trace of a run shares: the resource, the model, the graph, whether content goes out."""

    resource: dict[str, Any]
    run_uid: str
    graph: str
    model: str
    provider: str
    server_address: str | None = None
    server_port: int | None = None
    request: dict[str, Any] = field(default_factory=dict)  # gen_ai.request.* sampling settings
    content: bool = False


@dataclass(frozen=True)
class TryInfo:
    """The stored try a trace describes (attempt row fields not in the record)."""

    attempt_id: int
    try_: int
    t_start: float
    t_end: float


def run_info(meta: Callable[[str], Any], content: bool | None = None, service_name: str | None = None,
             version: str = "unknown") -> RunInfo:
    """From the store's meta (`config`, `run_id`, `run_uid`, `model_identity`): the same for a live
    export and one after the fact. `content`/`service_name` default to the run's `tracing` section."""
    from urllib.parse import urlsplit

    config = meta("config") or {}
    tracing = config.get("tracing") or {}
    model_cfg = config.get("model") or {}
    identity = meta("model_identity") or {}
    service = service_name or tracing.get("service_name") or "agentbench"
    run_uid = str(meta("run_uid") or meta("run_id") or "")
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    suite = config.get("suite") or {}
    resource = {"service.name": service, "service.version": version, "openinference.project.name": service,
                "agentbench.run.id": str(meta("run_id") or ""), "agentbench.run.uid": run_uid,
                "agentbench.experiment.name": str(config.get("name") or ""),
                "agentbench.experiment.config_sha256": digest, "agentbench.graph": str(config.get("graph") or ""),
                "agentbench.suite": str(suite.get("name") or ""),
                "agentbench.model": str(identity.get("served_model_name") or model_cfg.get("name") or "")}
    provider = identity.get("server") or identity.get("provider") or model_cfg.get("provider") or "openai"
    if provider in ("embedded", "vllm"):
        provider = "vllm"
    parts = urlsplit(str(identity.get("base_url") or ""))
    request = {f"gen_ai.request.{k}": model_cfg.get(k) for k in ("temperature", "top_p", "max_tokens")}
    return RunInfo(resource=resource, run_uid=run_uid, graph=str(config.get("graph") or "agent"),
                   model=resource["agentbench.model"], provider=str(provider), server_address=parts.hostname,
                   server_port=parts.port, request={k: v for k, v in request.items() if v is not None},
                   content=bool(tracing.get("export_content", False) if content is None else content))


def derived_id(seed: str, hex_chars: int) -> str:
    """A stable, non-zero id of `hex_chars` hex digits from `seed`."""
    out = hashlib.blake2b(seed.encode(), digest_size=hex_chars // 2).hexdigest()
    return out if out.strip("0") else "1".rjust(hex_chars, "0")


def _valid(value: Any, hex_chars: int) -> str | None:
    if isinstance(value, str) and len(value) == hex_chars and _HEX.match(value) and value.strip("0"):
        return value
    return None


def trace_id_of(info: RunInfo, record: AttemptRecord, try_: int, events: list[Event]) -> str:
    for event in events:
        if isinstance(event, AttemptStart):
            recorded = _valid(event.trace_id, 32)
            if recorded:
                return recorded
            break
    return derived_id(f"{info.run_uid}/{record.task_id}/{record.epoch}/{try_}", 32)


def _ns(t: float) -> int:
    return int(round(t * 1e9))


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """OTLP takes str, bool, int, float (and lists of one of them): None is dropped, others become text."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, (str, bool, int, float)):
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            out[key] = list(value)
        else:
            out[key] = json.dumps(value, default=str, ensure_ascii=False)
    return out


class _Mapper:
    """The spans of one try (see the module doc); `redact` is applied to every string that goes out."""

    def __init__(self, info: RunInfo, redact: Callable[[str], str]) -> None:
        self.info = info
        self.redact = redact

    def text(self, value: Any, limit: int = CONTENT_CHARS) -> str:
        text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
        if len(text) > limit:
            text = text[:limit] + f"… [{len(text) - limit} more characters]"
        return self.redact(text)

    def spans(self, record: AttemptRecord, tried: TryInfo, events: list[Event]) -> list[SpanSpec]:
        info = self.info
        tree = span_tree(events)
        trace_id = trace_id_of(info, record, tried.try_, tree.events)
        root = SpanSpec(name=f"invoke_agent {info.graph}", trace_id=trace_id,
                        span_id=derived_id(trace_id + "/root", 16), parent_id=None, kind="internal", start_ns=_ns(tried.t_start),
                        end_ns=_ns(max(tried.t_end, tried.t_start)), attributes=self.root_attributes(record, tried))
        if record.status == "error":
            root.status, root.status_message = "error", self.text(record.error or record.reason or "error", 1000)
        spans = [root]
        made: dict[int, SpanSpec] = {}  # seq of a node_start or a tool_call -> its span
        chats: list[SpanSpec] = []
        execs: list[tuple[SandboxExec, SpanSpec]] = []
        points: list[Retry | ScoreEvent | Patch | ErrorEvent] = []
        last_score: ScoreEvent | None = None
        for step, holder in tree.walk():
            parent = made[holder.start.seq] if holder is not None else root
            match step:
                case NodeSpan():
                    span = made[step.start.seq] = self.node_span(trace_id, parent, holder, step)
                    spans.append(span)
                case Closed():
                    self.end_node(made[step.span.start.seq], step.event)
                case ErrorEvent(span_id=None | ""):  # what ended the attempt, or a scorer crash: a point
                    points.append(step)
                case ModelCall() | ErrorEvent():  # an error with a span id: the model call that failed
                    chats.append(self.chat_span(trace_id, parent, step))
                    spans.append(chats[-1])
                case SandboxExec() | ToolCall():
                    span = self.tool_span(trace_id, parent, step)
                    if isinstance(step, ToolCall):
                        made[step.seq] = span
                    else:
                        execs.append((step, span))
                    spans.append(span)
                case Retry() | ScoreEvent() | Patch():
                    points.append(step)
                    last_score = step if isinstance(step, ScoreEvent) else last_score
        for node in tree.spans:  # a node never ended (a store cut short): ends with the try
            if node.end is None:
                span = made[node.start.seq]
                span.end_ns = max(span.start_ns, root.end_ns)
                span.attributes["agentbench.unfinished"] = True
        for exec_, span in execs:  # a sandbox command run by a LangChain tool sits under that tool
            if (tool := tree.tool_of.get(exec_.seq)) is not None:
                span.parent_id = made[tool.seq].span_id
        for event in points:
            self.point(root, chats, event)
        verdict_t = last_score.t_end if last_score is not None else tried.t_end
        root.events.append(SpanEventSpec("gen_ai.evaluation.result", _ns(verdict_t), self.verdict(record)))
        return spans

    # -- spans ---------------------------------------------------------------------------------------
    def root_attributes(self, record: AttemptRecord, tried: TryInfo) -> dict[str, Any]:
        info, totals, score = self.info, record.totals, record.score
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": info.graph,
            "gen_ai.provider.name": info.provider, "gen_ai.request.model": info.model,
            "openinference.span.kind": "AGENT", "agent.name": info.graph,
            "graph.node.id": info.graph, "graph.node.name": info.graph,
            "agentbench.task.id": self.redact(record.task_id), "agentbench.epoch": record.epoch,
            "agentbench.try": tried.try_, "agentbench.attempt.id": tried.attempt_id,
            "agentbench.status": record.status, "agentbench.reason": record.reason,
            "agentbench.score": score.value if score is not None else None,
            "agentbench.passed": score.passed if score is not None else None,
            "agentbench.error": self.text(record.error, 1000) if record.error else None,
            "agentbench.usage.input_tokens": totals.usage.prompt_tokens,
            "agentbench.usage.output_tokens": totals.usage.completion_tokens,
            "agentbench.model_calls": totals.model_calls, "agentbench.tool_calls": totals.tool_calls,
            "agentbench.supersteps": totals.supersteps, "agentbench.wall_clock_s": totals.wall_clock_s,
            "agentbench.model_time_s": totals.model_time_s, "agentbench.sandbox_time_s": totals.sandbox_time_s,
            "metadata": json.dumps({"task_id": self.redact(record.task_id), "epoch": record.epoch, "try": tried.try_,
                                    "status": record.status, "reason": record.reason}),
        }
        if info.content and record.answer is not None:
            attrs.update({"output.value": self.text(record.answer), "output.mime_type": "text/plain"})
        return _clean(attrs)

    def node_span(self, trace_id: str, parent: SpanSpec, holder: NodeSpan | None, node_span: NodeSpan) -> SpanSpec:
        event, node = node_span.start, self.redact(node_span.name)
        attrs = {"openinference.span.kind": "CHAIN", "graph.node.id": node, "graph.node.name": node,
                 "graph.node.parent_id": self.redact(holder.name) if holder is not None else self.info.graph,
                 "agentbench.node": node}
        return SpanSpec(name=node or "node", trace_id=trace_id, span_id=derived_id(f"{trace_id}/n{event.seq}", 16),
                        parent_id=parent.span_id, kind="internal", start_ns=_ns(event.t_start),
                        end_ns=_ns(event.t_start), attributes=attrs)

    def end_node(self, span: SpanSpec, event: NodeEnd) -> None:
        span.end_ns = max(span.start_ns, _ns(event.t_end))
        if event.cancelled:
            span.attributes["agentbench.cancelled"] = True
        if event.error:
            span.status, span.status_message = "error", self.text(event.error, 1000)

    def chat_span(self, trace_id: str, parent: SpanSpec, event: ModelCall | ErrorEvent) -> SpanSpec:
        info = self.info
        latency = event.latency_s if isinstance(event, ModelCall) and event.latency_s is not None else None
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": info.provider,
            "gen_ai.request.model": info.model, **info.request,
            "server.address": info.server_address, "server.port": info.server_port,
            "openinference.span.kind": "LLM", "llm.model_name": info.model, "llm.provider": info.provider,
            "agentbench.latency_s": event.t_end - event.t_start if latency is None else latency,
        }
        if isinstance(event, ModelCall):
            tokens_in, tokens_out = event.prompt_tokens, event.completion_tokens
            attrs.update({"gen_ai.usage.input_tokens": tokens_in, "gen_ai.usage.output_tokens": tokens_out,
                          "llm.token_count.prompt": tokens_in, "llm.token_count.completion": tokens_out,
                          "llm.token_count.total": tokens_in + tokens_out})
            if event.finish_reason:
                attrs["gen_ai.response.finish_reasons"] = [event.finish_reason]
                attrs["llm.finish_reason"] = event.finish_reason
            if event.cancelled:
                attrs["agentbench.cancelled"] = True
            if info.content:
                attrs.update(self.messages(event.messages, event.reply))
        span = SpanSpec(name=f"chat {info.model}", trace_id=trace_id,
                        span_id=_valid(event.span_id, 16) or derived_id(f"{trace_id}/e{event.seq}", 16),
                        parent_id=parent.span_id, kind="client", start_ns=_ns(event.t_start),
                        end_ns=_ns(max(event.t_end, event.t_start)), attributes={})
        if isinstance(event, ErrorEvent):
            message = self.text(event.error or "error", 1000)
            attrs["error.type"] = message.partition(":")[0] or "error"
            span.status, span.status_message = "error", message
            span.events.append(SpanEventSpec("exception", _ns(event.t_end), {"exception.message": message}))
        span.attributes = _clean(attrs)
        return span

    def messages(self, messages: list[Any], reply: Any) -> dict[str, Any]:
        """Prompt and completion (content only): OpenInference per-message keys, GenAI JSON arrays."""
        attrs: dict[str, Any] = {}
        prompt = [m for m in messages if isinstance(m, Mapping)]
        for i, m in enumerate(prompt):
            attrs[f"llm.input_messages.{i}.message.role"] = str(m.get("role", ""))
            attrs[f"llm.input_messages.{i}.message.content"] = self.text(m.get("content", ""))
        if isinstance(reply, Mapping):
            attrs["llm.output_messages.0.message.role"] = "assistant"
            attrs["llm.output_messages.0.message.content"] = self.text(reply.get("content", ""))
            for j, call in enumerate(reply.get("tool_calls") or []):
                prefix = f"llm.output_messages.0.message.tool_calls.{j}.tool_call.function"
                attrs[f"{prefix}.name"] = self.redact(str(call.get("name", "")))
                attrs[f"{prefix}.arguments"] = self.text(call.get("args", {}))
            attrs["output.value"] = attrs["llm.output_messages.0.message.content"]
            attrs["gen_ai.output.messages"] = self.text([{"role": "assistant", "parts": [
                {"type": "text", "content": reply.get("content", "")}]}])
        if prompt:
            attrs["input.value"] = self.text(prompt[-1].get("content", ""))
            attrs["gen_ai.input.messages"] = self.text([{"role": m.get("role"), "parts": [
                {"type": "text", "content": m.get("content", "")}]} for m in prompt])
        return attrs

    def tool_span(self, trace_id: str, parent: SpanSpec, event: SandboxExec | ToolCall) -> SpanSpec:
        content = self.info.content
        tool = (event.kind if isinstance(event, SandboxExec) else event.tool) or "tool"
        attrs: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                                 "gen_ai.tool.type": "function", "openinference.span.kind": "TOOL", "tool.name": tool}
        if isinstance(event, SandboxExec):
            stdout, stderr = event.stdout, event.stderr
            attrs.update({"agentbench.command": self.text(event.command, COMMAND_CHARS),
                          "agentbench.exit_code": event.exit_code,
                          "agentbench.duration_s": event.t_end - event.t_start if event.duration_s is None
                          else event.duration_s,
                          "agentbench.timed_out": event.timed_out, "agentbench.truncated": event.truncated,
                          "agentbench.stdout_chars": len(stdout), "agentbench.stderr_chars": len(stderr)})
            if content:
                attrs.update({"input.value": self.text(event.command), "output.value": self.text(
                    stdout + (f"\n[stderr]\n{stderr}" if stderr else ""))})
                attrs["gen_ai.tool.call.arguments"] = attrs["input.value"]
                attrs["gen_ai.tool.call.result"] = attrs["output.value"]
        elif content:
            attrs.update({"input.value": self.text(event.input or ""), "output.value": self.text(event.output or "")})
        if event.cancelled:
            attrs["agentbench.cancelled"] = True
        span = SpanSpec(name=f"execute_tool {tool}", trace_id=trace_id,
                        span_id=derived_id(f"{trace_id}/e{event.seq}", 16), parent_id=parent.span_id,
                        kind="internal", start_ns=_ns(event.t_start), end_ns=_ns(max(event.t_end, event.t_start)),
                        attributes=_clean(attrs))
        if isinstance(event, ToolCall) and event.error:
            span.status, span.status_message = "error", self.text(event.error, 1000)
        return span

    # -- span events ---------------------------------------------------------------------------------
    def point(self, root: SpanSpec, chats: list[SpanSpec], event: Retry | ScoreEvent | Patch | ErrorEvent) -> None:
        t = _ns(event.t_start)
        match event:
            case Retry():
                holder = next((c for c in chats if c.start_ns <= t <= c.end_ns), root)
                holder.events.append(SpanEventSpec("agentbench.retry", t, _clean({
                    "agentbench.retry.attempt": event.attempt, "agentbench.retry.wait_s": event.wait_s,
                    "agentbench.retry.reason": self.text(event.reason, 500)})))
            case ScoreEvent():
                attrs = {"agentbench.score.passed": event.passed, "agentbench.score.value": event.value,
                         "agentbench.score.env_error": self.text(event.env_error, 1000) if event.env_error else None,
                         "agentbench.score.duration_s": event.t_end - event.t_start}
                if self.info.content and event.details:
                    attrs["agentbench.score.details"] = self.text(event.details)
                root.events.append(SpanEventSpec("agentbench.score", _ns(event.t_end), _clean(attrs)))
            case Patch():
                root.events.append(SpanEventSpec("agentbench.patch", _ns(event.t_end), _clean({
                    "agentbench.patch.chars": event.chars, "agentbench.patch.files": event.files,
                    "agentbench.patch.at_limit": event.at_limit})))
            case ErrorEvent():  # an error that ended the attempt (or a scorer crash): an exception on the root
                attrs = {"exception.message": self.text(event.error, 1000), "agentbench.error.which": event.which,
                         "agentbench.error.source": event.source or None, "agentbench.error.reason": event.reason}
                if self.info.content and event.traceback:
                    attrs["exception.stacktrace"] = self.text(event.traceback)
                root.events.append(SpanEventSpec("exception", t, _clean(attrs)))

    def verdict(self, record: AttemptRecord) -> dict[str, Any]:
        """The attempt's verdict as the GenAI evaluation event: its status as the label, the score's value."""
        score = record.score
        explanation = record.error or record.reason
        return _clean({"gen_ai.evaluation.name": "agentbench.verdict", "gen_ai.evaluation.score.label": record.status,
                       "gen_ai.evaluation.score.value": float(score.value) if score is not None else None,
                       "gen_ai.evaluation.explanation": self.text(explanation, 1000) if explanation else None})


def attempt_spans(info: RunInfo, record: AttemptRecord, tried: TryInfo, events: Iterable[Event],
                  redact: Callable[[str], str] = str) -> list[SpanSpec]:
    """The spans of one stored try (root first); see the module doc."""
    return _Mapper(info, redact).spans(record, tried, list(events))
