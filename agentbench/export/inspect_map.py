"""One attempt as an Inspect AI `EvalSample`: its conversation as chat messages, its traced events as an
Inspect transcript, its outcome as a score. No I/O (inspect_log.py reads the store and writes the file);
inspect_ai is imported inside the functions (it is the optional extra `agentbench[inspect]`).

What goes where (docs/exports.md has the whole table):

- `id` = task id, `epoch` = agentbench epoch + 1 (Inspect counts epochs from 1, agentbench from 0).
- `input`: the task prompt as the first model call saw it (`inspect_conversation.prompt_of`), else as the
  `attempt_start` event recorded it; a run from before attempts recorded it gets a note instead. `target`: the expected answer the GAIA
  scorer recorded, else "".
- `messages`: the conversation as it ended (`inspect_conversation.final`: the last model call's prompt and
  reply, as Inspect's `messages` is the final chat state); every earlier call's own prompt is in its model
  event. LangChain tool calls become assistant tool calls, tool results tool messages. Sandbox commands a
  text-protocol graph ran reach the model as user messages (the observation), so they are there as the
  model saw them, and each is also a sandbox event in the transcript. No model call: the prompt note alone.
- `output`: the last assistant message of `messages`, with the attempt's token totals as usage.
- `events` (in the order of the attempt's span tree, tracing/tree.py): node → span (inside the span of
  the node it runs in), model_call → model event (its prompt, reply, tokens, latency), sandbox_exec →
  sandbox event, tool_call → tool event, score → an intermediate score event (the scorer's own value),
  error → error event, retry / patch / attempt_start / attempt_end → info events.
- `scores["agentbench"]`: `C` (solved) or `I` (failed, limit); an `error` attempt is unscored (NaN, the
  value Inspect's metrics skip) and carries `error` (Inspect's errored sample), as agentbench leaves errors
  out of every rate. `metadata` holds status, reason, the scorer's value and the limits.
- `model_usage`: {model: prompt, completion and total tokens of the attempt}; `total_time`: the try's
  store times (start to end, grading included); `working_time`: model time + sandbox time.
- `limit`: an attempt that hit a limit, as Inspect's `turn` (steps), `token` or `time` limit.
- `error_retries`: the older tries of the same (task, epoch) (`error` tries a `--resume` ran again).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentbench.events import (AttemptStart, ErrorEvent, Event, ModelCall, NodeEnd, SandboxExec, ScoreEvent,
                               ToolCall)
from agentbench.export.inspect_conversation import ROLES, Conversation, conversation, final, prompt_of, text_of
from agentbench.protocols import AttemptRecord, Limits
from agentbench.tracing.tree import Closed, NodeSpan, span_tree

if TYPE_CHECKING:
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ChatMessage

SCORER = "agentbench"
NO_PROMPT = "(the prompt is not in the store: this graph made no model call, in a run from before attempts recorded it)"
LIMIT_TYPES = {"steps": "turn", "tokens": "token", "time": "time", "supersteps": "custom"}

Text = Callable[[str], str]


def model_name(identity: dict[str, Any]) -> str:
    """Inspect's `provider/model` name of the run's model; `none/none` for a graph without one (as Inspect
    names its own no-model solvers)."""
    provider, name = identity.get("provider"), identity.get("served_model_name")
    if not provider or provider == "none" or not name:
        return "none/none"
    return f"{provider}/{name}"


def when(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)


def chat_messages(conv: Conversation, model: str, text: Text, value: Callable[[Any], Any]) -> list[ChatMessage]:
    """The conversation as Inspect chat messages (ids `m0`, `m1`, ...; tool calls `call-<m>-<k>`, each tool
    message linked to the oldest unanswered call of the reply before it)."""
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageTool, ChatMessageUser
    from inspect_ai.tool import ToolCall

    out: list[ChatMessage] = []
    pending: list[tuple[str, str]] = []
    for i, message in enumerate(conv.messages):
        role = ROLES.get(message.get("role") or "", "user")
        content, mid = text(text_of(message.get("content"))), f"m{i}"
        if role == "assistant":
            calls = []
            for k, call in enumerate(message.get("tool_calls") or []):
                args = call.get("args") if isinstance(call, dict) else None
                calls.append(ToolCall(id=f"call-{i}-{k}", function=text(str(call.get("name") or "tool")),
                                      arguments=value(args if isinstance(args, dict) else {"input": args})))
            pending = [(c.id, c.function) for c in calls]
            out.append(ChatMessageAssistant(id=mid, content=content, tool_calls=calls or None, model=model,
                                            source="generate"))
        elif role == "tool":
            call_id, function = pending.pop(0) if pending else (None, None)
            out.append(ChatMessageTool(id=mid, content=content, tool_call_id=call_id, function=function))
        elif role == "system":
            out.append(ChatMessageSystem(id=mid, content=content))
        else:
            out.append(ChatMessageUser(id=mid, content=content))
    return out


def _usage(prompt: int, completion: int):
    from inspect_ai.model import ModelUsage

    return ModelUsage(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)


def _output(model: str, reply: ChatMessage | None, usage=None, latency: float | None = None):
    from inspect_ai.model import ChatCompletionChoice, ModelOutput

    if reply is None:
        return ModelOutput(model=model, usage=usage, time=latency)
    choice = ChatCompletionChoice(message=reply, stop_reason="tool_calls" if reply.tool_calls else "stop")
    return ModelOutput(model=model, choices=[choice], usage=usage, time=latency)


def transcript(events: list[Event], conv: Conversation, chat: list[ChatMessage], model: str, text: Text,
               value: Callable[[Any], Any], uid: str = "event") -> list[Any]:
    """The attempt's events as Inspect transcript events (see the module doc), in store order; each one's
    uuid is `<uid>-<seq>`, so an export is the same every time."""
    from inspect_ai._util.error import EvalError
    from inspect_ai import event as inspect_event  # its ErrorEvent and ScoreEvent, beside ours
    from inspect_ai.event import InfoEvent, ModelEvent, SandboxEvent, SpanBeginEvent, SpanEndEvent, ToolEvent
    from inspect_ai.model import GenerateConfig
    from inspect_ai.scorer import Score
    from inspect_ai.tool import ToolCallError

    tree = span_tree(events)
    t0 = tree.events[0].t_start if tree.events else 0.0
    calls = {e.seq: i for i, e in enumerate(e for e in tree.events if isinstance(e, ModelCall))}
    out: list[Any] = []
    for step, holder in tree.walk():
        e = step.start if isinstance(step, NodeSpan) else step.event if isinstance(step, Closed) else step
        span = f"span-{holder.start.seq}" if holder is not None else None
        base = {"uuid": f"{uid}-{e.seq}", "timestamp": when(e.t_start), "working_start": max(0.0, e.t_start - t0),
                "span_id": span}
        match step:
            case NodeSpan():
                sid = f"span-{e.seq}"
                out.append(SpanBeginEvent(id=sid, parent_id=span, type="node", name=text(step.name or "node"),
                                          **{**base, "span_id": sid}))
            case Closed():
                sid = f"span-{step.span.start.seq}"
                out.append(SpanEndEvent(id=sid, **{**base, "timestamp": when(e.t_end), "span_id": sid}))
            case NodeEnd():  # closes no span (its node_start is not in the store)
                pass
            case ModelCall():
                n = calls[step.seq]
                prompt = [chat[i] for i in conv.prompts[n]] if n < len(conv.prompts) else []
                reply_at = conv.replies[n] if n < len(conv.replies) else None
                usage = _usage(step.prompt_tokens, step.completion_tokens)
                reply = chat[reply_at] if reply_at is not None else None
                latency = float(step.latency_s or (step.t_end - step.t_start))
                out.append(ModelEvent(model=model, input=prompt, tools=[], tool_choice="auto", config=GenerateConfig(),
                                      output=_output(model, reply, usage, latency), completed=when(step.t_end),
                                      working_time=latency, error="cancelled by a limit" if step.cancelled else None,
                                      **base))
            case SandboxExec():
                action = step.kind if step.kind in ("read_file", "write_file") else "exec"
                output = "\n".join(s for s in (step.stdout, step.stderr) if s)
                flags = {"truncated": step.truncated, "timed_out": step.timed_out, "cancelled": step.cancelled}
                out.append(SandboxEvent(action=action, cmd=text(step.command), result=step.exit_code,
                                        output=text(output), completed=when(step.t_end),
                                        options={k: v for k, v in flags.items() if v} or None, **base))
            case ToolCall():
                out.append(ToolEvent(id=f"tool-{step.seq}", function=text(step.tool or "tool"),
                                     arguments={"input": text(step.input or "")}, result=text(step.output or ""),
                                     completed=when(step.t_end),
                                     error=ToolCallError(type="unknown", message=text(step.error)) if step.error
                                     else None, failed=bool(step.error) or None,
                                     working_time=step.t_end - step.t_start, **base))
            case ScoreEvent():
                # the scorer's own verdict (the sample's score is the status): intermediate, its value as given
                out.append(inspect_event.ScoreEvent(score=Score(value=float(step.value), metadata=value(
                    {"passed": step.passed, "value": step.value, "env_error": step.env_error})),
                    scorer=SCORER, intermediate=True, **base))
            case ErrorEvent():
                message = text(step.error or "error")
                out.append(inspect_event.ErrorEvent(error=EvalError(
                    message=message, traceback=text(step.traceback or message), traceback_ansi=""), **base))
            case _:  # attempt_start, attempt_end, retry, patch
                out.append(InfoEvent(source=f"agentbench.{step.type}", data=value(step.payload), **base))
    return out


def score(record: AttemptRecord, limits: Limits, text: Text, value: Callable[[Any], Any]):
    """The attempt's Inspect score: C / I, or unscored (NaN) for `error` (see the module doc)."""
    from inspect_ai.scorer import Score

    explanation = record.status + (f" ({record.reason})" if record.reason else "")
    if record.error:
        explanation += f": {record.error}"
    metadata = value({"status": record.status, "reason": record.reason, "passed": record.score.passed
                      if record.score else None, "value": record.score.value if record.score else None,
                      "limits": limits.model_dump(mode="json"),
                      **{k: v for k, v in record.metadata.items() if k.startswith("limit_")}})
    answer = record.answer if record.answer is not None else record.patch
    answer = None if answer is None else text(answer)
    if record.status == "error":
        return Score.unscored(reason=record.reason or "error", answer=answer, explanation=text(explanation),
                              metadata=metadata)
    return Score(value="C" if record.status == "solved" else "I", answer=answer, explanation=text(explanation),
                 metadata=metadata)


def sample_uuid(run_uid: str, attempt_id: int) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"agentbench:{run_uid}:{attempt_id}").hex


def sample(attempt_id: int, record: AttemptRecord, events: list[Event], t_start: float, t_end: float, *,
           model: str, limits: Limits, run_uid: str, text: Text, value: Callable[[Any], Any],
           retries: list[AttemptRecord] = ()) -> EvalSample:
    """One (task, epoch) — its newest try — as an Inspect sample (see the module doc)."""
    from inspect_ai._util.error import EvalError
    from inspect_ai.log import EvalRetryError, EvalSample, EvalSampleLimit
    from inspect_ai.model import ChatMessageUser

    uid = sample_uuid(run_uid, attempt_id)
    conv = conversation(e for e in events if isinstance(e, ModelCall))
    chat = chat_messages(conv, model, text, value)
    prompt = prompt_of(conv)
    if prompt is None:  # no model call: the task's prompt as the attempt recorded it (runs since it does)
        prompt = next((e.prompt for e in events if isinstance(e, AttemptStart)), None)
    prompt = NO_PROMPT if prompt is None else text(str(prompt))
    messages = [chat[i] for i in final(conv)] or [ChatMessageUser(id="m0", content=prompt)]
    last = next((m for m in reversed(messages) if m.role == "assistant"), None)
    totals = record.totals
    usage = _usage(totals.usage.prompt_tokens, totals.usage.completion_tokens)
    expected = (record.score.details.get("expected") if record.score else None)
    limit = None
    if record.status == "limit" and record.reason in LIMIT_TYPES:
        bound = {"steps": limits.max_steps, "tokens": limits.max_tokens, "time": limits.timeout_s,
                 "supersteps": limits.supersteps}[record.reason]
        limit = EvalSampleLimit(type=LIMIT_TYPES[record.reason], limit=float(bound),
                                reason=text(record.error) if record.error else None)
    error = None
    if record.status == "error":
        trace = next((e.traceback for e in reversed(events) if isinstance(e, ErrorEvent) and e.traceback), None)
        message = text(record.error or record.reason or "error")
        error = EvalError(message=message, traceback=text(trace) if trace else message, traceback_ansi="")
    return EvalSample(
        id=text(record.task_id), epoch=record.epoch + 1, input=prompt,
        target=text(str(expected)) if expected is not None else "",
        messages=messages, output=_output(model, last, usage), scores={SCORER: score(record, limits, text, value)},
        metadata=value({"status": record.status, "reason": record.reason, "attempt_id": attempt_id,
                        "steps": totals.steps, "tool_calls": totals.tool_calls, "wall_clock_s": totals.wall_clock_s,
                        "model_time_s": totals.model_time_s, "sandbox_time_s": totals.sandbox_time_s,
                        "overhead_s": totals.overhead_s, "first_test_step": totals.first_test_step,
                        "submit_step": totals.submit_step, **record.metadata}),
        events=transcript(events, conv, chat, model, text, value, uid),
        model_usage={model: usage} if model != "none/none" or totals.usage.total_tokens else {},
        started_at=when(t_start).isoformat(), completed_at=when(t_end).isoformat(),
        total_time=round(t_end - t_start, 3), working_time=round(totals.model_time_s + totals.sandbox_time_s, 3),
        uuid=uid, error=error, limit=limit, turn_count=totals.steps,
        token_limit=limits.max_tokens, token_limit_usage=totals.usage.total_tokens,
        time_limit=int(limits.timeout_s),
        error_retries=[EvalRetryError(message=text(r.error or r.status), traceback=text(r.error or r.status),
                                      traceback_ansi="") for r in retries] or None,
    )
