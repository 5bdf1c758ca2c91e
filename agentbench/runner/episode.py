"""One attempt: a fresh sandbox, the graph built for it, the traced run, the score, one status.

Status rules (docs/design.md, Outcome taxonomy; the attribution rule is `attribute`, docs/metrics.md): a
budget hit is `limit`; an exception raised by the graph's own code is the agent's (`failed`, reason
`agent_error`); anything that is not the agent's doing — the model endpoint failing after retries, the
sandbox failing, the scorer crashing — is `error`, never `failed`.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
import openai
from langchain_core.messages import HumanMessage
from langgraph.errors import GraphRecursionError
from pydantic import BaseModel

from agentbench.protocols import (AgentContext, AnswerSource, AttemptRecord, Event, GraphFactory, LimitExceeded, Limits,
                                  Outcome, SandboxError, SandboxProvider, Score, Scorer, Task)
from agentbench.runner.answers import out_of_supersteps, take_answer
from agentbench.runner.refusals import is_tool_choice_refusal
from agentbench.runner.tools import SandboxTools
from agentbench.tracing.tracer import Tracer

# The tracer of the attempt running in this asyncio task (model retries are recorded through it).
current_tracer: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar("current_tracer", default=None)


@dataclass(frozen=True)
class AttemptDeps:
    """Everything an attempt needs, passed in (the runner builds it once per run)."""

    make_model: Callable[[int], Any]  # seed -> chat model
    sandboxes: SandboxProvider
    factory: GraphFactory
    scorer: Scorer
    limits: Limits
    params: dict[str, Any] = field(default_factory=dict)
    command_timeout_s: float | None = None
    seed: int = 0


class AttemptResult(BaseModel):
    record: AttemptRecord
    events: list[Event]
    t_start: float
    t_end: float


def attempt_seed(base: int, task_id: str, epoch: int) -> int:
    """Stable per (task, epoch), different across epochs so repeated epochs sample independently."""
    import zlib

    return (base * 1_000_003 + zlib.crc32(task_id.encode()) + epoch * 7919) % (2**31)


_CONTEXT_OVERFLOW = re.compile(r"context length|context window|maximum context|too many tokens|prompt is too long",
                               re.IGNORECASE)


def is_context_overflow(exc: openai.BadRequestError) -> bool:
    """vLLM and OpenAI answer 400 when prompt + max_tokens exceed the model's context."""
    return bool(_CONTEXT_OVERFLOW.search(str(exc)))


TRACEBACK_FRAMES = 15  # the innermost frames of an error's traceback kept in its `error` event
COLLECT_TIMEOUT_S = 180.0  # the scorer's `collect` (swe: git diff), outside the attempt's time budget
_DIFF_FILE = re.compile(r"(?m)^diff --git ")


def diff_files(patch: str) -> int:
    """How many files a unified diff touches (its `diff --git` sections)."""
    return len(_DIFF_FILE.findall(patch))


# The model client's own exception types: the endpoint failed (after the transport's retries), not the agent.
MODEL_FAULTS: tuple[type[BaseException], ...] = (openai.APIError, httpx.HTTPError)
AUTH_FAULTS: tuple[type[BaseException], ...] = (openai.AuthenticationError, openai.PermissionDeniedError)


@dataclass
class Verdict:
    """What an exception that ended the attempt means: status, reason code, the error text, the `error`
    event's source (and for a limit, which one)."""

    status: str
    reason: str
    error: str
    source: str
    which: str | None = None
    exc: BaseException | None = None


def exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc`, what caused it (`__cause__`, `__context__` unless suppressed) and group members, each once."""
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        if isinstance(item, BaseExceptionGroup):
            stack.extend(item.exceptions)
        stack.append(item.__cause__)
        if not item.__suppress_context__:
            stack.append(item.__context__)
    return seen


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def attribute(exc: BaseException, *, budget_expired: bool, in_graph: bool,
              model_faults: list[BaseException] = (), time_limit_s: float = 0.0, supersteps: int = 0) -> Verdict:
    """The attribution rule (docs/metrics.md, Attribution). Limits first: the time budget expired, a
    LimitExceeded / GraphRecursionError, the model's context full. Then infrastructure, anywhere in the
    exception's chain: the model client's types (openai.APIError, httpx.HTTPError; 401/403 are `auth`, a
    server refusing `tools` is `tool_calls`),
    an exception the tracer saw end a model call, SandboxError. Anything else raised by the graph's own
    code (its factory and `graph.ainvoke`) is the agent's: `failed`, reason `agent_error`; raised outside
    the graph (sandbox open, patch collection) it is `error` (`infra`)."""
    chain = exception_chain(exc)
    if budget_expired:
        return Verdict("limit", "time", f"time limit reached: {time_limit_s:.0f} s", "limit", "time", exc)
    for item in chain:
        if isinstance(item, LimitExceeded):
            return Verdict("limit", item.which, str(item), "limit", item.which, exc)
        if isinstance(item, GraphRecursionError):
            return Verdict("limit", "supersteps", f"supersteps limit reached: {supersteps} graph supersteps without "
                           "reaching END (limits.max_supersteps; raise it if your graph needs more)", "limit",
                           "supersteps", exc)
        if isinstance(item, openai.BadRequestError) and is_context_overflow(item):
            return Verdict("limit", "tokens", f"tokens limit reached: the model's context is full ({item.message})",
                           "limit", "tokens", exc)
    for item in chain:
        if isinstance(item, AUTH_FAULTS):
            return Verdict("error", "auth", _text(item), "model", exc=exc)
        if is_tool_choice_refusal(item):  # the server parses no tool calls: every later attempt would fail too
            return Verdict("error", "tool_calls", _text(item), "model", exc=exc)
        if isinstance(item, MODEL_FAULTS) or any(item is fault for fault in model_faults):
            return Verdict("error", "model", _text(item), "model", exc=exc)
        if isinstance(item, SandboxError):
            return Verdict("error", "sandbox", _text(item), "sandbox", exc=exc)
    if in_graph:
        return Verdict("failed", "agent_error", f"agent error: {_text(exc)}", "agent", exc=exc)
    return Verdict("error", "infra", _text(exc), "infra", exc=exc)


class _Stop(Exception):
    """Carries the verdict on an exception from inside the graph out of the sandbox's context."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.error)
        self.verdict = verdict


async def _grade(deps: AttemptDeps, task: Task, outcome: Outcome, tracer: Tracer) -> tuple[Score | None, str | None]:
    """The scorer's verdict (recorded as the `score` event), or the reason it crashed (infrastructure)."""
    t0 = time.time()
    try:
        score = await deps.scorer.score(task, outcome)
    except Exception as exc:  # the scorer crashing is infrastructure, not the agent
        error = f"scorer crashed: {type(exc).__name__}: {exc}"
        tracer.record("error", t0, time.time(), source="scorer", error=error, traceback=traceback.format_exc(limit=8))
        return None, error
    tracer.record("score", t0, time.time(), **score.model_dump())
    return score, None


async def run_attempt(task: Task, epoch: int, deps: AttemptDeps) -> AttemptResult:
    tracer = Tracer(max_tokens=deps.limits.max_tokens, max_steps=deps.limits.max_steps)
    token = current_tracer.set(tracer)
    t0 = time.time()
    tracer.record("attempt_start", t0, task_id=task.id, epoch=epoch, prompt=task.prompt)
    answer: str | None = None
    answer_source: AnswerSource | None = None
    patch: str | None = None
    collected = Outcome()
    score = None
    error: str | None = None
    reason: str | None = None
    status = "error"
    budget: asyncio.Timeout | None = None
    t_score: float | None = None  # the agent's work ends here; grading (SWE-bench: a test run) is not its time
    try:
        async with asyncio.timeout(deps.limits.timeout_s) as budget:  # opening the sandbox counts too
            async with deps.sandboxes.open(task) as sandbox:
                deadline = budget.when()
                budget.reschedule(None)  # from here the graph's own budget runs: a limit hit keeps the sandbox
                ctx = AgentContext(model=deps.make_model(attempt_seed(deps.seed, task.id, epoch)),
                                   tools=SandboxTools(sandbox, tracer, deps.command_timeout_s),
                                   task=task, limits=deps.limits, params=deps.params)
                stopped: Verdict | None = None
                graph_budget: asyncio.Timeout | None = None
                try:
                    async with asyncio.timeout_at(deadline) as graph_budget:
                        graph = deps.factory(ctx)  # the graph's own code, like its nodes
                        final = await graph.ainvoke(
                            {"messages": [HumanMessage(content=task.prompt)]},
                            config={"callbacks": [tracer], "recursion_limit": deps.limits.supersteps})
                except Exception as exc:
                    tracer.close_open(time.time())  # a call cut off mid-request is still the model's time
                    stopped = attribute(exc, budget_expired=graph_budget is not None and graph_budget.expired(),
                                        in_graph=True, model_faults=tracer.model_faults,
                                        time_limit_s=deps.limits.timeout_s, supersteps=deps.limits.supersteps)
                    if stopped.status != "limit":
                        raise _Stop(stopped) from exc
                    final = {}
                if stopped is None and tracer.refused is not None:  # the graph caught the refusal and went on
                    stopped = attribute(tracer.refused, budget_expired=False, in_graph=True)
                if stopped is None and out_of_supersteps(final):  # the prebuilt agent's way to say it
                    stopped = Verdict("limit", "supersteps", f"supersteps limit reached: the agent stopped one "
                                      f"superstep before {deps.limits.supersteps} (limits.max_supersteps; raise it "
                                      "if your graph needs more)", "limit", "supersteps")
                if stopped is None or deps.limits.on_limit == "grade":
                    # what of the sandbox is the outcome (swe: the repo's diff), taken before it closes
                    # (also at a limit)
                    if (task.kind == "swe" and stopped is None and isinstance(final, dict)
                            and final.get("submitted", True)):
                        tracer.totals.submit_step = tracer.totals.model_calls
                    t_collect = time.time()
                    async with asyncio.timeout(COLLECT_TIMEOUT_S):
                        collected = await deps.scorer.collect(task, sandbox)
                    patch = collected.patch
                    if patch is not None:
                        tracer.record("patch", t_collect, time.time(), chars=len(patch), files=diff_files(patch),
                                      at_limit=stopped is not None)
                if stopped is not None:
                    raise _Stop(stopped)
        answer, answer_source = take_answer(final, task.kind)
        t_score = time.time()
        score, error = await _grade(deps, task, collected.model_copy(update={"answer": answer}), tracer)
        if score is not None:
            status = "solved" if score.passed else "failed"
            if score.env_error:  # the environment failed, not the agent
                status, error, reason = "error", f"environment: {score.env_error}", "environment"
        else:
            reason = "scorer"
    except Exception as exc:
        stop = next((e for e in exception_chain(exc) if isinstance(e, _Stop)), None)  # even if a provider wraps it
        verdict = stop.verdict if stop is not None else attribute(
            exc, budget_expired=budget is not None and budget.expired(), in_graph=False,
            time_limit_s=deps.limits.timeout_s)
        status, reason, error = verdict.status, verdict.reason, verdict.error
        extra: dict[str, Any] = {"which": verdict.which} if verdict.which else {}
        if verdict.status != "limit" and verdict.exc is not None:
            extra["traceback"] = "".join(traceback.format_exception(verdict.exc, limit=-TRACEBACK_FRAMES))
        tracer.record("error", time.time(), source=verdict.source, reason=verdict.reason, error=error, **extra)
    finally:
        current_tracer.reset(token)
    metadata: dict[str, Any] = {"level": task.metadata.get("level")}
    if status == "limit" and patch and patch.strip() and deps.limits.on_limit == "grade":
        t_score = time.time()
        graded, _ = await _grade(deps, task, collected, tracer)
        metadata["limit_graded"] = graded is not None and not graded.env_error
        if graded is not None:
            score = graded
            metadata["limit_resolved"] = bool(graded.passed and metadata["limit_graded"])
            if metadata["limit_resolved"]:
                status = "solved"  # the work left at the limit resolves the task
    t1 = time.time()
    tracer.totals.wall_clock_s = (t_score or t1) - t0
    tracer.record("attempt_end", t1, status=status, **({"reason": reason} if reason else {}))
    record = AttemptRecord(task_id=task.id, epoch=epoch, status=status, answer=answer, answer_source=answer_source,
                           patch=patch, score=score, error=error, reason=reason, totals=tracer.totals,
                           metadata=metadata)
    return AttemptResult(record=record, events=tracer.events, t_start=t0, t_end=t1)


def environment_error(task: Task, epoch: int, reason: str) -> AttemptResult:
    """The attempt of a task whose environment could not be made or does not run its tests: `error`, with
    the reason, before any model call (the agent is never charged for it)."""
    tracer = Tracer()
    t0 = time.time()
    tracer.record("attempt_start", t0, task_id=task.id, epoch=epoch, prompt=task.prompt)
    tracer.record("error", t0, source="environment", reason="environment", error=reason)
    tracer.record("attempt_end", t0, status="error", reason="environment")
    record = AttemptRecord(task_id=task.id, epoch=epoch, status="error", error=f"environment: {reason}",
                           reason="environment",
                           totals=tracer.totals, metadata={"level": task.metadata.get("level"), "env_error": True})
    return AttemptResult(record=record, events=tracer.events, t_start=t0, t_end=t0)
