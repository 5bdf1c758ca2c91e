"""One attempt: a fresh sandbox, the graph built for it, the traced run, the score, one status.

`run_attempt` reads top to bottom: the agent's part (`_run_agent`: open the sandbox, run the graph under
the time budget, collect the outcome) never raises — whatever stopped it early is a `Verdict`
(runner/attribution.py, the attribution rule); then the outcome is graded; then `settle` (pure) makes the
one status decision from the verdict and the score (docs/design.md, Outcome taxonomy).
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
import traceback
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from agentbench.protocols import (AgentContext, AnswerSource, AttemptReason, AttemptRecord, AttemptStatus, Event,
                                  GraphFactory, Limits, Outcome, Sandbox, SandboxProvider, Score, Scorer, Task)
from agentbench.runner.answers import out_of_supersteps, take_answer
from agentbench.runner.attribution import Verdict, attribute, supersteps_verdict
from agentbench.runner.tools import SandboxTools
from agentbench.tracing.tracer import Tracer

# The tracer of the attempt running in this asyncio task (model retries are recorded through it).
current_tracer: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar("current_tracer", default=None)

TRACEBACK_FRAMES = 15  # the innermost frames of an error's traceback kept in its `error` event
COLLECT_TIMEOUT_S = 180.0  # the scorer's `collect` (swe: git diff), outside the attempt's time budget
_DIFF_FILE = re.compile(r"(?m)^diff --git ")


@dataclass(frozen=True)
class AttemptDeps:
    """Everything an attempt needs, passed in (the runner builds it once per run)."""

    make_model: Callable[[int], Any]  # seed -> chat model (None for a graph without one)
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
    return (base * 1_000_003 + zlib.crc32(task_id.encode()) + epoch * 7919) % (2**31)


def diff_files(patch: str) -> int:
    """How many files a unified diff touches (its `diff --git` sections)."""
    return len(_DIFF_FILE.findall(patch))


@dataclass
class AgentRun:
    """What the agent's part of an attempt left: the outcome (the graph's answer, what was collected from
    its sandbox) and what stopped it early (None when the graph finished)."""

    outcome: Outcome = field(default_factory=Outcome)
    answer_source: AnswerSource | None = None
    stopped: Verdict | None = None


@dataclass(frozen=True)
class Ending:
    """The one status decision (`settle`): status, reason, error text, and for a limit graded under
    `on_limit: grade` whether grading counted (`limit_graded`) and resolved the task (`limit_resolved`)."""

    status: AttemptStatus
    reason: AttemptReason | None = None
    error: str | None = None
    limit_graded: bool | None = None
    limit_resolved: bool | None = None


def settle(stopped: Verdict | None, score: Score | None, crash: str | None) -> Ending:
    """The attempt's status, from what stopped the agent early (None: the graph finished) and the grading
    (the score, or why the scorer crashed; neither when nothing was graded). Finished: the scorer decides,
    `error` (`scorer`) when it crashed, `error` (`environment`) when it says the environment failed
    (`Score.env_error`). Stopped: the verdict, except that a limit whose work was graded and resolves the
    task (a score without env_error that passed) is `solved`."""
    if stopped is None:
        if score is None:
            return Ending("error", "scorer", crash)
        if score.env_error:  # the environment failed, not the agent
            return Ending("error", "environment", f"environment: {score.env_error}")
        return Ending("solved" if score.passed else "failed")
    if stopped.status != "limit" or (score is None and crash is None):
        return Ending(stopped.status, stopped.reason, stopped.error)
    graded = score is not None and not score.env_error
    resolved = None if score is None else bool(score.passed and graded)
    return Ending("solved" if resolved else "limit", stopped.reason, stopped.error, graded, resolved)


async def run_attempt(task: Task, epoch: int, deps: AttemptDeps) -> AttemptResult:
    tracer = Tracer(max_tokens=deps.limits.max_tokens, max_steps=deps.limits.max_steps)
    token = current_tracer.set(tracer)
    t0 = time.time()
    tracer.record("attempt_start", t0, task_id=task.id, epoch=epoch, prompt=task.prompt)
    score: Score | None = None
    crash: str | None = None
    t_score: float | None = None  # the agent's work ends here; grading (SWE-bench: a test run) is not its time
    try:
        run = await _run_agent(task, epoch, deps, tracer)
        if run.stopped is not None:
            _record_stop(tracer, run.stopped)
        patch = run.outcome.patch
        if run.stopped is None or (run.stopped.status == "limit" and deps.limits.on_limit == "grade"
                                   and patch and patch.strip()):  # the work left at a limit may resolve the task
            t_score = time.time()
            score, crash = await _grade(deps, task, run.outcome, tracer)
    finally:
        current_tracer.reset(token)
    end = settle(run.stopped, score, crash)
    metadata: dict[str, Any] = {"level": task.metadata.get("level")}
    if end.limit_graded is not None:
        metadata["limit_graded"] = end.limit_graded
    if end.limit_resolved is not None:
        metadata["limit_resolved"] = end.limit_resolved
    t1 = time.time()
    tracer.totals.wall_clock_s = (t_score or t1) - t0
    tracer.record("attempt_end", t1, status=end.status, **({"reason": end.reason} if end.reason else {}))
    record = AttemptRecord(task_id=task.id, epoch=epoch, status=end.status, answer=run.outcome.answer,
                           answer_source=run.answer_source, patch=patch, score=score, error=end.error,
                           reason=end.reason, totals=tracer.totals, metadata=metadata)
    return AttemptResult(record=record, events=tracer.events, t_start=t0, t_end=t1)


async def _run_agent(task: Task, epoch: int, deps: AttemptDeps, tracer: Tracer) -> AgentRun:
    """Open the sandbox (within the time budget), run the graph in it until it ends or the budget runs out,
    collect the outcome (also at a limit, under `on_limit: grade`). Never raises: an exception becomes the
    run's `stopped` verdict; the graph's own verdict wins over a failure closing the sandbox after it."""
    run = AgentRun()
    budget: asyncio.Timeout | None = None
    try:
        async with asyncio.timeout(deps.limits.timeout_s) as budget:  # opening the sandbox counts too
            async with deps.sandboxes.open(task) as sandbox:
                deadline = budget.when()
                budget.reschedule(None)  # from here the graph's own budget runs: a limit hit keeps the sandbox
                final, run.stopped = await _run_graph(task, epoch, deps, tracer, sandbox, deadline)
                if (run.stopped is None and task.kind == "swe" and isinstance(final, dict)
                        and final.get("submitted", True)):
                    tracer.totals.submit_step = tracer.totals.model_calls
                if run.stopped is None or (run.stopped.status == "limit" and deps.limits.on_limit == "grade"):
                    await _collect(task, deps, tracer, sandbox, run)
        if run.stopped is None:  # the sandbox closed cleanly behind a graph that finished
            answer, run.answer_source = take_answer(final, task.kind)
            run.outcome = run.outcome.model_copy(update={"answer": answer})
    except Exception as exc:
        if run.stopped is None:
            run.stopped = attribute(exc, budget_expired=budget is not None and budget.expired(), in_graph=False,
                                    time_limit_s=deps.limits.timeout_s)
    return run


async def _run_graph(task: Task, epoch: int, deps: AttemptDeps, tracer: Tracer, sandbox: Sandbox,
                     deadline: float | None) -> tuple[Any, Verdict | None]:
    """Build the graph (its factory is the graph's own code, like its nodes) and invoke it until `deadline`:
    (its final state, None), or (what it left, the verdict) when a limit or an exception stopped it."""
    ctx = AgentContext(model=deps.make_model(attempt_seed(deps.seed, task.id, epoch)),
                       tools=SandboxTools(sandbox, tracer, deps.command_timeout_s),
                       task=task, limits=deps.limits, params=deps.params)
    graph_budget: asyncio.Timeout | None = None
    try:
        async with asyncio.timeout_at(deadline) as graph_budget:
            graph = deps.factory(ctx)
            final = await graph.ainvoke({"messages": [HumanMessage(content=task.prompt)]},
                                        config={"callbacks": [tracer], "recursion_limit": deps.limits.supersteps})
    except Exception as exc:
        tracer.close_open(time.time())  # a call cut off mid-request is still the model's time
        return {}, attribute(exc, budget_expired=graph_budget is not None and graph_budget.expired(), in_graph=True,
                             model_faults=tracer.model_faults, time_limit_s=deps.limits.timeout_s,
                             supersteps=deps.limits.supersteps)
    if tracer.refused is not None:  # the graph caught the refusal and went on
        return final, attribute(tracer.refused, budget_expired=False, in_graph=True)
    if out_of_supersteps(final):  # the prebuilt agent's way to say it
        return final, supersteps_verdict(deps.limits.supersteps)
    return final, None


async def _collect(task: Task, deps: AttemptDeps, tracer: Tracer, sandbox: Sandbox, run: AgentRun) -> None:
    """What of the sandbox is the outcome (swe: the repo's diff), taken before it closes, into `run`; a
    failure to take it is infrastructure and replaces the verdict."""
    t_collect = time.time()
    try:
        async with asyncio.timeout(COLLECT_TIMEOUT_S):
            collected = await deps.scorer.collect(task, sandbox)
    except Exception as exc:
        run.stopped = attribute(exc, budget_expired=False, in_graph=False, time_limit_s=deps.limits.timeout_s)
        return
    run.outcome = collected
    patch = collected.patch
    if patch is not None:
        tracer.record("patch", t_collect, time.time(), chars=len(patch), files=diff_files(patch),
                      at_limit=run.stopped is not None)


def _record_stop(tracer: Tracer, verdict: Verdict) -> None:
    """The `error` event of what stopped the agent (a limit keeps no traceback)."""
    extra: dict[str, Any] = {"which": verdict.which} if verdict.which else {}
    if verdict.status != "limit" and verdict.exc is not None:
        extra["traceback"] = "".join(traceback.format_exception(verdict.exc, limit=-TRACEBACK_FRAMES))
    tracer.record("error", time.time(), source=verdict.source, reason=verdict.reason, error=verdict.error, **extra)


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


def environment_error(task: Task, epoch: int, reason: str) -> AttemptResult:
    """The attempt of a task whose environment could not be made or does not run its tests: `error`, reason
    `environment`, before any model call (the agent is never charged for it)."""
    tracer = Tracer()
    t0 = time.time()
    tracer.record("attempt_start", t0, task_id=task.id, epoch=epoch, prompt=task.prompt)
    tracer.record("error", t0, source="environment", reason="environment", error=reason)
    tracer.record("attempt_end", t0, status="error", reason="environment")
    record = AttemptRecord(task_id=task.id, epoch=epoch, status="error", error=f"environment: {reason}",
                           reason="environment", totals=tracer.totals, metadata={"level": task.metadata.get("level")})
    return AttemptResult(record=record, events=tracer.events, t_start=t0, t_end=t0)
