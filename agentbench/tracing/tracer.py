"""One attempt's trace: a LangChain callback handler that turns graph nodes, model calls and tool
calls into typed events (agentbench/events.py), plus `record_exec()` for sandbox commands and `record()`
(any type, by its type string) for retries and the runner's own events. It also enforces the step
and token budgets for every graph, whichever chat model it calls (callbacks reach any chat model run
inside the graph): the model call past `max_steps` calls, or one that would start once `max_tokens` are
spent, raises LimitExceeded before any request is sent.

A call a limit cancels mid-request (the attempt's time budget) gets no `on_llm_end` / `on_llm_error`
from LangChain: `close_open(t)` ends every model call, node and tool still open at time `t` as a
`cancelled: true` event, and counts the model calls' time (to `t`) as model time, tokens unknown (0).
Exceptions that ended a model call are remembered (`model_faults`): they are the endpoint's, not the
agent's (the episode's attribution rule, docs/metrics.md).

Trace context (docs/tracing.md): each Tracer draws a W3C trace id (recorded in `attempt_start` as
`trace_id`), and each model call a span id when it starts (recorded as `span_id` in its `model_call`, or
in the `error` event of a call that failed), so an OTLP export, live or after the fact, gives the attempt
the same ids, and `trace_headers()` (the model client's header hook) can send that call's `traceparent`
to the model server while the call runs. Cost: one os.urandom per attempt and per model call.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from agentbench.commands import is_test_command
from agentbench.events import (CLASSES, ErrorEvent, Event, EventT, EventType, ExecKind, ModelCall, NodeEnd,
                               NodeStart, SandboxExec, ToolCall, build)
from agentbench.protocols import AttemptTotals, ExecResult, LimitExceeded, Usage


# (trace id, span id) of the model call running in this context: set when a call starts, cleared when it
# ends (LangChain runs inline handlers in the caller's context, so the HTTP request underneath sees it).
_model_span: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("agentbench_model_span",
                                                                                    default=None)


def trace_headers() -> dict[str, str]:
    """The W3C `traceparent` of the model call running in this context ({} outside one): the model
    client's header hook, so a traced model server's spans sit under the call's `chat` span."""
    current = _model_span.get()
    return {"traceparent": f"00-{current[0]}-{current[1]}-01"} if current is not None else {}


def new_span_id() -> str:
    return os.urandom(8).hex()


def finish_reason(gen: Any) -> str | None:
    """Why the model stopped (`stop`, `length`, `tool_calls`), as the endpoint said, where it said."""
    info = getattr(gen, "generation_info", None) or {}
    meta = getattr(getattr(gen, "message", None), "response_metadata", None) or {}
    reason = info.get("finish_reason") or meta.get("finish_reason")
    return str(reason) if reason else None


def message_dict(msg: BaseMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": msg.type, "content": msg.content}
    tool_calls = getattr(msg, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = [{"name": c["name"], "args": c["args"]} for c in tool_calls]
    return out


def usage_of(response: LLMResult) -> Usage:
    """Token usage from the message's usage_metadata (streaming with include_usage, or not)."""
    for gens in response.generations:
        for gen in gens:
            meta = getattr(getattr(gen, "message", None), "usage_metadata", None)
            if meta:
                return Usage(prompt_tokens=meta.get("input_tokens", 0), completion_tokens=meta.get("output_tokens", 0))
    usage = (response.llm_output or {}).get("token_usage") or {}
    return Usage(prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0))


class _LimitRefusals(logging.Filter):
    """Drops LangChain's "Error in Tracer.on_chat_model_start callback: LimitExceeded(...)" warning: a
    refused call is the budget working (recorded as the attempt's `limit`), not a callback bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.args and any(isinstance(arg, str) and arg.startswith("LimitExceeded(")
                                        for arg in record.args) and "Tracer" in record.args)


def quiet_limit_refusals() -> None:
    """Install `_LimitRefusals` on LangChain's callback manager logger, once."""
    logger = logging.getLogger("langchain_core.callbacks.manager")
    if not any(isinstance(f, _LimitRefusals) for f in logger.filters):
        logger.addFilter(_LimitRefusals())


class Tracer(BaseCallbackHandler):
    """Collects events in memory; the runner writes them to the store when the attempt ends."""

    run_inline = True
    raise_error = True

    def __init__(self, max_tokens: int | None = None, clock=time.time, max_steps: int | None = None) -> None:
        self.events: list[Event] = []
        self.totals = AttemptTotals()
        self.max_tokens = max_tokens
        self.max_steps = max_steps
        if max_steps is not None or max_tokens is not None:
            quiet_limit_refusals()
        self.calls_started = 0  # model calls let through (a concurrent or failed one counts once started)
        self.refused: LimitExceeded | None = None  # the first model call the budgets refused
        self.trace_id = os.urandom(16).hex()  # the attempt's W3C trace id (recorded in attempt_start)
        self.current_node: str | None = None
        self._clock = clock
        self._open: dict[UUID, tuple[float, Any]] = {}  # graph nodes: start, node name
        self._open_models: dict[UUID, tuple[float, Any, str]] = {}  # model calls: start, messages, span id
        self._open_tools: dict[UUID, tuple[float, Any]] = {}  # LangChain tools: start, {tool, input}
        self.model_faults: list[BaseException] = []  # exceptions that ended a model call

    # -- recording -------------------------------------------------------------------------
    def add(self, cls: type[EventT], t_start: float, t_end: float | None = None, **fields: Any) -> EventT:
        """Append a `cls` event in the current node (unvalidated: the fields are ours and typed where they
        are made; this is the per-step hot path). A field `cls` does not have raises TypeError."""
        event = build(cls, len(self.events), t_start, t_start if t_end is None else t_end, self.current_node,
                      fields)
        self.events.append(event)
        return event

    def record(self, type_: EventType, t_start: float, t_end: float | None = None, **fields: Any) -> Event:
        """An event of type `type_` (its class from the type string), e.g. `record("retry", t, attempt=1,
        reason="HTTP 500", wait_s=0.5)`; `attempt_start` gets this attempt's `trace_id`."""
        if type_ == "attempt_start":
            fields.setdefault("trace_id", self.trace_id)
        return self.add(CLASSES[type_], t_start, t_end, **fields)

    def record_exec(self, cmd: str, result: ExecResult, t_start: float, *, kind: ExecKind = "bash",
                    cancelled: bool = False) -> SandboxExec:
        """One sandbox call and its result; `cancelled`: cut off by a limit, its time to the cancellation
        (`result.duration_s`) still counted."""
        totals, duration = self.totals, result.duration_s
        totals.tool_calls += 1
        totals.sandbox_time_s += duration
        if totals.first_test_step is None and kind == "bash" and is_test_command(cmd):
            totals.first_test_step = totals.model_calls
        extra = {"cancelled": True} if cancelled else {}
        return self.add(SandboxExec, t_start, t_start + duration, kind=kind, command=cmd,
                        exit_code=result.exit_code, duration_s=duration, stdout=result.stdout, stderr=result.stderr,
                        truncated=result.truncated, timed_out=result.timed_out, **extra)

    # -- graph nodes -------------------------------------------------------------------------
    def on_chain_start(self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID,
                       metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        node = (metadata or {}).get("langgraph_node")
        if node is not None and kwargs.get("name") == node:
            self.current_node = node
            self._open[run_id] = (self._clock(), node)
            self.add(NodeStart, self._open[run_id][0])

    def _end_node(self, run_id: UUID, error: BaseException | None) -> None:
        opened = self._open.pop(run_id, None)
        if opened is None:
            return
        t0, node = opened
        self.current_node = node
        self.totals.supersteps += 1
        if isinstance(error, asyncio.CancelledError):  # cut off by a limit (the time budget)
            self.add(NodeEnd, t0, self._clock(), cancelled=True)
        elif error is not None:
            self.add(NodeEnd, t0, self._clock(), error=f"{type(error).__name__}: {error}")
        else:
            self.add(NodeEnd, t0, self._clock())

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_node(run_id, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_node(run_id, error)

    # -- model calls -------------------------------------------------------------------------
    def on_chat_model_start(self, serialized: dict[str, Any] | None, messages: list[list[BaseMessage]], *,
                            run_id: UUID, **kwargs: Any) -> None:
        used = self.totals.usage.total_tokens
        refusal: LimitExceeded | None = None
        if self.max_tokens is not None and used >= self.max_tokens:
            refusal = LimitExceeded("tokens", f"{used} tokens used of {self.max_tokens}")
        elif self.max_steps is not None and self.calls_started >= self.max_steps:
            refusal = LimitExceeded("steps", f"{self.calls_started} model calls made of limits.max_steps "
                                             f"{self.max_steps}; the next one was refused")
        if refusal is not None:
            self.refused = self.refused or refusal  # kept: a graph that catches it still hit the limit
            raise refusal
        self.calls_started += 1
        span_id = new_span_id()
        self._open_models[run_id] = (self._clock(), [message_dict(m) for m in messages[0]] if messages else [],
                                     span_id)
        _model_span.set((self.trace_id, span_id))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        t0, messages, span_id = self._open_models.pop(run_id, None) or (self._clock(), [], new_span_id())
        _model_span.set(None)
        t1 = self._clock()
        usage = usage_of(response)
        totals = self.totals
        totals.usage.prompt_tokens += usage.prompt_tokens
        totals.usage.completion_tokens += usage.completion_tokens
        totals.model_calls += 1
        self.totals.model_time_s += t1 - t0
        gen = response.generations[0][0] if response.generations and response.generations[0] else None
        reply = message_dict(gen.message) if gen is not None and hasattr(gen, "message") else {"content": getattr(gen, "text", "")}
        self.add(ModelCall, t0, t1, messages=messages, reply=reply, prompt_tokens=usage.prompt_tokens,
                 completion_tokens=usage.completion_tokens, latency_s=t1 - t0, span_id=span_id,
                 finish_reason=finish_reason(gen))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        opened = self._open_models.pop(run_id, None)
        if opened is None:  # already closed by close_open (a late callback of a cancelled call)
            return
        _model_span.set(None)
        t0, messages, span_id = opened
        t1 = self._clock()
        self.totals.model_time_s += t1 - t0
        if isinstance(error, asyncio.CancelledError):
            self._cancelled_call(t0, t1, messages, span_id)
            return
        self.model_faults.append(error)
        self.add(ErrorEvent, t0, t1, source="model", error=f"{type(error).__name__}: {error}", span_id=span_id)

    def _cancelled_call(self, t0: float, t1: float, messages: Any, span_id: str) -> None:
        self.add(ModelCall, t0, t1, messages=messages, reply=None, prompt_tokens=0, completion_tokens=0,
                 latency_s=t1 - t0, cancelled=True, span_id=span_id)

    def close_open(self, t: float | None = None) -> int:
        """End what a cancellation left open at `t` (default now): model calls become `model_call` events
        with `cancelled: true` and no tokens, their time counted as model time (not `model_calls`, which
        counts completed calls); tools a `tool_call`, nodes a `node_end`, both `cancelled: true`.
        Returns how many model calls were closed."""
        t = self._clock() if t is None else t
        models = sorted(self._open_models.items(), key=lambda item: item[1][0])
        self._open_models.clear()
        for _, (t0, messages, span_id) in models:
            self.totals.model_time_s += max(0.0, t - t0)
            self._cancelled_call(t0, t, messages, span_id)
        for _, (t0, info) in sorted(self._open_tools.items(), key=lambda item: item[1][0]):
            self.add(ToolCall, t0, t, cancelled=True, **info)
        self._open_tools.clear()
        for _, (t0, node) in sorted(self._open.items(), key=lambda item: item[1][0], reverse=True):
            self.current_node = node
            self.add(NodeEnd, t0, t, cancelled=True)
        self._open.clear()
        return len(models)

    # -- LangChain tools (native tool-calling graphs) ---------------------------------------
    def on_tool_start(self, serialized: dict[str, Any] | None, input_str: str, *, run_id: UUID, **kwargs: Any) -> None:
        self._open_tools[run_id] = (self._clock(), {"tool": (serialized or {}).get("name") or kwargs.get("name"),
                                                     "input": input_str})

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        t0, info = self._open_tools.pop(run_id, (self._clock(), {}))
        self.add(ToolCall, t0, self._clock(), output=str(output)[:4000], **info)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        t0, info = self._open_tools.pop(run_id, (self._clock(), {}))
        self.add(ToolCall, t0, self._clock(), error=f"{type(error).__name__}: {error}", **info)
