"""The per-attempt trace data report.html embeds: one compact, clipped JSON blob per attempt.

Each attempt's events become `[seq, type, node, start_s, duration_s, payload]` rows (times from the
attempt's start), in the order of its span tree (agentbench/tracing/tree.py: a node's events between its
node_start and node_end rows, which the page nests as they come; `payload`: the event's fields as stored);
model calls keep only the prompt messages the previous call did not have (`p_from`, `p_r`, `p_new`,
`p_len`), so a long conversation is stored once, and long strings keep their head and tail (`clip`). `embed_json` escapes `<`, `>` and `&` so no string can close the `<script
type="application/json">` element it is placed in. The page's script (`html_assets/report.js`) parses a
blob and builds its DOM only when the trace is opened.

Pure: no I/O (`report.html.load_attempts` reads the attempts from the store).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentbench.events import Event, ModelCall, ScoreEvent
from agentbench.protocols import AttemptRecord
from agentbench.text import clip as clip_text
from agentbench.tracing.tree import event_of, span_tree

MAX_TEXT = 20_000
"""Characters of one string (a message, a command's output) kept in the report; the store has them all."""
MAX_LONG = 200_000
"""Characters kept of a final patch or a test log."""


@dataclass(frozen=True)
class AttemptData:
    """One attempt as the report sees it: its store id, its record and its events in order."""

    id: int
    record: AttemptRecord
    events: list[Event]


def embed_json(value: Any) -> str:
    """JSON safe to place inside `<script type="application/json">`: no `<`, `>` or `&` survive, so
    neither `</script>` nor `<!--` can appear; JSON.parse gives back the same value."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


_MARKER = "\n… [{dropped:,} characters left out of this report; `agentbench show --full` has them] …\n"


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Head and tail of a long string with a marker saying how much was left out (agentbench.text.clip)."""
    return clip_text(text, limit, head=limit * 3 // 4, marker=_MARKER)


def _clip_all(value: Any, limit: int = MAX_TEXT) -> Any:
    if isinstance(value, str):
        return clip(value, limit)
    if isinstance(value, dict):
        return {k: _clip_all(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip_all(v, limit) for v in value]
    return value


def _common_prefix(a: list[Any], b: list[Any]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _model_call(call: ModelCall, prev: ModelCall | None) -> dict[str, Any]:
    """A model call with only the prompt messages the previous call did not have.

    `p_from`: how many leading messages equal the previous call's; `p_r`: 1 when the previous reply comes
    next (it is not repeated); `p_new`: the rest; `p_len`: the prompt's length. The page rebuilds a full
    prompt from these on demand, so a 100-step conversation is stored once, not 100 times.
    """
    messages = call.messages
    prev_messages = prev.messages if prev is not None else []
    start = _common_prefix(messages, prev_messages)
    new = messages[start:]
    prev_reply = (prev.reply if prev is not None else None) or {}
    as_message = {"role": "ai", "content": prev_reply.get("content")}  # how the next prompt carries a reply
    if prev_reply.get("tool_calls"):
        as_message["tool_calls"] = prev_reply["tool_calls"]
    follows = bool(prev and new and start == len(prev_messages) and new[0] == as_message)
    out = {k: v for k, v in call.payload.items() if k not in ("messages", "latency_s")}
    out.update(p_from=start, p_len=len(messages), p_r=int(follows), p_new=new[1:] if follows else new)
    return _clip_all(out)


def _score_payload(events: list[Event], record: AttemptRecord) -> dict[str, Any] | None:
    for e in reversed(events):
        if isinstance(e, ScoreEvent):
            return e.payload  # the verdict as the scorer recorded it
    return record.score.model_dump(mode="json") if record.score else None


def trace_data(attempt: AttemptData) -> dict[str, Any]:
    """The compact trace blob of one attempt: its result, totals and events as
    `[seq, type, node, start (s from the attempt's start), duration (s), payload]`."""
    record, events = attempt.record, attempt.events
    t0 = events[0].t_start if events else 0.0
    rows: list[list[Any]] = []
    prev_call: ModelCall | None = None
    for step, _ in span_tree(events).walk():
        e = event_of(step)
        payload: dict[str, Any]
        if isinstance(e, ModelCall):
            payload = _model_call(e, prev_call)
            prev_call = e
        elif isinstance(e, ScoreEvent):
            payload = {"passed": e.passed, "value": e.value}
        else:
            payload = _clip_all({k: v for k, v in e.payload.items() if k != "duration_s"})
        rows.append([e.seq, e.type, e.node, round(e.t_start - t0, 4), round(e.t_end - e.t_start, 4), payload])
    score = _score_payload(events, record)
    if score is not None:
        score = _clip_all(score, MAX_LONG)
    totals = record.totals.model_dump(mode="json")
    totals.update(steps=record.totals.steps, overhead_s=record.totals.overhead_s,
                  tokens=record.totals.usage.total_tokens)
    return {"id": attempt.id, "task": record.task_id, "epoch": record.epoch, "status": record.status,
            "answer": record.answer, "error": record.error, "metadata": _clip_all(record.metadata),
            "patch": None if record.patch is None else clip(record.patch, MAX_LONG),
            "score": score, "totals": totals, "ev": rows}
