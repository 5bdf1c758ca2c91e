"""Pure statistics for attempts that come in clusters: the epochs of one task are correlated (the same
prompt, the same environment), so resampling or permuting single (task, epoch) attempts as if they were
independent understates the variance. Here the unit is the cluster (the task), with all its attempts.

- `cluster_codes` / `cluster_sums`: the cluster of every observation, and per-cluster totals;
- `cluster_bootstrap_draws`: the paired bootstrap of `agentbench.stats.paired_bootstrap_draws` with
  clusters as the resampled unit; with one observation per cluster it is that bootstrap, draw for draw;
- `sign_flip_test`: the exact paired sign-flip permutation test over clusters of integer per-cluster
  differences; with differences of ±1 it is the exact McNemar test.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from agentbench.stats import paired_bootstrap_draws


def cluster_codes(labels: Sequence[Hashable]) -> tuple[list[Hashable], np.ndarray]:
    """The distinct labels, sorted, and for every observation the index of its label among them."""
    distinct = sorted(set(labels))  # type: ignore[type-var]
    index = {label: i for i, label in enumerate(distinct)}
    return distinct, np.array([index[label] for label in labels], dtype=np.intp)


def cluster_sums(values: ArrayLike, codes: ArrayLike, n_clusters: int | None = None) -> np.ndarray:
    """Per-cluster sums along the last axis, NaN counting as 0: shape ``(..., n_clusters)``.

    ``codes[i]`` is the cluster of observation i (0 .. n_clusters − 1). A cluster of one observation
    holds that value exactly.
    """
    v = np.asarray(values, dtype=float)
    c = np.asarray(codes, dtype=np.intp)
    if c.ndim != 1 or v.shape[-1] != c.size:
        raise ValueError(f"need one cluster code per observation, got {c.size} codes for {v.shape[-1]}")
    k = int(c.max()) + 1 if n_clusters is None and c.size else (n_clusters or 0)
    if c.size and (c.min() < 0 or c.max() >= k):
        raise ValueError(f"cluster codes must lie in [0, {k})")
    out = np.zeros(v.shape[:-1] + (k,))
    np.add.at(out, (..., c), np.where(np.isnan(v), 0.0, v))
    return out


def cluster_bootstrap_draws(
    columns: Sequence[ArrayLike],
    codes: ArrayLike,
    statistic: Callable[..., np.ndarray],
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """The cluster bootstrap distribution of ``statistic``, shape ``(..., n_resamples)``.

    Every column has the observations along its last axis; ``codes`` gives each observation's cluster.
    The columns are summed per cluster (NaN as 0, see `cluster_sums`) and a resample draws clusters with
    replacement, the same clusters for every column (`paired_bootstrap_draws` on the per-cluster sums).
    ``statistic`` therefore gets the resampled per-cluster *sums*, shape ``(..., B, k)``, and must be a
    function of totals: a mean is ``x.sum(-1) / n.sum(-1)`` with a column of ones (or of "present"
    indicators) for n, a ratio ``a.sum(-1) / b.sum(-1)``. With one observation per cluster these are the
    observations themselves in cluster order, so the draws equal the plain paired bootstrap's.
    """
    c = np.asarray(codes, dtype=np.intp)
    if c.size == 0:
        raise ValueError("need at least one observation")
    k = int(c.max()) + 1
    totals = [cluster_sums(col, c, k) for col in columns]
    return paired_bootstrap_draws(totals, statistic, n_resamples=n_resamples, seed=seed)


def sign_flip_test(differences: ArrayLike) -> float:
    """Exact two-sided paired sign-flip permutation test that the per-cluster differences sum to 0.

    ``differences[t]`` is an integer per cluster (a task: solved in B minus solved in A over its shared
    epochs). Under the null hypothesis (within each task the two runs are exchangeable) every difference
    is as likely to have either sign, independently across tasks; the p-value is the share of the 2^n
    sign assignments whose |Σ ± d_t| reaches the observed |Σ d_t|. It is computed exactly for any n by
    convolving the distribution of the sum (integers keep it small: at most 2 Σ|d_t| + 1 values). Zeros
    do not matter; with no non-zero difference nothing differs: 1.0. With every d_t in {−1, 0, 1} it is
    the exact McNemar test.
    """
    d = np.asarray(differences)
    if d.ndim != 1:
        raise ValueError("need one difference per cluster")
    if d.size and not np.all(np.equal(np.mod(d, 1), 0)):
        raise ValueError("the sign-flip test takes integer differences (counts of solved attempts)")
    observed = abs(int(np.sum(d)))
    steps = np.abs(d.astype(np.int64))
    steps = steps[steps != 0]
    if steps.size == 0:
        return 1.0
    total = int(steps.sum())
    dist = np.zeros(2 * total + 1)  # dist[s + total] = P(Σ ± d = s)
    dist[total] = 1.0
    for x in steps:  # the support stays within ±(the partial sum), so the rolls never wrap
        dist = 0.5 * (np.roll(dist, int(x)) + np.roll(dist, -int(x)))
    sums = np.abs(np.arange(-total, total + 1))
    return float(min(1.0, dist[sums >= observed].sum()))
