"""The metric definitions of docs/metrics.md as pure functions over ``list[AttemptRecord]``. No I/O.

Conventions (the outcome taxonomy decides everything):

- An attempt's ``status`` is the truth; ``score`` is not consulted.
- ``error`` attempts (infrastructure) are excluded from every *rate* and *per-success* figure:
  completion rate and its interval, tokens per success, pass@k / pass^k, tasks per hour, per-task
  success rate and means. ``limit`` counts as a failure, reported apart.
- Run *totals* (tokens, model/tool calls, wall-clock split, client throughput) sum every attempt,
  errors included: that is what the run really spent.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

from agentbench.protocols import AttemptRecord
from agentbench.stats import pass_at_k as _pass_at_k
from agentbench.stats import pass_hat_k as _pass_hat_k
from agentbench.stats import clustered_proportion_ci, wilson_interval


def _scored(attempts: Iterable[AttemptRecord]) -> list[AttemptRecord]:
    """Attempts that ended as solved, failed or limit (everything but `error`)."""
    return [a for a in attempts if a.status != "error"]


def _solved(attempts: Iterable[AttemptRecord]) -> list[AttemptRecord]:
    return [a for a in attempts if a.status == "solved"]


def _tokens(a: AttemptRecord) -> int:
    return a.totals.usage.total_tokens


def count_status(attempts: list[AttemptRecord]) -> dict[str, int]:
    """Attempts per status: ``{"solved", "failed", "limit", "error"}`` (all keys present)."""
    counts = {"solved": 0, "failed": 0, "limit": 0, "error": 0}
    for a in attempts:
        counts[a.status] += 1
    return counts


def count_reasons(attempts: list[AttemptRecord]) -> dict[str, dict[str, int]]:
    """Attempts per status and reason code, e.g. ``{"failed": {"agent_error": 2, "wrong": 5}, "error":
    {"model": 1}}``: a `failed` attempt without a reason is `wrong` (the scorer said no), any other without
    one is `-`. Only statuses that occur are keys."""
    out: dict[str, dict[str, int]] = {}
    for a in attempts:
        if a.status == "solved":
            continue
        reason = a.reason or ("wrong" if a.status == "failed" else "-")
        by = out.setdefault(a.status, {})
        by[reason] = by.get(reason, 0) + 1
    return out


def count_answer_sources(attempts: list[AttemptRecord]) -> dict[str, int]:
    """Finished attempts per `answer_source` (`state`, `last_message`, `none`)."""
    out: dict[str, int] = {}
    for a in attempts:
        if a.answer_source is not None:
            out[a.answer_source] = out.get(a.answer_source, 0) + 1
    return out


def completion_rate(attempts: list[AttemptRecord]) -> float | None:
    """solved / (solved + failed + limit); None when there is no non-error attempt."""
    scored = _scored(attempts)
    return len(_solved(scored)) / len(scored) if scored else None


CiMethod = Literal["wilson", "cluster_bootstrap"]


def completion_ci_method(attempts: list[AttemptRecord]) -> CiMethod:
    """How `completion_ci` computes the interval: `cluster_bootstrap` when the non-error attempts span
    more than one epoch (a task's epochs are correlated), else `wilson`."""
    return "cluster_bootstrap" if epochs(_scored(attempts)) > 1 else "wilson"


def completion_ci(attempts: list[AttemptRecord], confidence: float = 0.95) -> tuple[float, float]:
    """Interval of the completion rate; (0.0, 1.0) when there is no non-error attempt.

    One epoch: the Wilson interval. More epochs: the cluster bootstrap over tasks (each task with all
    its epochs; 2000 resamples, seed 0) joined with the Wilson interval (`stats.clustered_proportion_ci`).
    """
    scored = _scored(attempts)
    if completion_ci_method(attempts) == "wilson":
        return wilson_interval(len(_solved(scored)), len(scored), confidence)
    groups = sorted(_by_task(scored).items())
    return clustered_proportion_ci([len(_solved(g)) for _, g in groups], [len(g) for _, g in groups], confidence)


def steps_per_solved(attempts: list[AttemptRecord]) -> float | None:
    """Mean `totals.steps` (model turns) over solved attempts; None when none solved."""
    steps = [a.totals.steps for a in _solved(attempts)]
    return statistics.fmean(steps) if steps else None


def steps_per_solved_median(attempts: list[AttemptRecord]) -> float | None:
    """Median `totals.steps` over solved attempts; None when none solved."""
    steps = [a.totals.steps for a in _solved(attempts)]
    return float(statistics.median(steps)) if steps else None


def tokens_total(attempts: list[AttemptRecord]) -> int:
    """Prompt + completion tokens of every attempt, errors included."""
    return sum(_tokens(a) for a in attempts)


def tokens_per_success(attempts: list[AttemptRecord]) -> float | None:
    """Tokens of all non-error attempts (solved, failed and limit) / solved attempts.

    The honest price of one success, failures included. `error` attempts are left out on purpose:
    an infrastructure failure is not the agent's cost, and `resume` retries those attempts (so
    counting them would also charge the same work twice). None when nothing was solved.
    """
    solved = len(_solved(attempts))
    if solved == 0:
        return None
    return sum(_tokens(a) for a in _scored(attempts)) / solved


def tokens_per_solved_attempt(attempts: list[AttemptRecord]) -> float | None:
    """Mean tokens of the solved attempts only; None when none solved."""
    tokens = [_tokens(a) for a in _solved(attempts)]
    return statistics.fmean(tokens) if tokens else None


def completion_tokens_per_s(attempts: list[AttemptRecord]) -> float | None:
    """Client-side throughput: sum of completion tokens / sum of model wait; None when no model time."""
    model_time = sum(a.totals.model_time_s for a in attempts)
    if model_time <= 0:
        return None
    return sum(a.totals.usage.completion_tokens for a in attempts) / model_time


def tasks_per_hour(attempts: list[AttemptRecord], run_wall_clock_s: float) -> float | None:
    """Non-error attempts finished per hour of run wall-clock; None when the wall-clock is not > 0."""
    if run_wall_clock_s <= 0:
        return None
    return len(_scored(attempts)) * 3600.0 / run_wall_clock_s


def _by_task(attempts: Iterable[AttemptRecord]) -> dict[str, list[AttemptRecord]]:
    groups: dict[str, list[AttemptRecord]] = defaultdict(list)
    for a in attempts:
        groups[a.task_id].append(a)
    return dict(groups)


def epochs(attempts: list[AttemptRecord]) -> int:
    """Number of distinct epochs seen in the run."""
    return len({a.epoch for a in attempts})


def pass_k_curves(attempts: list[AttemptRecord]) -> tuple[dict[int, float], dict[int, float]]:
    """(pass@k, pass^k) for k = 1..epochs, each averaged over tasks; empty when epochs <= 1.

    Per task, n = its non-error attempts and c = its solved ones. A task enters the average for k
    only when n >= k (an errored epoch shrinks its n); a k no task reaches is left out.
    """
    n_epochs = epochs(attempts)
    if n_epochs <= 1:
        return {}, {}
    counts = [(len(group), len(_solved(group))) for group in _by_task(_scored(attempts)).values()]
    at_k: dict[int, float] = {}
    hat_k: dict[int, float] = {}
    for k in range(1, n_epochs + 1):
        eligible = [(n, c) for n, c in counts if n >= k]
        if eligible:
            at_k[k] = statistics.fmean(_pass_at_k(n, c, k) for n, c in eligible)
            hat_k[k] = statistics.fmean(_pass_hat_k(n, c, k) for n, c in eligible)
    return at_k, hat_k


class RunMetrics(BaseModel):
    """One run's headline metrics (see docs/metrics.md)."""

    attempts: int
    solved: int
    failed: int
    limit: int
    error: int
    agent_error: int = Field(0, description="failed attempts whose graph's own code raised (reason agent_error)")
    reasons: dict[str, dict[str, int]] = Field(default_factory=dict, description="status -> reason -> attempts")
    answer_sources: dict[str, int] = Field(default_factory=dict, description="where answers came from: state, "
                                           "last_message, none")
    completion_rate: float | None = Field(description="solved / (solved + failed + limit)")
    completion_ci95: tuple[float, float] = Field(description="95% interval of completion_rate: Wilson, or with "
                                                 "epochs > 1 the cluster bootstrap over tasks (∪ Wilson)")
    completion_ci95_method: CiMethod = Field("wilson", description="`wilson` or `cluster_bootstrap`")
    steps_per_solved: float | None
    steps_per_solved_median: float | None
    tokens_total: int
    prompt_tokens: int
    completion_tokens: int
    tokens_per_success: float | None = Field(description="non-error attempts' tokens / solved")
    tokens_per_solved_attempt: float | None
    wall_clock_s: float = Field(description="run wall-clock")
    attempt_wall_clock_s: float = Field(description="sum of attempts' wall-clock")
    model_time_s: float
    sandbox_time_s: float
    overhead_s: float
    completion_tokens_per_s: float | None
    tasks_per_hour: float | None
    pass_at_k: dict[int, float] = Field(default_factory=dict)
    pass_hat_k: dict[int, float] = Field(default_factory=dict)
    model_calls: int
    tool_calls: int
    steps_to_first_test: dict[str, float | int] | None = Field(
        None, description="coding runs: model calls before the first test run (mean, median, attempts)")
    steps_to_submit: dict[str, float | int] | None = Field(
        None, description="coding runs: model calls when the agent submitted (mean, median, attempts)")


def summarize(attempts: list[AttemptRecord], *, run_wall_clock_s: float) -> RunMetrics:
    """All run metrics from the attempts and the run's wall-clock (seconds)."""
    counts = count_status(attempts)
    at_k, hat_k = pass_k_curves(attempts)
    return RunMetrics(
        attempts=len(attempts),
        solved=counts["solved"],
        failed=counts["failed"],
        limit=counts["limit"],
        error=counts["error"],
        agent_error=sum(1 for a in attempts if a.status == "failed" and a.reason == "agent_error"),
        reasons=count_reasons(attempts),
        answer_sources=count_answer_sources(attempts),
        completion_rate=completion_rate(attempts),
        completion_ci95=completion_ci(attempts),
        completion_ci95_method=completion_ci_method(attempts),
        steps_per_solved=steps_per_solved(attempts),
        steps_per_solved_median=steps_per_solved_median(attempts),
        tokens_total=tokens_total(attempts),
        prompt_tokens=sum(a.totals.usage.prompt_tokens for a in attempts),
        completion_tokens=sum(a.totals.usage.completion_tokens for a in attempts),
        tokens_per_success=tokens_per_success(attempts),
        tokens_per_solved_attempt=tokens_per_solved_attempt(attempts),
        wall_clock_s=float(run_wall_clock_s),
        attempt_wall_clock_s=sum(a.totals.wall_clock_s for a in attempts),
        model_time_s=sum(a.totals.model_time_s for a in attempts),
        sandbox_time_s=sum(a.totals.sandbox_time_s for a in attempts),
        overhead_s=sum(a.totals.overhead_s for a in attempts),
        completion_tokens_per_s=completion_tokens_per_s(attempts),
        tasks_per_hour=tasks_per_hour(attempts, run_wall_clock_s),
        pass_at_k=at_k,
        pass_hat_k=hat_k,
        model_calls=sum(a.totals.model_calls for a in attempts),
        tool_calls=sum(a.totals.tool_calls for a in attempts),
        steps_to_first_test=step_efficiency(attempts, "first_test_step"),
        steps_to_submit=step_efficiency(attempts, "submit_step"),
    )


def limit_grading(attempts: list[AttemptRecord]) -> dict[str, int]:
    """Attempts that hit a limit and whose working tree was graded anyway (`limits.on_limit: grade`):
    how many, and how many of those resolved the task (they count as solved)."""
    graded = [a for a in attempts if a.metadata.get("limit_graded")]
    return {"graded": len(graded), "resolved": sum(1 for a in graded if a.metadata.get("limit_resolved"))}


def environment_errors(attempts: list[AttemptRecord]) -> int:
    """`error` attempts whose environment was broken (image build, tests not running), not the agent: reason
    `environment`."""
    return sum(1 for a in attempts if a.status == "error" and a.reason == "environment")


def step_efficiency(attempts: list[AttemptRecord], field: str) -> dict[str, float | int] | None:
    """Mean and median of a per-attempt step count (coding: first_test_step / submit_step) over the
    non-error attempts that reached it, with how many did; None when none did."""
    values = [getattr(a.totals, field) for a in _scored(attempts) if getattr(a.totals, field) is not None]
    if not values:
        return None
    return {"mean": statistics.fmean(values), "median": statistics.median(values), "attempts": len(values)}


class TaskMetrics(BaseModel):
    """One task across its epochs. Rates and means are over its non-error attempts (None if none)."""

    task_id: str
    attempts: int = Field(description="all attempts, errors included")
    errors: int
    solved: int
    success_rate: float | None = Field(description="solved / non-error attempts")
    mean_tokens: float | None
    mean_steps: float | None
    mean_wall_clock_s: float | None


def per_task(attempts: list[AttemptRecord]) -> list[TaskMetrics]:
    """Per-task figures, sorted by task id."""
    out: list[TaskMetrics] = []
    for task_id, group in sorted(_by_task(attempts).items()):
        scored = _scored(group)
        solved = len(_solved(scored))

        def mean(values: list[float]) -> float | None:
            return statistics.fmean(values) if values else None

        out.append(TaskMetrics(
            task_id=task_id,
            attempts=len(group),
            errors=len(group) - len(scored),
            solved=solved,
            success_rate=solved / len(scored) if scored else None,
            mean_tokens=mean([_tokens(a) for a in scored]),
            mean_steps=mean([a.totals.steps for a in scored]),
            mean_wall_clock_s=mean([a.totals.wall_clock_s for a in scored]),
        ))
    return out


def mean_in_flight(intervals: Iterable[tuple[float, float]], start: float | None = None,
                   end: float | None = None) -> float | None:
    """Time-weighted mean number of intervals open at once over [start, end] (default: the time at least
    one is open, so the gap between a run and its --resume does not count). None when that time is empty."""
    spans = [(a if start is None else max(a, start), b if end is None else min(b, end)) for a, b in intervals]
    spans = [(a, b) for a, b in spans if b > a]
    length = (end - start) if start is not None and end is not None else _covered(spans)
    return sum(b - a for a, b in spans) / length if length > 0 else None


class ClientLoad(BaseModel):
    """How busy the runner kept the endpoint, from the traces (client side; `server_load` is vLLM's view)."""

    attempts_in_flight_mean: float = Field(description="attempts running at once, while any ran")
    model_calls_in_flight_mean: float = Field(description="model requests open at once, over the same time")
    model_share: float = Field(description="model_calls / attempts in flight: the share of an attempt's time "
                                           "spent waiting on the model")


def client_load(attempt_spans: list[tuple[float, float]],
                model_call_spans: list[tuple[float, float]]) -> ClientLoad | None:
    """Time-weighted means over the time at least one attempt ran (pure)."""
    busy = _covered(attempt_spans)
    if busy <= 0:
        return None
    attempts = sum(b - a for a, b in attempt_spans if b > a) / busy
    calls = sum(b - a for a, b in model_call_spans if b > a) / busy
    return ClientLoad(attempts_in_flight_mean=attempts, model_calls_in_flight_mean=calls,
                      model_share=calls / attempts)


def _covered(spans: Iterable[tuple[float, float]]) -> float:
    """Length of the union of the intervals."""
    total, reach = 0.0, float("-inf")
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total
