"""Pure anytime-valid inference for a paired comparison fed one task at a time (a duel of A and B): a
confidence sequence (CS) for the mean paired difference in completion rate, and the stopping rule on it.

Per task pair the difference d = solved in B − solved in A (with epochs, its mean over the task's epochs)
lies in [−1, 1]; its population mean δ is the difference in completion rate. The CS is the betting CS of
Waudby-Smith & Ramdas (2023, "Estimating means of bounded random variables by betting", JRSSB) with their
adaptive GRAPA bets: on x = (d + 1) / 2 ∈ [0, 1] and for every candidate mean m of x,

    K_t(m) = Π_{i≤t} (1 + λ_i(m) (x_i − m)),     C_t = {m : K_t(m) < 1/α},
    λ_i(m) = (μ̂_{i−1} − m) / (σ̂²_{i−1} + (μ̂_{i−1} − m)²), clipped to [−c / (1 − m), c / m], c = ½,
    μ̂_i = (½ + Σ_{j≤i} x_j) / (i + 1),  σ̂²_i = (¼ + Σ_{j≤i} (x_j − μ̂_j)²) / (i + 1).

The bet λ_i(m) uses only the pairs before i and |λ_i(m) (x_i − m)| ≤ c < 1, so at the true mean K_t is a
nonnegative martingale starting at 1 and by Ville's inequality P(∃t: δ ∉ C_t) ≤ α: valid at every t at
once, under continuous monitoring and optional stopping, for any bounded d, provided E[d_t | d_1..d_{t−1}]
= δ for every t (tasks in a random order from an exchangeable pool; the attempts independent given the
task). C_t is computed on a grid of m; the reported interval is the hull of the grid points in C_t (the
exact set reaches less than one grid step further out), intersected over time (the running intersection
of a CS is a CS too).

Stopping rule (`decide`): `b_better` when the lower bound is > 0, `a_better` when the upper bound is < 0,
`no_difference` when the CS lies strictly inside (−margin, +margin), `undecided` at the budget.
`DuelState` is the serialisable state a runner feeds pair by pair (duel.json); `confidence_paths` runs
the same computation over many sequences at once (simulations). `MeanSequence` is the same CS, without a
stopping rule, for a difference bounded by ±scale in other units (a duel's tokens per success).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

Decision = Literal["b_better", "a_better", "no_difference", "undecided"]
DECISIONS: tuple[Decision, ...] = ("b_better", "a_better", "no_difference", "undecided")
METHOD = "betting_agrapa_wsr2023"
TRUNCATION = 0.5  # c: a bet never stakes more than half the capital
GRID_POINTS = 2001  # candidate means on [−1, 1]: a step of 0.001


def cs_grid(points: int = GRID_POINTS, margin: float = 0.0) -> np.ndarray:
    """Candidate means of the difference: ``points`` evenly on [−1, 1], plus 0 and ±margin exactly."""
    if points < 3:
        raise ValueError(f"the grid needs at least 3 points, got {points}")
    extra = [0.0, -margin, margin] if margin > 0 else [0.0]
    return np.unique(np.round(np.concatenate([np.linspace(-1.0, 1.0, points), extra]), 12))


class _Capital:
    """The betting capital on a grid of candidate means for a batch of sequences, one step at a time;
    ``lo``/``hi`` index the running intersection of the CS's hull on the grid."""

    def __init__(self, batch: int, grid: np.ndarray, alpha: float) -> None:
        self.grid, self.alpha = grid, alpha
        self.m = (grid + 1.0) / 2.0
        with np.errstate(divide="ignore"):
            self.cap_up, self.cap_down = TRUNCATION / self.m, TRUNCATION / (1.0 - self.m)
        self.t = 0
        self.sum_x, self.sum_sq, self.sum_d = np.zeros(batch), np.zeros(batch), np.zeros(batch)
        self.mu_hat, self.var_hat = np.full(batch, 0.5), np.full(batch, 0.25)
        self.log_k = np.zeros((batch, grid.size))
        self.lo, self.hi = np.zeros(batch, dtype=np.intp), np.full(batch, grid.size - 1, dtype=np.intp)

    def copy(self) -> _Capital:
        new = object.__new__(_Capital)
        new.__dict__ = {k: (v.copy() if isinstance(v, np.ndarray) and k not in ("grid", "m") else v)
                        for k, v in self.__dict__.items()}
        return new

    def step(self, d: np.ndarray) -> None:
        x = (d + 1.0) / 2.0
        # only the grid points still inside some sequence's running intersection can matter again
        a, b = int(self.lo.min()), int(self.hi.max()) + 1
        m = self.m[a:b]
        gap = self.mu_hat[:, None] - m[None, :]
        bet = np.clip(gap / (self.var_hat[:, None] + gap * gap), -self.cap_down[None, a:b], self.cap_up[None, a:b])
        self.log_k[:, a:b] += np.log1p(bet * (x[:, None] - m[None, :]))
        t = self.t = self.t + 1
        self.sum_x += x
        self.sum_d += d
        self.mu_hat = (0.5 + self.sum_x) / (t + 1.0)
        self.sum_sq += (x - self.mu_hat) ** 2
        self.var_hat = (0.25 + self.sum_sq) / (t + 1.0)
        keep = self.log_k[:, a:b] < math.log(1.0 / self.alpha)
        some = keep.any(axis=1)  # an empty set (probability <= alpha) leaves the sequence where it was
        first = a + np.argmax(keep, axis=1)
        last = b - 1 - np.argmax(keep[:, ::-1], axis=1)
        self.lo = np.where(some, np.maximum(self.lo, first), self.lo)
        self.hi = np.where(some, np.minimum(self.hi, last), self.hi)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.grid[self.lo], self.grid[self.hi]


def _check(alpha: float, margin: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"margin must be in [0, 1), got {margin}")


def _differences(d: ArrayLike) -> np.ndarray:
    arr = np.asarray(d, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 1.0):
        raise ValueError("paired differences must lie in [-1, 1] (solved in B − solved in A, per task)")
    return arr


def confidence_paths(differences: ArrayLike, alpha: float = 0.05, margin: float = 0.0,
                     grid_points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, lower, upper) after each pair, for sequences of paired differences of shape ``(n,)`` or
    ``(batch, n)``: the running mean and the running-intersection CS (see the module doc)."""
    _check(alpha, margin)
    d = _differences(differences)
    single = d.ndim == 1
    d = np.atleast_2d(d)
    cap = _Capital(d.shape[0], cs_grid(grid_points, margin), alpha)
    est, low, up = (np.empty(d.shape) for _ in range(3))
    for i in range(d.shape[1]):
        cap.step(d[:, i])
        est[:, i] = cap.sum_d / cap.t
        low[:, i], up[:, i] = cap.bounds()
    return (est[0], low[0], up[0]) if single else (est, low, up)


def decide(lower: ArrayLike, upper: ArrayLike, n: int, budget: int, margin: float = 0.0) -> Decision | None:
    """The stopping rule after n pairs: the decision, or None to go on."""
    lower, upper = float(lower), float(upper)  # type: ignore[arg-type]
    if lower > 0.0:
        return "b_better"
    if upper < 0.0:
        return "a_better"
    if margin > 0.0 and -margin < lower and upper < margin:
        return "no_difference"
    return "undecided" if n >= budget else None


def stop_times(lower: np.ndarray, upper: np.ndarray, budget: int,
               margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """For paths of shape ``(batch, n)`` (n ≥ budget): the decision of each (an index into `DECISIONS`) and
    the pairs it used, by `decide` at every step up to the budget."""
    lower, upper = np.asarray(lower)[:, :budget], np.asarray(upper)[:, :budget]
    if lower.shape[1] < budget:
        raise ValueError(f"the paths are shorter ({lower.shape[1]}) than the budget ({budget})")
    hit = np.stack([lower > 0.0, upper < 0.0,
                    (margin > 0.0) & (lower > -margin) & (upper < margin)])  # (3, batch, budget)
    any_hit = hit.any(axis=0)
    stopped = any_hit.any(axis=1)
    when = np.where(stopped, np.argmax(any_hit, axis=1), budget - 1)
    rows = np.arange(lower.shape[0])
    code = np.where(stopped, np.argmax(hit[:, rows, when], axis=0), 3)
    return code, when + 1


class CSStep(BaseModel):
    """The confidence sequence after ``n`` task pairs: the mean difference so far and the CS bounds."""

    model_config = ConfigDict(extra="forbid")

    n: int
    estimate: float
    lower: float
    upper: float


def _replay(capital: _Capital | None, differences: list[float], grid_points: int, margin: float,
            alpha: float) -> _Capital:
    """A copy of the capital after `differences` (the one kept, else rebuilt from them: a state read back)."""
    if capital is not None and capital.t == len(differences):
        return capital.copy()
    cap = _Capital(1, cs_grid(grid_points, margin), alpha)
    for d in differences:
        cap.step(np.array([d]))
    return cap


class DuelState(BaseModel):
    """A duel's statistics, fed one task pair at a time (`add`), serialisable as it stands (duel.json):
    the settings, every paired difference, the CS after each and the decision (None while it goes on).
    A state read back from JSON rebuilds its capital from ``differences`` on its next `add`."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["betting_agrapa_wsr2023"] = METHOD
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    margin: float = Field(0.0, ge=0.0, lt=1.0, description="no_difference when the CS lies inside ±margin")
    budget: int = Field(ge=1, description="task pairs at most")
    grid_points: int = Field(GRID_POINTS, ge=3)
    differences: list[float] = Field(default_factory=list, description="per pair: solved in B − solved in A")
    steps: list[CSStep] = Field(default_factory=list)
    decision: Decision | None = None
    _capital: _Capital | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> DuelState:
        if len(self.steps) != len(self.differences) or len(self.differences) > self.budget:
            raise ValueError("a duel state needs one step per difference, and no more than the budget")
        _differences(self.differences)
        return self

    @property
    def tasks_used(self) -> int:
        return len(self.differences)

    @property
    def done(self) -> bool:
        return self.decision is not None

    def _replayed(self) -> _Capital:
        return _replay(self._capital, self.differences, self.grid_points, self.margin, self.alpha)

    def add(self, difference: float) -> DuelState:
        """The state after one more task pair (a new object; this one is unchanged)."""
        if self.done:
            raise ValueError(f"the duel is decided ({self.decision}); it takes no more pairs")
        d = float(_differences([difference])[0])
        cap = self._replayed()
        cap.step(np.array([d]))
        lower, upper = (float(b[0]) for b in cap.bounds())
        n = cap.t
        step = CSStep(n=n, estimate=float(cap.sum_d[0] / n), lower=lower, upper=upper)
        new = self.model_copy(update={"differences": [*self.differences, d], "steps": [*self.steps, step],
                                      "decision": decide(lower, upper, n, self.budget, self.margin)})
        new._capital = cap
        return new

    def extend(self, differences: ArrayLike) -> DuelState:
        """Feed pairs until the duel is decided (the pairs after that are not used)."""
        state = self
        for d in np.asarray(differences, dtype=float).ravel():
            if state.done:
                break
            state = state.add(float(d))
        return state


class MeanSequence(BaseModel):
    """The same betting CS for the mean of a paired difference bounded by ±`scale` in its own units (a duel's
    tokens per success: `scale` is the attempt's token limit), fed one value at a time: on value / scale,
    each value clipped to [−scale, scale] first (so the guarantee is for the mean of the clipped values).
    No stopping rule: it is reported beside the completion-rate sequence that stops a duel."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["betting_agrapa_wsr2023"] = METHOD
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    scale: float = Field(gt=0.0, description="the bound on |value|, in the values' units")
    grid_points: int = Field(GRID_POINTS, ge=3)
    values: list[float] = Field(default_factory=list, description="the values fed, clipped, in their units")
    steps: list[CSStep] = Field(default_factory=list, description="estimate and CS in the values' units")
    _capital: _Capital | None = PrivateAttr(default=None)

    def add(self, value: float) -> MeanSequence:
        """The sequence after one more value (a new object; this one is unchanged)."""
        if not math.isfinite(value):
            raise ValueError(f"a value must be finite, got {value}")
        v = min(max(float(value), -self.scale), self.scale)
        cap = _replay(self._capital, [x / self.scale for x in self.values], self.grid_points, 0.0, self.alpha)
        cap.step(np.array([v / self.scale]))
        lower, upper = (float(b[0]) * self.scale for b in cap.bounds())
        values = [*self.values, v]
        step = CSStep(n=cap.t, estimate=sum(values) / cap.t, lower=lower, upper=upper)
        new = self.model_copy(update={"values": values, "steps": [*self.steps, step]})
        new._capital = cap
        return new


def run_duel(differences: ArrayLike, budget: int, alpha: float = 0.05, margin: float = 0.0) -> DuelState:
    """A duel over these pairs in order, stopped by `decide`."""
    return DuelState(alpha=alpha, margin=margin, budget=budget).extend(differences)
