"""One attempt: a fresh sandbox, the graph built for it, the traced run, the score, one status.

Status rules (docs/design.md, Outcome taxonomy): a budget hit is `limit`; anything that is not the agent's
doing — the model server unreachable after retries, the sandbox failing, the scorer crashing, the graph
raising — is `error`, never `failed`.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import openai
from langchain_core.messages import HumanMessage
from langgraph.errors import GraphRecursionError
from pydantic import BaseModel

from agentbench.protocols import (AgentContext, AttemptRecord, Event, GraphFactory, LimitExceeded, Limits,
                                  Outcome, SandboxProvider, Score, Scorer, Task)
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


COLLECT_TIMEOUT_S = 180.0  # the scorer's `collect` (swe: git diff), outside the attempt's time budget
_DIFF_FILE = re.compile(r"(?m)^diff --git ")


def diff_files(patch: str) -> int:
    """How many files a unified diff touches (its `diff --git` sections)."""
    return len(_DIFF_FILE.findall(patch))


def _is_limit(exc: BaseException, graph_budget: asyncio.Timeout | None) -> bool:
    """A budget hit (steps, tokens, the time budget, the model's context full), not a fault."""
    if isinstance(exc, TimeoutError):
        return graph_budget is not None and graph_budget.expired()
    if isinstance(exc, openai.BadRequestError):
        return is_context_overflow(exc)
    return isinstance(exc, (LimitExceeded, GraphRecursionError))


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


def _recursion_limit(limits: Limits) -> int:
    return max(25, limits.max_steps * 4 + 10)


async def run_attempt(task: Task, epoch: int, deps: AttemptDeps) -> AttemptResult:
    tracer = Tracer(max_tokens=deps.limits.max_tokens)
    token = current_tracer.set(tracer)
    t0 = time.time()
    tracer.record("attempt_start", t0, task_id=task.id, epoch=epoch)
    answer: str | None = None
    patch: str | None = None
    collected = Outcome()
    score = None
    error: str | None = None
    status = "error"
    budget: asyncio.Timeout | None = None
    t_score: float | None = None  # the agent's work ends here; grading (SWE-bench: a test run) is not its time
    graph_budget: asyncio.Timeout | None = None
    try:
        async with asyncio.timeout(deps.limits.timeout_s) as budget:  # opening the sandbox counts too
            async with deps.sandboxes.open(task) as sandbox:
                deadline = budget.when()
                budget.reschedule(None)  # from here the graph's own budget runs: a limit hit keeps the sandbox
                ctx = AgentContext(model=deps.make_model(attempt_seed(deps.seed, task.id, epoch)),
                                   tools=SandboxTools(sandbox, tracer, deps.command_timeout_s),
                                   task=task, limits=deps.limits, params=deps.params)
                graph = deps.factory(ctx)
                stopped: BaseException | None = None
                try:
                    async with asyncio.timeout_at(deadline) as graph_budget:
                        final = await graph.ainvoke(
                            {"messages": [HumanMessage(content=task.prompt)]},
                            config={"callbacks": [tracer], "recursion_limit": _recursion_limit(deps.limits)})
                except (LimitExceeded, GraphRecursionError, TimeoutError, openai.BadRequestError) as exc:
                    if not _is_limit(exc, graph_budget):
                        raise
                    stopped, final = exc, {}
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
                    raise stopped
        answer = final.get("answer") if isinstance(final, dict) else None
        answer = None if answer is None else str(answer)
        t_score = time.time()
        score, error = await _grade(deps, task, collected.model_copy(update={"answer": answer}), tracer)
        if score is not None:
            status = "solved" if score.passed else "failed"
            if score.env_error:  # the environment failed, not the agent
                status, error = "error", f"environment: {score.env_error}"
    except LimitExceeded as exc:
        status, error = "limit", str(exc)
        tracer.record("error", time.time(), source="limit", which=exc.which, error=error)
    except GraphRecursionError as exc:
        status, error = "limit", f"steps limit reached: {exc}"
        tracer.record("error", time.time(), source="limit", which="steps", error=error)
    except TimeoutError as exc:
        if (budget is not None and budget.expired()) or (graph_budget is not None and graph_budget.expired()):
            status, error = "limit", f"time limit reached: {deps.limits.timeout_s:.0f} s"
            tracer.record("error", time.time(), source="limit", which="time", error=error)
        else:  # a timeout inside the graph or the sandbox, not the attempt's budget
            status, error = "error", f"TimeoutError: {exc}"
            tracer.record("error", time.time(), source="infra", error=error, traceback=traceback.format_exc(limit=12))
    except openai.BadRequestError as exc:
        if is_context_overflow(exc):  # the agent's conversation outgrew the model: a token budget hit
            status, error = "limit", f"tokens limit reached: the model's context is full ({exc.message})"
            tracer.record("error", time.time(), source="limit", which="tokens", error=error)
        else:
            status, error = "error", f"{type(exc).__name__}: {exc}"
            tracer.record("error", time.time(), source="infra", error=error, traceback=traceback.format_exc(limit=12))
    except Exception as exc:
        status, error = "error", f"{type(exc).__name__}: {exc}"
        tracer.record("error", time.time(), source="infra", error=error, traceback=traceback.format_exc(limit=12))
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
    tracer.record("attempt_end", t1, status=status)
    record = AttemptRecord(task_id=task.id, epoch=epoch, status=status, answer=answer, patch=patch, score=score,
                           error=error,
                           totals=tracer.totals, metadata=metadata)
    return AttemptResult(record=record, events=tracer.events, t_start=t0, t_end=t1)


def environment_error(task: Task, epoch: int, reason: str) -> AttemptResult:
    """The attempt of a task whose environment could not be made or does not run its tests: `error`, with
    the reason, before any model call (the agent is never charged for it)."""
    tracer = Tracer()
    t0 = time.time()
    tracer.record("attempt_start", t0, task_id=task.id, epoch=epoch)
    tracer.record("error", t0, source="environment", error=reason)
    tracer.record("attempt_end", t0, status="error")
    record = AttemptRecord(task_id=task.id, epoch=epoch, status="error", error=f"environment: {reason}",
                           totals=tracer.totals, metadata={"level": task.metadata.get("level"), "env_error": True})
    return AttemptResult(record=record, events=tracer.events, t_start=t0, t_end=t0)
