"""Pure statistics helpers: binomial confidence intervals (Wilson; over clusters of correlated trials),
pass@k / pass^k estimators, and for paired comparisons the exact McNemar test, a paired bootstrap interval
and p-value, Holm's adjustment and the Pareto front. Cluster resampling of paired data and the sign-flip
test over tasks are in `agentbench.stats_cluster`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binomtest


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``:
    ``scipy.stats.binomtest(successes, n).proportion_ci(confidence, method="wilson")``.

    Returns ``(0.0, 1.0)`` when ``n == 0`` (nothing observed, nothing excluded).
    """
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (max(0.0, float(ci.low)), min(1.0, float(ci.high)))


def _check(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k: probability that at least one of k samples (of n, c correct) is correct.

    ``1 - C(n-c, k) / C(n, k)`` (Chen et al., 2021).
    """
    _check(n, c, k)
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k: probability that all of k samples (of n, c correct) are correct: ``C(c, k) / C(n, k)``."""
    _check(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


# ---- paired comparisons: exact McNemar test, paired bootstrap -----------------------------------


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts of a paired 2×2 table.

    ``b`` pairs succeed only in the first condition, ``c`` only in the second. Under the null
    hypothesis each discordant pair is a fair coin, so the p-value is the two-sided exact binomial test
    ``binomtest(b, b + c, 0.5)``. With no discordant pair nothing differs: 1.0.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)


class BootstrapInterval(NamedTuple):
    """A percentile bootstrap interval; ``undefined`` is the share of resamples where the statistic had
    no value (e.g. a ratio whose denominator resampled to 0) and was left out."""

    low: float
    high: float
    undefined: float = 0.0

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def paired_bootstrap_draws(
    columns: Sequence[ArrayLike],
    statistic: Callable[..., np.ndarray],
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    batch: int = 500,
) -> np.ndarray:
    """The bootstrap distribution of ``statistic`` over paired data, shape ``(..., n_resamples)``.

    Every array in ``columns`` has the pairs along its last axis (the same length n in all of them);
    a resample draws n pair indices with replacement (a seeded ``numpy.random.Generator``) and applies
    them to every column at once, so pairs stay together. ``statistic(*resampled)`` is vectorized the
    way ``scipy.stats.bootstrap`` expects: it gets arrays of shape ``(..., B, n)``, reduces the last
    axis and returns shape ``(..., B)``. Divisions by zero give non-finite values, without warnings.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    arrays = [np.asarray(col, dtype=float) for col in columns]
    if not arrays:
        raise ValueError("need at least one column")
    n = arrays[0].shape[-1]
    if any(a.shape[-1] != n for a in arrays):
        raise ValueError(f"columns must all have the same number of pairs, got {[a.shape[-1] for a in arrays]}")
    if n == 0:
        raise ValueError("need at least one pair")
    rng = np.random.default_rng(seed)
    parts = []
    for start in range(0, n_resamples, batch):
        idx = rng.integers(0, n, size=(min(batch, n_resamples - start), n))
        with np.errstate(divide="ignore", invalid="ignore"):
            parts.append(np.asarray(statistic(*(a[..., idx] for a in arrays)), dtype=float))
    return np.concatenate(parts, axis=-1)


def percentile_interval(draws: ArrayLike, confidence: float = 0.95,
                        max_undefined: float = 0.1) -> BootstrapInterval | None:
    """Percentile interval of a bootstrap distribution. Non-finite draws (a ratio over zero successes)
    are left out; when there are none left, or more than ``max_undefined`` of them were, returns None."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    values = np.asarray(draws, dtype=float).ravel()
    finite = values[np.isfinite(values)]
    undefined = 1.0 - finite.size / values.size if values.size else 1.0
    if finite.size == 0 or undefined > max_undefined:
        return None
    alpha = 1.0 - confidence
    low, high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return BootstrapInterval(float(low), float(high), float(undefined))


def paired_bootstrap_ci(
    columns: Sequence[ArrayLike],
    statistic: Callable[..., np.ndarray],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    max_undefined: float = 0.1,
) -> BootstrapInterval | None:
    """Percentile bootstrap interval of a paired ``statistic`` (see `paired_bootstrap_draws`; the
    statistic returns shape ``(B,)``); None when there are no pairs or too many undefined resamples."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not columns or np.asarray(columns[0]).shape[-1] == 0:
        return None
    draws = paired_bootstrap_draws(columns, statistic, n_resamples=n_resamples, seed=seed)
    return percentile_interval(draws, confidence, max_undefined)


def bootstrap_p_value(draws: ArrayLike, null: float = 0.0) -> float | None:
    """Two-sided bootstrap p-value of ``statistic == null``: twice the smaller share of finite draws on
    either side of ``null`` (a draw equal to it counts on both), with the usual +1 in numerator and
    denominator so that it is never 0; capped at 1. It is the smallest alpha at which the percentile
    interval at 1 − alpha would (about) exclude ``null``. None when no draw is finite."""
    values = np.asarray(draws, dtype=float).ravel()
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    below, above = int(np.sum(finite <= null)), int(np.sum(finite >= null))
    return min(1.0, 2.0 * (min(below, above) + 1) / (finite.size + 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (family-wise error rate) of m p-values, in input order:
    the i-th smallest becomes ``max_{j <= i} min(1, (m − j + 1) · p_(j))``."""
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must be a list of numbers in [0, 1], got {list(p_values)}")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return [float(v) for v in out]


# ---- proportions over clusters (a task's epochs are correlated) ----------------------------------


def cluster_bootstrap_proportion(successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95, *,
                                 n_resamples: int = 2000, seed: int = 0) -> BootstrapInterval | None:
    """Percentile cluster bootstrap interval of the pooled proportion ``Σ successes / Σ trials``.

    One entry per cluster (a task: its solved and scored attempts over the epochs); a resample draws
    clusters with replacement, each with all its trials. Clusters without a trial are left out; None
    when none is left.
    """
    s, n = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    if s.shape != n.shape or s.ndim != 1 or np.any(s < 0) or np.any(s > n):
        raise ValueError("need one (successes, trials) per cluster, 0 <= successes <= trials")
    keep = n > 0
    if not keep.any():
        return None
    draws = paired_bootstrap_draws((s[keep], n[keep]), _pooled, n_resamples=n_resamples, seed=seed)
    return percentile_interval(draws, confidence)


def _pooled(s: np.ndarray, n: np.ndarray) -> np.ndarray:
    return s.sum(axis=-1) / n.sum(axis=-1)


def clustered_proportion_ci(successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95, *,
                            n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The interval of a proportion whose trials come in correlated clusters (a task's epochs): the
    union of the cluster bootstrap interval (`cluster_bootstrap_proportion`: the variance between tasks)
    and the Wilson interval of the pooled counts (which keeps the interval from collapsing to a point
    when every resample agrees, e.g. everything solved). ``(0.0, 1.0)`` with no trial at all."""
    s, n = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    wilson = wilson_interval(int(s.sum()), int(n.sum()), confidence)
    boot = cluster_bootstrap_proportion(s, n, confidence, n_resamples=n_resamples, seed=seed)
    if boot is None:
        return wilson
    return (max(0.0, min(wilson[0], boot.low)), min(1.0, max(wilson[1], boot.high)))


# ---- Pareto front ------------------------------------------------------------------------------


def pareto_front(points: Sequence[Sequence[float]], maximize: Sequence[bool]) -> list[int]:
    """Indices (in input order) of the points no other point dominates.

    ``maximize[j]`` says whether objective j is better larger (True) or smaller (False). A point
    dominates another when it is at least as good in every objective and better in one. NaN counts as
    the worst value of its objective; equal points are all kept.
    """
    signs = np.array([1.0 if m else -1.0 for m in maximize])
    pts = np.array([[float(v) for v in p] for p in points], dtype=float).reshape(len(points), len(signs))
    scores = np.where(np.isnan(pts), -np.inf, pts * signs)  # larger is better everywhere
    front = []
    for i in range(len(scores)):
        dominated = np.any(np.all(scores >= scores[i], axis=1) & np.any(scores > scores[i], axis=1))
        if not dominated:
            front.append(i)
    return front
