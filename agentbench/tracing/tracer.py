"""One attempt's trace: a LangChain callback handler that turns graph nodes, model calls and tool
calls into typed `Event`s, plus `record()` for sandbox commands and retries. It also enforces the
token budget: a model call that would start past `max_tokens` raises LimitExceeded.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from agentbench.commands import is_test_command
from agentbench.protocols import AttemptTotals, Event, EventType, LimitExceeded, Usage


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


class Tracer(BaseCallbackHandler):
    """Collects events in memory; the runner writes them to the store when the attempt ends."""

    run_inline = True
    raise_error = True

    def __init__(self, max_tokens: int | None = None, clock=time.time) -> None:
        self.events: list[Event] = []
        self.totals = AttemptTotals()
        self.max_tokens = max_tokens
        self.current_node: str | None = None
        self._clock = clock
        self._open: dict[UUID, tuple[float, Any]] = {}

    # -- recording -------------------------------------------------------------------------
    def record(self, type_: EventType, t_start: float, t_end: float | None = None, **payload: Any) -> Event:
        # Built without re-validation: the fields are ours and typed here (this is the per-step hot path).
        event = Event.model_construct(seq=len(self.events), type=type_, t_start=t_start,
                                      t_end=t_end if t_end is not None else t_start, node=self.current_node,
                                      payload=payload)
        self.events.append(event)
        return event

    def record_exec(self, cmd: str, t_start: float, exit_code: int, duration_s: float, stdout: str, stderr: str,
                    truncated: bool, timed_out: bool, kind: str = "bash") -> None:
        self.totals.tool_calls += 1
        self.totals.sandbox_time_s += duration_s
        if self.totals.first_test_step is None and kind == "bash" and is_test_command(cmd):
            self.totals.first_test_step = self.totals.model_calls
        self.record("sandbox_exec", t_start, t_start + duration_s, kind=kind, command=cmd, exit_code=exit_code,
                    duration_s=duration_s, stdout=stdout, stderr=stderr, truncated=truncated, timed_out=timed_out)

    # -- graph nodes -------------------------------------------------------------------------
    def on_chain_start(self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID,
                       metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        node = (metadata or {}).get("langgraph_node")
        if node is not None and kwargs.get("name") == node:
            self.current_node = node
            self._open[run_id] = (self._clock(), node)
            self.record("node_start", self._open[run_id][0])

    def _end_node(self, run_id: UUID, error: BaseException | None) -> None:
        opened = self._open.pop(run_id, None)
        if opened is None:
            return
        t0, node = opened
        self.current_node = node
        self.totals.supersteps += 1
        payload = {"error": f"{type(error).__name__}: {error}"} if error else {}
        self.record("node_end", t0, self._clock(), **payload)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_node(run_id, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_node(run_id, error)

    # -- model calls -------------------------------------------------------------------------
    def on_chat_model_start(self, serialized: dict[str, Any] | None, messages: list[list[BaseMessage]], *,
                            run_id: UUID, **kwargs: Any) -> None:
        used = self.totals.usage.total_tokens
        if self.max_tokens is not None and used >= self.max_tokens:
            raise LimitExceeded("tokens", f"{used} tokens used of {self.max_tokens}")
        self._open[run_id] = (self._clock(), [message_dict(m) for m in messages[0]] if messages else [])

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        t0, messages = self._open.pop(run_id, (self._clock(), []))
        t1 = self._clock()
        usage = usage_of(response)
        totals = self.totals
        totals.usage.prompt_tokens += usage.prompt_tokens
        totals.usage.completion_tokens += usage.completion_tokens
        totals.model_calls += 1
        self.totals.model_time_s += t1 - t0
        gen = response.generations[0][0] if response.generations and response.generations[0] else None
        reply = message_dict(gen.message) if gen is not None and hasattr(gen, "message") else {"content": getattr(gen, "text", "")}
        self.record("model_call", t0, t1, messages=messages, reply=reply, prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens, latency_s=t1 - t0)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        t0, _ = self._open.pop(run_id, (self._clock(), []))
        t1 = self._clock()
        self.totals.model_time_s += t1 - t0
        self.record("error", t0, t1, source="model", error=f"{type(error).__name__}: {error}")

    # -- LangChain tools (native tool-calling graphs) ---------------------------------------
    def on_tool_start(self, serialized: dict[str, Any] | None, input_str: str, *, run_id: UUID, **kwargs: Any) -> None:
        self._open[run_id] = (self._clock(), {"tool": (serialized or {}).get("name") or kwargs.get("name"), "input": input_str})

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        t0, info = self._open.pop(run_id, (self._clock(), {}))
        self.record("tool_call", t0, self._clock(), output=str(output)[:4000], **info)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        t0, info = self._open.pop(run_id, (self._clock(), {}))
        self.record("tool_call", t0, self._clock(), error=f"{type(error).__name__}: {error}", **info)
