"""Pure planning of a paired comparison of two runs (A, B) on the same tasks: how many tasks (and epochs) a
difference needs to be detected at a given alpha and power, and the smallest difference a given size can
detect (the minimum detectable effect, MDE). Used by `agentbench plan`; definitions in docs/metrics.md.

The test planned for is the one `compare` decides with (`analysis.compare.completion_test`):

- one epoch: the exact McNemar test on the discordant pairs; its power is computed exactly (a sum over the
  number of discordant pairs of the exact binomial test's rejection probability), and the planned number of
  tasks is where that exact power reaches the target;
- epochs > 1: the exact sign-flip test over tasks of the per-task differences; its power by the normal
  approximation ``Φ((√n |δ| − z_{α/2} √(v + δ²)) / √v)``, v the variance of a task's mean difference.

Both are one formula in the moments of the per-task mean difference d̄ (mean δ, variance v): with one
epoch d ∈ {−1, 0, 1}, E[d²] = the discordance ψ and v = ψ − δ², which is Connor's (1987) McNemar sample
size ``n = (z_{α/2} √ψ + z_β √(ψ − δ²))² / δ²``. Epochs enter through `PairedVariance`: the per-attempt
variance of the difference x = solved in B − solved in A splits into a part between tasks (τ², the
variance of the tasks' mean differences) and one within a task (σ², between its epochs), and with E epochs
``v(E) = τ² + σ² / E``.

Tokens per success (Σ tokens / Σ solved) is planned for by the delta method: per task the influence
``u_t = (T_t − R S_t) / S̄`` of the ratio R, a paired z-test on the mean of ``u_B − u_A``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binom, norm

DEFAULT_ICC = 0.5  # share of the difference's variance between tasks, when nothing measured it
MAX_TASKS = 10**6
EXACT_UP_TO = 20_000  # above this many tasks the normal approximation stands in for the exact McNemar power


class PairedVariance(NamedTuple):
    """The variance of the per-attempt paired difference x = solved in B − solved in A (in {−1, 0, 1}),
    split into ``between`` tasks (the variance of the tasks' mean differences, τ²) and ``within`` a task
    (between its epochs, σ²)."""

    within: float
    between: float

    @property
    def total(self) -> float:
        return self.within + self.between

    @property
    def icc(self) -> float | None:
        return self.between / self.total if self.total > 0 else None

    def per_task(self, epochs: int) -> float:
        """The variance of a task's mean difference over ``epochs`` epochs: τ² + σ² / E."""
        return self.between + self.within / epochs


class PairPilot(NamedTuple):
    """What a pair of pilot runs says: the observed difference δ̂ (mean over tasks of their mean
    difference), the discordance ψ̂ (share of pairs solved in one run only), the variance split, the
    number of tasks, the most epochs a task has, and whether the split was measured (some task with
    two or more epochs) or assumed from the icc."""

    effect: float
    discordance: float
    variance: PairedVariance
    tasks: int
    epochs: int
    icc_measured: bool


class TokensPilot(NamedTuple):
    """Tokens per success of the baseline (``ratio_a``), and the standard deviation over tasks of the
    paired influence difference ``u_B − u_A`` (for one run: of √2 · u_A)."""

    ratio_a: float
    sd: float
    tasks: int


def _check_level(alpha: float, power: float | None = None) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if power is not None and not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")


def _check_rate(name: str, p: float) -> None:
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):
        raise ValueError(f"{name} must be a rate in [0, 1], got {p}")


def split_variance(total: float, icc: float = DEFAULT_ICC) -> PairedVariance:
    """``total`` per-attempt variance, the share ``icc`` of it between tasks."""
    if not 0.0 <= icc <= 1.0:
        raise ValueError(f"icc must be in [0, 1], got {icc}")
    total = max(0.0, float(total))
    return PairedVariance(within=(1.0 - icc) * total, between=icc * total)


def independent_discordance(p_a: float, p_b: float) -> float:
    """P(exactly one run solves a pair) when the two runs' attempts are independent: the largest
    discordance two runs with these rates have when they agree more often on a task than chance."""
    return p_a * (1.0 - p_b) + p_b * (1.0 - p_a)


def variance_from_rates(p_a: float, p_b: float, discordance: float | None = None,
                        icc: float = DEFAULT_ICC) -> PairedVariance:
    """Stated rates: per-attempt variance ψ − δ², with ψ the discordance (default: independent runs,
    `independent_discordance`), split by ``icc``. ψ must satisfy |δ| ≤ ψ ≤ min(p_a + p_b, 2 − p_a − p_b)."""
    _check_rate("p_a", p_a)
    _check_rate("p_b", p_b)
    psi = independent_discordance(p_a, p_b) if discordance is None else float(discordance)
    delta = p_b - p_a
    top = min(p_a + p_b, 2.0 - p_a - p_b)
    if not (math.isfinite(psi) and abs(delta) - 1e-12 <= psi <= top + 1e-12):
        raise ValueError(f"discordance must lie in [|p_b − p_a|, min(p_a + p_b, 2 − p_a − p_b)] = "
                         f"[{abs(delta):.4g}, {top:.4g}] for rates {p_a:g}, {p_b:g}; got {psi:g}")
    return split_variance(psi - delta * delta, icc)


def variance_from_run(solved: ArrayLike, scored: ArrayLike, icc: float = DEFAULT_ICC) -> PairedVariance:
    """One pilot run (per task: solved and scored attempts): the per-attempt variance of the difference
    between two independent runs of this same system, 2 · mean_t p_t (1 − p_t), each p_t(1 − p_t) estimated
    without bias by s (n − s) / (n (n − 1)) over the tasks with n ≥ 2 epochs; with one epoch everywhere,
    2 p̄ (1 − p̄) of the pooled rate (an upper bound: it counts task difficulty as noise). Split by ``icc``."""
    s, n = np.asarray(solved, dtype=float), np.asarray(scored, dtype=float)
    if s.shape != n.shape or s.ndim != 1 or np.any(s < 0) or np.any(s > n) or not np.any(n > 0):
        raise ValueError("need per task 0 <= solved <= scored, and a scored attempt")
    multi = n >= 2
    if multi.any():
        noise = 2.0 * float(np.mean(s[multi] * (n[multi] - s[multi]) / (n[multi] * (n[multi] - 1.0))))
    else:
        p = s.sum() / n.sum()
        noise = 2.0 * p * (1.0 - p)
    return split_variance(noise, icc)


def pair_pilot(task_codes: ArrayLike, differences: ArrayLike, icc: float = DEFAULT_ICC) -> PairPilot:
    """A pair of pilot runs, one entry per shared (task, epoch) pair: its task's code and the difference
    x = solved in B − solved in A. With two or more epochs on some task the split is measured (method of
    moments): σ² = pooled within-task variance, τ² = max(0, var over tasks of their means − σ² · mean 1/n_t);
    with one epoch the per-attempt variance (ddof 1) is split by ``icc``."""
    codes = np.asarray(task_codes, dtype=np.intp)
    x = np.asarray(differences, dtype=float)
    if codes.shape != x.shape or x.ndim != 1 or x.size == 0 or not np.all(np.isin(x, (-1.0, 0.0, 1.0))):
        raise ValueError("need one task code and one difference in {-1, 0, 1} per shared pair")
    _, codes = np.unique(codes, return_inverse=True)
    k = int(codes.max()) + 1
    n_t = np.bincount(codes, minlength=k).astype(float)
    means = np.bincount(codes, weights=x, minlength=k) / n_t
    effect, psi = float(means.mean()), float(np.mean(x != 0))
    if np.any(n_t >= 2):
        resid = np.bincount(codes, weights=(x - means[codes]) ** 2, minlength=k)
        within = float(resid[n_t >= 2].sum() / (n_t[n_t >= 2] - 1.0).sum())
        spread = float(np.var(means, ddof=1)) if k >= 2 else 0.0
        variance = PairedVariance(within=within, between=max(0.0, spread - within * float(np.mean(1.0 / n_t))))
        measured = True
    else:
        variance = split_variance(float(np.var(x, ddof=1)) if x.size >= 2 else psi, icc)
        measured = False
    return PairPilot(effect=effect, discordance=psi, variance=variance, tasks=k, epochs=int(n_t.max()),
                     icc_measured=measured)


# ---- power -----------------------------------------------------------------------------------------


def _min_tasks(alpha: float) -> int:
    """Fewest tasks on which an exact paired test (McNemar, sign-flip) can reach p < alpha: 2 · 2^−n < alpha."""
    return max(1, math.floor(math.log2(2.0 / alpha)) + 1)


def mcnemar_power(n: int, discordance: float, effect: float, alpha: float = 0.05) -> float:
    """Exact power of the two-sided exact McNemar test (reject when ``binomtest(b, b + c, 0.5)`` gives
    p < alpha, as `stats.mcnemar_exact`) on n pairs, each discordant with probability ψ, a discordant pair
    favouring B with probability (ψ + δ) / 2ψ."""
    _check_level(alpha)
    psi = min(1.0, max(0.0, float(discordance)))
    if n < 1 or psi == 0.0:
        return 0.0
    q = min(1.0, max(0.0, (psi + effect) / (2.0 * psi)))
    m = np.arange(n + 1)
    crit = binom.ppf(alpha / 2.0, m, 0.5) - 1.0  # largest c with 2 P(X <= c) < alpha (refined below)
    crit = np.where(2.0 * binom.cdf(crit + 1.0, m, 0.5) < alpha, crit + 1.0, crit)
    crit = np.where(2.0 * binom.cdf(crit, m, 0.5) < alpha, crit, crit - 1.0)
    reject = np.where(crit >= 0, binom.cdf(crit, m, q) + binom.sf(m - crit - 1.0, m, q), 0.0)
    return float(min(1.0, np.sum(binom.pmf(m, n, psi) * reject)))


def sign_flip_power(n: int, effect: float, variance: float, alpha: float = 0.05) -> float:
    """Normal approximation of the power of the sign-flip test over n tasks whose mean differences have
    mean δ and variance v: the test refers Σ d to √(Σ d²), whose expectation is √(n (v + δ²))."""
    _check_level(alpha)
    if n < _min_tasks(alpha):
        return 0.0
    v = max(float(variance), 1e-12)
    z = norm.ppf(1.0 - alpha / 2.0)
    shift, scale = math.sqrt(n) * abs(effect), z * math.sqrt(v + effect * effect)
    return float(norm.cdf((shift - scale) / math.sqrt(v)) + norm.cdf((-shift - scale) / math.sqrt(v)))


def power(n_tasks: int, effect: float, variance: PairedVariance, epochs: int = 1, alpha: float = 0.05) -> float:
    """Power of the paired completion test `compare` uses on n tasks × E epochs: exact McNemar (E = 1;
    discordance τ² + σ² + δ²), else the sign-flip test over tasks (normal approximation)."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if epochs == 1 and n_tasks <= EXACT_UP_TO:
        return mcnemar_power(n_tasks, variance.total + effect * effect, effect, alpha)
    return sign_flip_power(n_tasks, effect, variance.per_task(epochs), alpha)


def _normal_tasks(effect: float, v: float, alpha: float, target: float) -> float:
    za, zb = norm.ppf(1.0 - alpha / 2.0), norm.ppf(target)
    return (za * math.sqrt(v + effect * effect) + zb * math.sqrt(v)) ** 2 / (effect * effect)


def tasks_needed(effect: float, variance: PairedVariance, epochs: int = 1, alpha: float = 0.05,
                 target: float = 0.8) -> int:
    """Fewest tasks (each with ``epochs`` epochs per run) at which the test reaches power ``target``
    against the difference ``effect``. E = 1: the exact power (a bisection from Connor's formula; the
    exact power saws up and down by about a point with n, so a neighbour of the answer may fall just
    short). E > 1: the normal formula, at least the fewest tasks an exact test can reject on."""
    _check_level(alpha, target)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if not math.isfinite(effect) or effect == 0.0 or abs(effect) > 1.0:
        raise ValueError(f"effect must be a non-zero difference in [-1, 1], got {effect}")
    v = variance.per_task(epochs)
    if v + effect * effect > 1.0 + 1e-9:
        raise ValueError(f"effect {effect:g} is impossible with a per-task variance of {v:.4g} (v + δ² > 1)")
    guess = max(_min_tasks(alpha), math.ceil(_normal_tasks(effect, v, alpha, target)))
    if epochs > 1 or guess > EXACT_UP_TO:
        if guess > MAX_TASKS:
            raise ValueError(f"effect {effect:g} needs more than {MAX_TASKS} tasks")
        return guess
    lo, hi = _min_tasks(alpha) - 1, guess
    while power(hi, effect, variance, 1, alpha) < target:
        lo, hi = hi, hi * 2
        if hi > MAX_TASKS:
            raise ValueError(f"effect {effect:g} needs more than {MAX_TASKS} tasks")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if power(mid, effect, variance, 1, alpha) >= target else (mid, hi)
    return hi


def min_detectable_effect(n_tasks: int, variance: PairedVariance, epochs: int = 1, alpha: float = 0.05,
                          target: float = 0.8) -> float | None:
    """The smallest |δ| that n tasks × E epochs detect with power ``target`` (the variance held fixed);
    None when no possible difference reaches it (too few tasks)."""
    _check_level(alpha, target)
    if n_tasks < 1:
        raise ValueError(f"need at least one task, got {n_tasks}")
    top = math.sqrt(max(0.0, 1.0 - variance.per_task(epochs)))
    if top == 0.0 or power(n_tasks, top, variance, epochs, alpha) < target:
        return None
    lo, hi = 0.0, top
    for _ in range(40):
        mid = (lo + hi) / 2.0
        lo, hi = (lo, mid) if power(n_tasks, mid, variance, epochs, alpha) >= target else (mid, hi)
    return hi


def epochs_needed(n_tasks: int, effect: float, variance: PairedVariance, alpha: float = 0.05,
                  target: float = 0.8, max_epochs: int = 100) -> int | None:
    """Fewest epochs with which ``n_tasks`` tasks reach the power; None when even ``max_epochs`` do not
    (the difference's variance between tasks, τ², is a floor no number of epochs removes)."""
    for e in range(1, max_epochs + 1):
        if tasks_needed(effect, variance, e, alpha, target) <= n_tasks:
            return e
    return None


# ---- tokens per success ----------------------------------------------------------------------------


def ratio_influence(tokens: ArrayLike, solved: ArrayLike) -> tuple[float, np.ndarray]:
    """The ratio R = Σ tokens / Σ solved over tasks (per-task totals) and each task's influence
    ``(T_t − R S_t) / S̄``, whose mean over n tasks has variance ≈ Var(R̂) · n (delta method)."""
    t, s = np.asarray(tokens, dtype=float), np.asarray(solved, dtype=float)
    if t.shape != s.shape or t.ndim != 1 or s.sum() <= 0:
        raise ValueError("tokens per success needs per-task totals and at least one solved attempt")
    ratio = float(t.sum() / s.sum())
    return ratio, (t - ratio * s) / float(s.mean())


def tokens_pilot(tokens_a: ArrayLike, solved_a: ArrayLike, tokens_b: ArrayLike | None = None,
                 solved_b: ArrayLike | None = None) -> TokensPilot:
    """Per-task totals of one pilot run (the paired difference's variance taken as twice the run's: no
    credit for the pairing) or of a pair (the variance of u_B − u_A on the shared tasks)."""
    ratio_a, u_a = ratio_influence(tokens_a, solved_a)
    if u_a.size < 2:
        raise ValueError("tokens per success needs at least two tasks")
    if tokens_b is None or solved_b is None:
        return TokensPilot(ratio_a=ratio_a, sd=math.sqrt(2.0 * float(np.var(u_a, ddof=1))), tasks=u_a.size)
    _, u_b = ratio_influence(tokens_b, solved_b)
    if u_b.shape != u_a.shape:
        raise ValueError("the two runs need the same tasks")
    return TokensPilot(ratio_a=ratio_a, sd=float(np.std(u_b - u_a, ddof=1)), tasks=u_a.size)


def tokens_tasks_needed(relative_effect: float, pilot: TokensPilot, alpha: float = 0.05,
                        target: float = 0.8) -> int:
    """Tasks (at the pilot's epochs) to detect a change of ``relative_effect`` × A's tokens per success:
    ``((z_{α/2} + z_β) sd / (r R_A))²``."""
    _check_level(alpha, target)
    if not math.isfinite(relative_effect) or relative_effect == 0.0:
        raise ValueError(f"tokens-effect must be a non-zero relative change, got {relative_effect}")
    z = norm.ppf(1.0 - alpha / 2.0) + norm.ppf(target)
    return max(2, math.ceil((z * pilot.sd / (abs(relative_effect) * pilot.ratio_a)) ** 2))


def tokens_mde(n_tasks: int, pilot: TokensPilot, alpha: float = 0.05, target: float = 0.8) -> float:
    """The smallest relative change of tokens per success n tasks detect: (z_{α/2} + z_β) sd / (√n R_A)."""
    _check_level(alpha, target)
    z = norm.ppf(1.0 - alpha / 2.0) + norm.ppf(target)
    return float(z * pilot.sd / (math.sqrt(n_tasks) * pilot.ratio_a))
