"""The trace's events: one pydantic class per event type, and `Event`, their union discriminated on `type`.

Every event has `seq` (its place in the attempt), `t_start`, `t_end` (epoch seconds; a point event has
t_end = t_start) and `node` (the graph node it happened in, None outside one); its other fields are its
type's. The store keeps the common fields as columns and the rest as one JSON object (`payload`: the
fields that were set, in declaration order, so a stored row reads as the tracer wrote it); it reads rows
back through `EVENTS` (one TypeAdapter), where a field a writer did not record gets its default and a key
no class declares is kept as an extra (`payload` gives it back). The type strings are the stored `type`
column, unchanged since the first store.

`build(cls, seq, t_start, t_end, node, fields)` is the tracer's constructor: no validation (the tracer's
fields are typed where it makes them; this is the per-step hot path), cheaper than `model_construct`.
Imports nothing of agentbench: protocols.py re-exports `Event` and `EventType`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

EventType = Literal[
    "attempt_start", "node_start", "node_end", "model_call", "tool_call",
    "sandbox_exec", "retry", "patch", "score", "error", "attempt_end",
]
ExecKind = Literal["bash", "read_file", "write_file"]
COMMON = frozenset({"seq", "type", "t_start", "t_end", "node"})
"""The fields every event has (the store's columns); the others are its payload."""


class EventBase(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    seq: int
    t_start: float
    t_end: float
    node: str | None = Field(None, description="the graph node it happened in (None outside one)")

    @property
    def payload(self) -> dict[str, Any]:
        """Its own fields as the store keeps them: those that were set, in declaration order, then any key
        it was read with that no class declares. The same objects, not copies (a read-only view)."""
        was_set = self.__pydantic_fields_set__
        out = {k: v for k, v in self.__dict__.items() if k in was_set and k not in COMMON}
        if self.__pydantic_extra__:
            out.update(self.__pydantic_extra__)
        return out


class AttemptStart(EventBase):
    type: Literal["attempt_start"] = "attempt_start"
    task_id: str = ""
    epoch: int = 0
    prompt: str | None = Field(None, description="the task's prompt (None in runs from before it was recorded)")
    trace_id: str | None = Field(None, description="the attempt's W3C trace id (docs/tracing.md)")


class NodeStart(EventBase):
    type: Literal["node_start"] = "node_start"


class NodeEnd(EventBase):
    """Carries its node's start as `t_start` (so it names the span it closes)."""

    type: Literal["node_end"] = "node_end"
    error: str | None = Field(None, description="the exception that ended the node")
    cancelled: bool = Field(False, description="cut off by a limit (the time budget)")


class ModelCall(EventBase):
    type: Literal["model_call"] = "model_call"
    messages: list[dict[str, Any]] = Field(default_factory=list, description="the prompt, LangChain roles")
    reply: dict[str, Any] | None = Field(None, description="`role`, `content`, `tool_calls`? (None: cancelled)")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float | None = None
    cancelled: bool = Field(False, description="cut off by a limit: no reply, tokens unknown (0)")
    span_id: str | None = Field(None, description="the span id drawn when the call started (its traceparent)")
    finish_reason: str | None = None


class ToolCall(EventBase):
    """A LangChain tool the graph ran (recorded when it ends; the sandbox commands it ran come before it)."""

    type: Literal["tool_call"] = "tool_call"
    output: str | None = None
    error: str | None = None
    cancelled: bool = False
    tool: str | None = None
    input: str | None = None


class SandboxExec(EventBase):
    type: Literal["sandbox_exec"] = "sandbox_exec"
    kind: ExecKind = "bash"
    command: str = ""
    exit_code: int | None = None
    duration_s: float | None = None
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    timed_out: bool = False
    cancelled: bool = Field(False, description="cut off by a limit; its time to the cancellation counted")


class Retry(EventBase):
    """A model request the transport retried (during the call it delayed)."""

    type: Literal["retry"] = "retry"
    attempt: int = 0
    reason: str = ""
    wait_s: float = 0.0


class Patch(EventBase):
    type: Literal["patch"] = "patch"
    chars: int = 0
    files: int = 0
    at_limit: bool = False


class ScoreEvent(EventBase):
    """The scorer's verdict (the fields of `protocols.Score`)."""

    type: Literal["score"] = "score"
    passed: bool = False
    value: float = 0.0
    details: dict[str, Any] = Field(default_factory=dict)
    env_error: str | None = None


class ErrorEvent(EventBase):
    """What ended the attempt (or one model call, then with its `span_id`), or a scorer crash."""

    type: Literal["error"] = "error"
    source: str = Field("", description="whose: agent, limit, model, sandbox, scorer, environment, infra")
    reason: str | None = None
    error: str = ""
    which: str | None = Field(None, description="the limit, for source `limit`")
    traceback: str | None = None
    span_id: str | None = Field(None, description="the failed model call's span id")
    worker: str | None = Field(None, description="node_lost: the Ray node that died (stored as `node` before)")


class AttemptEnd(EventBase):
    type: Literal["attempt_end"] = "attempt_end"
    status: str = ""
    reason: str | None = None


Event = Annotated[Union[AttemptStart, NodeStart, NodeEnd, ModelCall, ToolCall, SandboxExec, Retry, Patch,
                        ScoreEvent, ErrorEvent, AttemptEnd], Field(discriminator="type")]
EVENTS: TypeAdapter[Event] = TypeAdapter(Event)
"""The one adapter the store reads events through."""
CLASSES: dict[str, type[EventBase]] = {c.model_fields["type"].default: c for c in (
    AttemptStart, NodeStart, NodeEnd, ModelCall, ToolCall, SandboxExec, Retry, Patch, ScoreEvent, ErrorEvent,
    AttemptEnd)}
"""Type string -> class."""

EventT = TypeVar("EventT", bound=EventBase)
_DEFAULTS: dict[type, tuple[dict[str, Any], tuple[tuple[str, Any], ...]]] = {}


def _defaults(cls: type[EventBase]) -> tuple[dict[str, Any], tuple[tuple[str, Any], ...]]:
    """A class's payload defaults in declaration order (`type` included), and its default factories."""
    found = _DEFAULTS.get(cls)
    if found is None:
        plain = {k: f.default for k, f in cls.model_fields.items() if k not in COMMON - {"type"}}
        factories = tuple((k, f.default_factory) for k, f in cls.model_fields.items() if f.default_factory)
        found = _DEFAULTS[cls] = (plain, factories)
    return found


def build(cls: type[EventT], seq: int, t_start: float, t_end: float, node: str | None,
          fields: dict[str, Any]) -> EventT:
    """`cls` with these fields, unvalidated (the tracer's hot path; `model_construct` does the same, slower).
    A key `cls` does not declare raises TypeError: a producer's typo is caught where it is made."""
    plain, factories = _defaults(cls)
    if not fields.keys() <= plain.keys():
        raise TypeError(f"{cls.__name__} has no field {sorted(fields.keys() - plain.keys())}")
    values = {"seq": seq, "t_start": t_start, "t_end": t_end, "node": node, **plain}
    for key, factory in factories:
        if key not in fields:
            values[key] = factory()
    values.update(fields)
    event = cls.__new__(cls)
    object.__setattr__(event, "__dict__", values)
    object.__setattr__(event, "__pydantic_fields_set__", {"seq", "t_start", "t_end", "node", *fields})
    object.__setattr__(event, "__pydantic_extra__", None)
    object.__setattr__(event, "__pydantic_private__", None)
    return event
