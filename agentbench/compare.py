"""Compare runs: paired statistics on the attempts two runs share, keyed by (task_id, epoch).

The first run is the baseline A; every other run B is compared to it and every difference is B − A.
Only pairs where both attempts ended (solved, failed or limit) enter the statistics; attempts present in
one run only, or `error` in either, are listed apart — never silently dropped.

- completion rate: the difference on the shared pairs, an exact McNemar test on the discordant pairs
  (the verdict: not significant when p >= alpha) and a paired bootstrap interval;
- tokens per success, steps and wall-clock per attempt: differences with paired bootstrap intervals
  (not significant when the interval contains 0);
- the tasks that flipped (solved in one run only) with the commands that show both traces;
- with epochs > 1: per-task success frequency, pass@k and pass^k of each run.

Everything here is pure except `load_run` (reads a run store). `compare_html_section` renders a result
as an escaped HTML fragment without external resources; the terminal tables live in cli_compare.py.
"""

from __future__ import annotations

import html
import os
import shlex
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from agentbench.metrics import completion_rate, count_status, epochs, pass_k_curves
from agentbench.protocols import AttemptRecord
from agentbench.stats import mcnemar_exact, paired_bootstrap_ci
from agentbench.store import DB_NAME, RunStore

ALPHA = 0.05
COMPARE_NAME = "compare.json"
FEW_PAIRS = 20  # below this many pairs, percentile bootstrap intervals run narrow: say so


class CompareError(ValueError):
    """A run that cannot be compared (missing or unreadable); the message names the run folder."""


# ---- models ----------------------------------------------------------------------------------------

class LoadedRun(BaseModel):
    path: str = Field(description="the run folder as given")
    abs_path: str
    run_id: str | None = None
    graph: str | None = None
    model: str | None = None
    suite: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    attempts: list[AttemptRecord] = Field(default_factory=list)
    attempt_ids: dict[tuple[str, int], int] = Field(default_factory=dict, description="(task, epoch) -> the "
                                                    "store's id of its latest try (report.html's #attempt-ID)")


class RunInfo(BaseModel):
    path: str
    abs_path: str
    run_id: str | None
    graph: str | None
    model: str | None
    suite: str | None
    attempts: int
    errors: int
    epochs: int
    completion_rate: float | None = Field(description="over all of the run's non-error attempts")
    pass_at_k: dict[int, float] = Field(default_factory=dict)
    pass_hat_k: dict[int, float] = Field(default_factory=dict)


class McNemarTable(BaseModel):
    both_solved: int
    only_a: int = Field(description="solved in A, not in B (discordant)")
    only_b: int = Field(description="solved in B, not in A (discordant)")
    neither: int
    p_value: float = Field(description="exact two-sided McNemar test: binomtest(only_a, only_a + only_b, 0.5)")


class MetricDiff(BaseModel):
    metric: Literal["completion_rate", "tokens_per_success", "steps_per_attempt", "wall_clock_per_attempt_s"]
    a: float | None
    b: float | None
    diff: float | None = Field(description="b - a")
    ci95: tuple[float, float] | None = Field(description="paired bootstrap interval of the difference")
    p_value: float | None = Field(None, description="completion rate: exact McNemar p-value")
    significant: bool | None = Field(description="completion: p < alpha; others: the interval excludes 0")


class Flip(BaseModel):
    task_id: str
    epoch: int
    a_status: str
    b_status: str
    change: Literal["lost", "gained"] = Field(description="lost: solved in A only; gained: solved in B only")
    show_a: str
    show_b: str
    a_attempt_id: int | None = Field(None, description="the attempt's id in A's store")
    b_attempt_id: int | None = None


class Unpaired(BaseModel):
    task_id: str
    epoch: int
    a_status: str | None = Field(description="None when A has no such attempt")
    b_status: str | None
    reason: Literal["only in A", "only in B", "error in A", "error in B", "error in both"]


class TaskNoise(BaseModel):
    task_id: str
    a_solved: int
    a_scored: int = Field(description="non-error attempts (epochs) of the task in A")
    b_solved: int
    b_scored: int
    flaky: bool = Field(description="solved in some epochs and not in others, in either run")


class PairComparison(BaseModel):
    a: RunInfo
    b: RunInfo
    pairs: int = Field(description="(task, epoch) pairs both runs finished")
    mcnemar: McNemarTable
    metrics: list[MetricDiff]
    flipped: list[Flip]
    unpaired: list[Unpaired]
    noise: list[TaskNoise] = Field(default_factory=list, description="per task, when either run has epochs > 1")
    config_diff: dict[str, tuple[Any, Any]] = Field(default_factory=dict, description="dotted key: (A, B)")
    warnings: list[str] = Field(default_factory=list)
    verdict: str


class CompareResult(BaseModel):
    baseline: str
    alpha: float = ALPHA
    confidence: float = 0.95
    n_resamples: int = 2000
    seed: int = 0
    comparisons: list[PairComparison]


# ---- loading ---------------------------------------------------------------------------------------

def load_run(run_dir: Path) -> LoadedRun:
    """Read a run folder's store; CompareError naming the folder when it is missing or unreadable."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CompareError(f"{run_dir}: no such run folder")
    if not (run_dir / DB_NAME).is_file():
        raise CompareError(f"{run_dir}: not a run folder (no {DB_NAME})")
    try:
        store = RunStore.in_dir(run_dir)
        try:
            config = store.meta("config") or {}
            identity = store.meta("model_identity") or {}
            return LoadedRun(
                path=str(run_dir), abs_path=str(run_dir.resolve()), run_id=store.meta("run_id"),
                graph=config.get("graph"),
                model=identity.get("served_model_name") or (config.get("model") or {}).get("name"),
                suite=(store.meta("suite") or {}).get("name"), config=config, attempts=store.attempts(),
                attempt_ids={(r["task_id"], r["epoch"]): r["id"] for r in store.attempt_rows()})
        finally:
            store.close()
    except (sqlite3.Error, ValidationError, ValueError) as exc:
        raise CompareError(f"{run_dir}: unreadable run store {run_dir / DB_NAME} ({exc})") from None


# ---- pure analysis ---------------------------------------------------------------------------------

Key = tuple[str, int]
Pair = tuple[AttemptRecord, AttemptRecord]


def show_command(run_path: str, task_id: str, epoch: int) -> str:
    return f"agentbench show {shlex.quote(run_path)} {shlex.quote(task_id)} --epoch {epoch}"


def trace_href(run_path: str, task_id: str, epoch: int, relative_to: str | Path | None = None,
               attempt_id: int | None = None) -> str:
    """Link to an attempt's trace in a run's HTML report: RUN/report.html#trace-TASK-EPOCH, or
    RUN/report.html#attempt-ID when the store's `attempt_id` is given."""
    base = run_path if relative_to is None else os.path.relpath(os.path.abspath(run_path), os.path.abspath(relative_to))
    folder = "" if base == "." else quote(Path(base).as_posix()) + "/"
    anchor = f"trace-{quote(task_id, safe='')}-{epoch}" if attempt_id is None else f"attempt-{attempt_id}"
    return f"{folder}report.html#{anchor}"


def pair_attempts(a: list[AttemptRecord], b: list[AttemptRecord]) -> tuple[list[Pair], list[Unpaired]]:
    """Pairs of finished attempts keyed by (task_id, epoch), sorted; everything else as Unpaired."""
    by_a = {(x.task_id, x.epoch): x for x in a}
    by_b = {(x.task_id, x.epoch): x for x in b}
    pairs: list[Pair] = []
    apart: list[Unpaired] = []
    for key in sorted(by_a.keys() | by_b.keys()):
        x, y = by_a.get(key), by_b.get(key)
        sa, sb = (x.status if x else None), (y.status if y else None)
        if x is None or y is None:
            reason = "only in A" if y is None else "only in B"
        elif sa == "error" or sb == "error":
            reason = "error in both" if sa == sb else ("error in A" if sa == "error" else "error in B")
        else:
            pairs.append((x, y))
            continue
        apart.append(Unpaired(task_id=key[0], epoch=key[1], a_status=sa, b_status=sb, reason=reason))
    return pairs, apart


def mcnemar_table(pairs: list[Pair]) -> McNemarTable:
    cells: dict[tuple[bool, bool], int] = defaultdict(int)
    for x, y in pairs:
        cells[(x.status == "solved", y.status == "solved")] += 1
    only_a, only_b = cells[(True, False)], cells[(False, True)]
    return McNemarTable(both_solved=cells[(True, True)], only_a=only_a, only_b=only_b,
                        neither=cells[(False, False)], p_value=mcnemar_exact(only_a, only_b))


def _mean_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return b.mean(axis=-1) - a.mean(axis=-1)


def _ratio_diff(tok_a: np.ndarray, sol_a: np.ndarray, tok_b: np.ndarray, sol_b: np.ndarray) -> np.ndarray:
    return tok_b.sum(axis=-1) / sol_b.sum(axis=-1) - tok_a.sum(axis=-1) / sol_a.sum(axis=-1)


def metric_diffs(pairs: list[Pair], *, alpha: float = ALPHA, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> list[MetricDiff]:
    """Completion rate, tokens per success, steps and wall-clock per attempt on the pairs, B − A."""
    col = lambda f: (np.array([f(x) for x, _ in pairs], dtype=float),  # noqa: E731
                     np.array([f(y) for _, y in pairs], dtype=float))
    sol_a, sol_b = col(lambda r: r.status == "solved")
    tok_a, tok_b = col(lambda r: r.totals.usage.total_tokens)
    boot = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)

    def ci(columns, statistic) -> tuple[float, float] | None:
        got = paired_bootstrap_ci(columns, statistic, **boot) if pairs else None
        return None if got is None else (got.low, got.high)

    def excludes_zero(interval) -> bool | None:
        return None if interval is None else not (interval[0] <= 0.0 <= interval[1])

    out: list[MetricDiff] = []
    table = mcnemar_table(pairs)
    rate_a = float(sol_a.mean()) if pairs else None
    rate_b = float(sol_b.mean()) if pairs else None
    out.append(MetricDiff(metric="completion_rate", a=rate_a, b=rate_b,
                          diff=None if rate_a is None else rate_b - rate_a, ci95=ci((sol_a, sol_b), _mean_diff),
                          p_value=table.p_value if pairs else None,
                          significant=table.p_value < alpha if pairs else None))
    tps_a = float(tok_a.sum() / sol_a.sum()) if sol_a.sum() else None
    tps_b = float(tok_b.sum() / sol_b.sum()) if sol_b.sum() else None
    interval = ci((tok_a, sol_a, tok_b, sol_b), _ratio_diff) if tps_a is not None and tps_b is not None else None
    out.append(MetricDiff(metric="tokens_per_success", a=tps_a, b=tps_b,
                          diff=None if tps_a is None or tps_b is None else tps_b - tps_a, ci95=interval,
                          significant=excludes_zero(interval)))
    for metric, field in (("steps_per_attempt", lambda r: r.totals.steps),
                          ("wall_clock_per_attempt_s", lambda r: r.totals.wall_clock_s)):
        xa, xb = col(field)
        interval = ci((xa, xb), _mean_diff)
        ma, mb = (float(xa.mean()), float(xb.mean())) if pairs else (None, None)
        out.append(MetricDiff(metric=metric, a=ma, b=mb, diff=None if ma is None else mb - ma, ci95=interval,
                              significant=excludes_zero(interval)))
    return out


def flips(pairs: list[Pair], a_path: str, b_path: str, a_ids: dict[tuple[str, int], int] | None = None,
          b_ids: dict[tuple[str, int], int] | None = None) -> list[Flip]:
    """Pairs solved in exactly one run, with the commands that show both traces (and the store ids)."""
    a_ids, b_ids = a_ids or {}, b_ids or {}
    out = []
    for x, y in pairs:
        if (x.status == "solved") != (y.status == "solved"):
            out.append(Flip(task_id=x.task_id, epoch=x.epoch, a_status=x.status, b_status=y.status,
                            change="lost" if x.status == "solved" else "gained",
                            show_a=show_command(a_path, x.task_id, x.epoch),
                            show_b=show_command(b_path, y.task_id, y.epoch),
                            a_attempt_id=a_ids.get((x.task_id, x.epoch)), b_attempt_id=b_ids.get((y.task_id, y.epoch))))
    return out


def task_noise(a: list[AttemptRecord], b: list[AttemptRecord]) -> list[TaskNoise]:
    """Per task: solved / non-error epochs in each run; flaky when a run solved it only sometimes."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for i, attempts in ((0, a), (2, b)):
        for r in attempts:
            if r.status != "error":
                counts[r.task_id][i] += r.status == "solved"
                counts[r.task_id][i + 1] += 1
    return [TaskNoise(task_id=t, a_solved=c[0], a_scored=c[1], b_solved=c[2], b_scored=c[3],
                      flaky=(0 < c[0] < c[1]) or (0 < c[2] < c[3])) for t, c in sorted(counts.items())]


def run_info(run: LoadedRun) -> RunInfo:
    at_k, hat_k = pass_k_curves(run.attempts)
    return RunInfo(path=run.path, abs_path=run.abs_path, run_id=run.run_id, graph=run.graph, model=run.model,
                   suite=run.suite, attempts=len(run.attempts), errors=count_status(run.attempts)["error"],
                   epochs=epochs(run.attempts), completion_rate=completion_rate(run.attempts),
                   pass_at_k=at_k, pass_hat_k=hat_k)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def config_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two resolved configs (the run name left out)."""
    fa, fb = _flatten(a), _flatten(b)
    return {k: (fa.get(k), fb.get(k)) for k in sorted(fa.keys() | fb.keys())
            if k != "name" and fa.get(k) != fb.get(k)}


def verdict(diff: MetricDiff, pairs: int, alpha: float) -> str:
    if not pairs or diff.diff is None:
        return "no shared finished attempts: nothing to compare"
    points = f"completion {diff.diff * 100:+.1f} pts on {pairs} shared attempts"
    if diff.significant:
        return f"{points}: significant (McNemar p = {diff.p_value:.4g} < {alpha})"
    return f"{points}: not significant (McNemar p = {diff.p_value:.4g} ≥ {alpha}: within run-to-run noise)"


def compare_pair(a: LoadedRun, b: LoadedRun, *, alpha: float = ALPHA, confidence: float = 0.95,
                 n_resamples: int = 2000, seed: int = 0) -> PairComparison:
    pairs, apart = pair_attempts(a.attempts, b.attempts)
    diffs = metric_diffs(pairs, alpha=alpha, confidence=confidence, n_resamples=n_resamples, seed=seed)
    info_a, info_b = run_info(a), run_info(b)
    warnings = []
    if a.suite != b.suite:
        warnings.append(f"the runs use different suites ({a.suite} and {b.suite})")
    if not pairs:
        warnings.append("the runs share no finished (task, epoch) attempt")
    elif len(pairs) < FEW_PAIRS:
        warnings.append(f"only {len(pairs)} shared attempts: bootstrap intervals over so few pairs run narrow; "
                        "the exact McNemar test decides the completion rate")
    noise = task_noise(a.attempts, b.attempts) if max(info_a.epochs, info_b.epochs) > 1 else []
    return PairComparison(a=info_a, b=info_b, pairs=len(pairs), mcnemar=mcnemar_table(pairs), metrics=diffs,
                          flipped=flips(pairs, a.path, b.path, a.attempt_ids, b.attempt_ids), unpaired=apart, noise=noise,
                          config_diff=config_diff(a.config, b.config), warnings=warnings,
                          verdict=verdict(diffs[0], len(pairs), alpha))


def compare_runs(runs: list[LoadedRun], *, alpha: float = ALPHA, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> CompareResult:
    """The first run against each other one."""
    if len(runs) < 2:
        raise CompareError("compare needs at least two run folders")
    opts = dict(alpha=alpha, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return CompareResult(baseline=runs[0].path, **opts,
                         comparisons=[compare_pair(runs[0], other, **opts) for other in runs[1:]])


# ---- views -----------------------------------------------------------------------------------------

LABELS = {"completion_rate": "completion rate", "tokens_per_success": "tokens per success",
          "steps_per_attempt": "steps per attempt", "wall_clock_per_attempt_s": "wall-clock s per attempt"}


def fmt_value(metric: str, value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    sign = "+" if signed else ""
    if metric == "completion_rate":
        return f"{value * 100:{sign}.1f} pts" if signed else f"{value:.1%}"
    if metric == "tokens_per_success":
        return f"{value:{sign},.0f}"
    return f"{value:{sign}.2f}"


def fmt_ci(metric: str, ci: tuple[float, float] | None) -> str:
    if ci is None:
        return "–"
    if metric == "completion_rate":
        return f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] pts"
    return f"[{fmt_value(metric, ci[0], True)}, {fmt_value(metric, ci[1], True)}]"


def run_label(info: RunInfo) -> str:
    return f"{info.run_id or Path(info.path).name} ({info.graph} · {info.model})"


def pairs_line(c: PairComparison) -> str:
    m = c.mcnemar
    return (f"{c.pairs} shared attempts: solved in both {m.both_solved} · A only {m.only_a} · B only {m.only_b} · "
            f"neither {m.neither}; {len(c.unpaired)} reported apart")


def pass_curve(info: RunInfo) -> str:
    return " · ".join(f"k={k}: pass@k {info.pass_at_k[k]:.2f}, pass^k {info.pass_hat_k[k]:.2f}"
                      for k in sorted(info.pass_at_k))


def compare_html_section(result: CompareResult, relative_to: str | Path | None = None,
                         anchor: Literal["task-epoch", "attempt-id"] = "attempt-id") -> str:
    """An HTML fragment (escaped, no external resources) for the HTML report. Trace links point to
    RUN/report.html#attempt-ID (the store's attempt id, which report.html opens; or, with
    anchor="task-epoch", #trace-TASK-EPOCH):
    RUN as given to `compare`, or, with `relative_to` (the folder of the page that includes the fragment,
    e.g. the baseline run folder), relative to it."""
    e = lambda v: html.escape(str(v), quote=True)  # noqa: E731
    parts = ['<section class="agentbench-compare">', "<h2>Comparison</h2>"]
    for c in result.comparisons:
        parts.append(f"<h3>B {e(run_label(c.b))} vs A {e(run_label(c.a))}</h3>")
        parts.append(f"<p class=\"verdict\">{e(c.verdict)}</p>")
        parts.append("<table><thead><tr><th>metric</th><th>A</th><th>B</th><th>B − A</th>"
                     f"<th>{e(f'{result.confidence:.0%}')} interval</th><th>test</th><th></th></tr></thead><tbody>")
        for d in c.metrics:
            test = f"McNemar p={d.p_value:.4g}" if d.p_value is not None else "bootstrap"
            sig = "n/a" if d.significant is None else ("significant" if d.significant else "not significant")
            parts.append(f"<tr><td>{e(LABELS[d.metric])}</td><td>{e(fmt_value(d.metric, d.a))}</td>"
                         f"<td>{e(fmt_value(d.metric, d.b))}</td><td>{e(fmt_value(d.metric, d.diff, True))}</td>"
                         f"<td>{e(fmt_ci(d.metric, d.ci95))}</td><td>{e(test)}</td><td>{e(sig)}</td></tr>")
        parts.append("</tbody></table>")
        parts.append(f"<p>{e(pairs_line(c))}</p>")
        for w in c.warnings:
            parts.append(f"<p class=\"warning\">warning: {e(w)}</p>")
        if c.config_diff:
            items = "".join(f"<li><code>{e(k)}</code>: {e(repr(va))} → {e(repr(vb))}</li>"
                            for k, (va, vb) in c.config_diff.items())
            parts.append(f"<p>config differences</p><ul>{items}</ul>")
        if c.flipped:
            parts.append(f"<h4>flipped ({len(c.flipped)})</h4><table><thead><tr><th>task</th><th>epoch</th>"
                         "<th>A</th><th>B</th></tr></thead><tbody>")
            for f in c.flipped:
                by_id = anchor == "attempt-id"
                ha = trace_href(c.a.path if relative_to is None else c.a.abs_path, f.task_id, f.epoch, relative_to,
                                f.a_attempt_id if by_id else None)
                hb = trace_href(c.b.path if relative_to is None else c.b.abs_path, f.task_id, f.epoch, relative_to,
                                f.b_attempt_id if by_id else None)
                parts.append(f"<tr><td>{e(f.task_id)}</td><td>{f.epoch}</td>"
                             f"<td><a href=\"{e(ha)}\">{e(f.a_status)}</a></td>"
                             f"<td><a href=\"{e(hb)}\">{e(f.b_status)}</a></td></tr>")
            parts.append("</tbody></table>")
        if c.unpaired:
            parts.append(f"<h4>reported apart ({len(c.unpaired)})</h4><table><thead><tr><th>task</th><th>epoch</th>"
                         "<th>A</th><th>B</th><th>reason</th></tr></thead><tbody>")
            for u in c.unpaired:
                parts.append(f"<tr><td>{e(u.task_id)}</td><td>{u.epoch}</td><td>{e(u.a_status or '–')}</td>"
                             f"<td>{e(u.b_status or '–')}</td><td>{e(u.reason)}</td></tr>")
            parts.append("</tbody></table>")
        if c.noise:
            parts.append("<h4>run-to-run noise (solved / epochs)</h4><table><thead><tr><th>task</th><th>A</th>"
                         "<th>B</th><th></th></tr></thead><tbody>")
            for n in c.noise:
                parts.append(f"<tr><td>{e(n.task_id)}</td><td>{n.a_solved}/{n.a_scored}</td>"
                             f"<td>{n.b_solved}/{n.b_scored}</td><td>{'flaky' if n.flaky else ''}</td></tr>")
            parts.append("</tbody></table>")
            for label, info in (("A", c.a), ("B", c.b)):
                if info.pass_at_k:
                    parts.append(f"<p>{label}: {e(pass_curve(info))}</p>")
    parts.append("</section>")
    return "\n".join(parts)
