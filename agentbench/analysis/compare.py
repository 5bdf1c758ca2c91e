"""Compare runs: paired statistics on the attempts two runs share, keyed by (task_id, epoch).

The first run is the baseline A; every other run B is compared to it and every difference is B − A.
Only pairs where both attempts ended (solved, failed or limit) enter the statistics; attempts present in
one run only, or `error` in either, are listed apart — never silently dropped.

- completion rate: the difference on the shared pairs, a paired test (the verdict: not significant when
  p >= alpha) and a paired bootstrap interval;
- tokens per success, steps and wall-clock per attempt: differences with paired bootstrap intervals
  (not significant when the interval contains 0);
- every bootstrap resamples *tasks*, each with all its shared epochs (a task's epochs are correlated);
  with one epoch that is resampling the pairs. The completion test: with one epoch the exact McNemar
  test on the discordant pairs; when the pairs span more epochs, the exact sign-flip permutation test
  over tasks of the per-task differences in solved epochs (`stats_cluster.sign_flip_test`);
- the tasks that flipped (solved in one run only) with the commands that show both traces;
- with epochs > 1: per-task success frequency, pass@k and pass^k of each run;
- the pair's minimum detectable effect (`analysis.duel.pair_mde`), and, when A and B are a duel's runs
  (`agentbench duel`: DUEL/a, DUEL/b), its record (duel.json) with a warning when it stopped early.

Pure: loaded runs in (`analysis.io.load_run`), a `CompareResult` out; the statistics themselves are in
`agentbench.stats`. Rendering is in `analysis.terminal` and `analysis.html`.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agentbench.analysis.duel import pair_mde
from agentbench.analysis.results import (ALPHA, TEST_LABELS, CompareError, CompareResult, CompletionTest, Flip,
                                         LoadedRun, McNemarTable, MetricDiff, PairComparison, RunInfo, TaskNoise,
                                         Unpaired)
from agentbench.config.diff import config_diff
from agentbench.metrics import completion_rate, count_status, epochs, pass_k_curves
from agentbench.protocols import AttemptRecord
from agentbench.stats import mcnemar_exact, percentile_interval
from agentbench.stats_cluster import cluster_bootstrap_draws, cluster_codes, sign_flip_test

FEW_PAIRS = 20  # below this many pairs (tasks, when clustered), percentile bootstrap intervals run narrow: say so

Pair = tuple[AttemptRecord, AttemptRecord]


def show_command(run_path: str, task_id: str, epoch: int) -> str:
    return f"agentbench show {shlex.quote(run_path)} {shlex.quote(task_id)} --epoch {epoch}"


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


def clustered(pairs: list[Pair]) -> bool:
    """Whether the pairs span more than one epoch: then a task's pairs are correlated, and the test of
    the completion difference is the sign-flip test over tasks rather than McNemar's."""
    return len({x.epoch for x, _ in pairs}) > 1


def completion_test(pairs: list[Pair]) -> tuple[CompletionTest, float]:
    """The test of the completion difference and its two-sided p-value: exact McNemar on the discordant
    pairs with one epoch; with more, the exact sign-flip test over tasks of Σ_epochs (solved B − solved A)."""
    if not clustered(pairs):
        return "mcnemar_exact", mcnemar_table(pairs).p_value
    per_task: dict[str, int] = defaultdict(int)
    for x, y in pairs:
        per_task[x.task_id] += int(y.status == "solved") - int(x.status == "solved")
    return "sign_flip_tasks", sign_flip_test(list(per_task.values()))


def _mean_diff(n: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return b.sum(axis=-1) / n.sum(axis=-1) - a.sum(axis=-1) / n.sum(axis=-1)


def _ratio_diff(tok_a: np.ndarray, sol_a: np.ndarray, tok_b: np.ndarray, sol_b: np.ndarray) -> np.ndarray:
    return tok_b.sum(axis=-1) / sol_b.sum(axis=-1) - tok_a.sum(axis=-1) / sol_a.sum(axis=-1)


def metric_diffs(pairs: list[Pair], *, alpha: float = ALPHA, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> list[MetricDiff]:
    """Completion rate, tokens per success, steps and wall-clock per attempt on the pairs, B − A; the
    intervals from the cluster bootstrap over tasks (statistics of per-task totals)."""
    def col(f: Callable[[AttemptRecord], float]) -> tuple[np.ndarray, np.ndarray]:
        return (np.array([f(x) for x, _ in pairs], dtype=float), np.array([f(y) for _, y in pairs], dtype=float))

    sol_a, sol_b = col(lambda r: r.status == "solved")
    tok_a, tok_b = col(lambda r: r.totals.usage.total_tokens)
    ones = np.ones(len(pairs))
    codes = cluster_codes([x.task_id for x, _ in pairs])[1]

    def ci(columns: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray]) -> tuple[float, float] | None:
        if not pairs:
            return None
        draws = cluster_bootstrap_draws(columns, codes, statistic, n_resamples=n_resamples, seed=seed)
        got = percentile_interval(draws, confidence)
        return None if got is None else (got.low, got.high)

    def excludes_zero(interval: tuple[float, float] | None) -> bool | None:
        return None if interval is None else not (interval[0] <= 0.0 <= interval[1])

    out: list[MetricDiff] = []
    test, p_value = completion_test(pairs) if pairs else (None, None)
    rate_a = float(sol_a.mean()) if pairs else None
    rate_b = float(sol_b.mean()) if pairs else None
    out.append(MetricDiff(metric="completion_rate", a=rate_a, b=rate_b,
                          diff=None if rate_a is None or rate_b is None else rate_b - rate_a,
                          ci95=ci((ones, sol_a, sol_b), _mean_diff), p_value=p_value, test=test,
                          significant=None if p_value is None else p_value < alpha))
    tps_a = float(tok_a.sum() / sol_a.sum()) if sol_a.sum() else None
    tps_b = float(tok_b.sum() / sol_b.sum()) if sol_b.sum() else None
    interval = ci((tok_a, sol_a, tok_b, sol_b), _ratio_diff) if tps_a is not None and tps_b is not None else None
    out.append(MetricDiff(metric="tokens_per_success", a=tps_a, b=tps_b,
                          diff=None if tps_a is None or tps_b is None else tps_b - tps_a, ci95=interval,
                          significant=excludes_zero(interval)))
    fields: tuple[tuple[str, Callable[[AttemptRecord], float]], ...] = (
        ("steps_per_attempt", lambda r: r.totals.steps), ("wall_clock_per_attempt_s", lambda r: r.totals.wall_clock_s))
    for metric, field in fields:
        xa, xb = col(field)
        interval = ci((ones, xa, xb), _mean_diff)
        ma, mb = (float(xa.mean()), float(xb.mean())) if pairs else (None, None)
        out.append(MetricDiff(metric=metric, a=ma, b=mb, diff=None if ma is None or mb is None else mb - ma,
                              ci95=interval, significant=excludes_zero(interval)))
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


GRAPH_FIELDS = (("source", "source_hash"), ("dirty", "git_dirty"), ("commit", "git_commit"))


def graph_diff(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, tuple[Any, Any]]:
    """Where two runs' graph identities (`graph` meta) differ: `source` (the source hash), `dirty`, `commit`.
    The reference and graph_params are config keys (config_diff); a run that stored none compares as empty."""
    if not a or not b:
        return {}
    return {label: (a.get(key), b.get(key)) for label, key in GRAPH_FIELDS if a.get(key) != b.get(key)}


def verdict(diff: MetricDiff, pairs: int, alpha: float, tasks: int | None = None) -> str:
    if not pairs or diff.diff is None:
        return "no shared finished attempts: nothing to compare"
    on_tasks = f" of {tasks} tasks" if tasks is not None and diff.test == "sign_flip_tasks" else ""
    points = f"completion {diff.diff * 100:+.1f} pts on {pairs} shared attempts{on_tasks}"
    test = TEST_LABELS[diff.test or "mcnemar_exact"]
    if diff.significant:
        return f"{points}: significant ({test} p = {diff.p_value:.4g} < {alpha})"
    return f"{points}: not significant ({test} p = {diff.p_value:.4g} ≥ {alpha}: within run-to-run noise)"


def compare_pair(a: LoadedRun, b: LoadedRun, *, alpha: float = ALPHA, confidence: float = 0.95,
                 n_resamples: int = 2000, seed: int = 0) -> PairComparison:
    pairs, apart = pair_attempts(a.attempts, b.attempts)
    diffs = metric_diffs(pairs, alpha=alpha, confidence=confidence, n_resamples=n_resamples, seed=seed)
    info_a, info_b = run_info(a), run_info(b)
    warnings = []
    if a.suite != b.suite:
        warnings.append(f"the runs use different suites ({a.suite} and {b.suite})")
    tasks = len({x.task_id for x, _ in pairs})
    if not pairs:
        warnings.append("the runs share no finished (task, epoch) attempt")
    elif clustered(pairs) and tasks < FEW_PAIRS:
        warnings.append(f"only {tasks} shared tasks: bootstrap intervals over so few tasks run narrow; "
                        "the exact sign-flip test over tasks decides the completion rate")
    elif not clustered(pairs) and len(pairs) < FEW_PAIRS:
        warnings.append(f"only {len(pairs)} shared attempts: bootstrap intervals over so few pairs run narrow; "
                        "the exact McNemar test decides the completion rate")
    noise = task_noise(a.attempts, b.attempts) if max(info_a.epochs, info_b.epochs) > 1 else []
    duel = a.duel if (a.duel is not None and (a.duel_arm, b.duel_arm) == ("a", "b")
                      and Path(a.abs_path).parent == Path(b.abs_path).parent) else None
    if duel is not None and duel.decision not in (None, "undecided"):
        warnings.append("A and B are a duel stopped early by its confidence sequence (duel.json): the p-value and "
                        "intervals above assume a fixed number of tasks; the duel's decision and CS do not")
    codes = cluster_codes([x.task_id for x, _ in pairs])[1]
    mde = pair_mde(codes, [float(y.status == "solved") - float(x.status == "solved") for x, y in pairs], alpha)
    return PairComparison(a=info_a, b=info_b, pairs=len(pairs), tasks=tasks, clustered=clustered(pairs),
                          mde=mde, duel=duel,
                          mcnemar=mcnemar_table(pairs), metrics=diffs,
                          flipped=flips(pairs, a.path, b.path, a.attempt_ids, b.attempt_ids), unpaired=apart, noise=noise,
                          config_diff=config_diff(a.config, b.config),
                          graph_diff=graph_diff(a.graph_identity, b.graph_identity), warnings=warnings,
                          verdict=verdict(diffs[0], len(pairs), alpha, tasks))


def compare_runs(runs: list[LoadedRun], *, alpha: float = ALPHA, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> CompareResult:
    """The first run against each other one."""
    if len(runs) < 2:
        raise CompareError("compare needs at least two run folders")
    return CompareResult(baseline=runs[0].path, alpha=alpha, confidence=confidence, n_resamples=n_resamples,
                         seed=seed, comparisons=[compare_pair(runs[0], other, alpha=alpha, confidence=confidence,
                                                              n_resamples=n_resamples, seed=seed)
                                                 for other in runs[1:]])
