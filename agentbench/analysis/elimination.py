"""Successive elimination of a sweep's arms (pure): the arms (cells of one server group) run the same tasks
in one seeded random order, one task at a time; after each task every live arm is compared with the current
best arm, and an arm decided worse than it is dropped (it runs no more tasks).

The comparisons are the duel's confidence sequences (`stats_sequential`, the betting CS of Waudby-Smith &
Ramdas), one per pair of arms, fed the pair's per-task differences (an arm's outcome on a task: its share
of the task's scored epochs solved, in [0, 1]) while both arms are live, each at level α / (K − 1) for K
arms (Bonferroni over the K − 1 comparisons an arm can be in). The best arm is the live arm with the
highest mean outcome so far (the first in grid order on ties); arm k is dropped when the CS of
(best − k) lies above 0.

Guarantee: let k* be an arm with the highest completion rate. It can be dropped only if the CS of one of
its K − 1 pairs excludes the pair's true difference (which is ≤ 0 for the other arm − k*) at some task; each
CS does so with probability ≤ α / (K − 1) at any time at all (anytime-valid, so the data-dependent choice
of the best and the stopping are allowed), hence P(k* is ever dropped) ≤ α — under the duel's assumptions:
tasks in a random order from an exchangeable pool, attempts independent given the task. It says nothing of
which of the surviving arms is best, nor that a worse arm will be dropped (that takes enough tasks).

`EliminationState` is the serialisable state fed task by task (`add`); `drops` is the rule, shared with
`simulate`, which runs it on many synthetic sweeps at once (tests).
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentbench.analysis.results import ArmRecord, EliminationSummary
from agentbench.stats_sequential import GRID_POINTS, DuelState, confidence_paths

METHOD = ("betting confidence sequence per pair of arms (Waudby-Smith & Ramdas 2023, as the duel), each at "
          "alpha / (arms − 1): Bonferroni over an arm's comparisons")


def guarantee(alpha: float) -> str:
    return (f"with probability ≥ {1 - alpha:.3g}, an arm with the highest completion rate of its server group is "
            "never dropped (tasks in a random order from an exchangeable pool; attempts independent given the task)")


def drops(means: np.ndarray, live: np.ndarray, better: np.ndarray) -> np.ndarray:
    """The rule, for a batch: `means` (B, K) mean outcome per arm (NaN: none yet), `live` (B, K) bool,
    `better` (B, K, K) bool with better[b, i, j]: arm i decided better than arm j. Returns (B, K) bool: the
    live arms decided worse than the best live arm (the one with the highest mean; the first on ties)."""
    scored = np.where(live & ~np.isnan(means), means, -np.inf)
    best = np.argmax(scored, axis=1)
    rows = np.arange(means.shape[0])
    has_best = np.isfinite(scored[rows, best])
    out = better[rows, best, :] & live & has_best[:, None]
    out[rows, best] = False
    return out


class Pair(BaseModel):
    """The duel of arms `a` and `b` (differences b − a): `b_better` means b decided better than a."""

    model_config = ConfigDict(extra="forbid")

    a: str
    b: str
    duel: DuelState


class Drop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: int = Field(description="tasks of the order decided when it was dropped")
    task_id: str
    best: str
    lower: float = Field(description="CS of best − this arm, as it stood when the pair was decided")
    upper: float


class EliminationState(BaseModel):
    """An elimination among `arms`, fed one task at a time (`add`); serialisable as it stands."""

    model_config = ConfigDict(extra="forbid")

    arms: list[str] = Field(min_length=2)
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    budget: int = Field(ge=1, description="tasks in the order")
    grid_points: int = Field(GRID_POINTS, ge=3)
    tasks: list[str] = Field(default_factory=list, description="the tasks fed so far, in order")
    outcomes: dict[str, list[float | None]] = Field(default_factory=dict, description="per arm, per task fed: its "
                                                    "share of scored epochs solved; None: dropped, or no scored epoch")
    pairs: list[Pair] = Field(default_factory=list)
    dropped: dict[str, Drop] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fill(self) -> EliminationState:
        if len(set(self.arms)) != len(self.arms):
            raise ValueError("arm names must be distinct")
        if not self.pairs:
            level = self.alpha / (len(self.arms) - 1)
            self.pairs = [Pair(a=a, b=b, duel=DuelState(alpha=level, budget=self.budget, grid_points=self.grid_points))
                          for a, b in itertools.combinations(self.arms, 2)]
        for arm in self.arms:
            self.outcomes.setdefault(arm, [])
        return self

    @property
    def per_comparison_alpha(self) -> float:
        return self.alpha / (len(self.arms) - 1)

    @property
    def live(self) -> list[str]:
        return [a for a in self.arms if a not in self.dropped]

    @property
    def done(self) -> bool:
        return len(self.live) <= 1 or len(self.tasks) >= self.budget

    def means(self) -> dict[str, float | None]:
        out = {}
        for arm, values in self.outcomes.items():
            scored = [v for v in values if v is not None]
            out[arm] = sum(scored) / len(scored) if scored else None
        return out

    def _better(self) -> np.ndarray:
        pos = {a: i for i, a in enumerate(self.arms)}
        better = np.zeros((len(self.arms), len(self.arms)), dtype=bool)
        for p in self.pairs:
            if p.duel.steps:
                last = p.duel.steps[-1]
                better[pos[p.b], pos[p.a]] = last.lower > 0.0
                better[pos[p.a], pos[p.b]] = last.upper < 0.0
        return better

    def add(self, task_id: str, outcomes: dict[str, float | None]) -> EliminationState:
        """The state after one more task (a new object): `outcomes` has each live arm's share of the task's
        scored epochs solved (None when it has none scored). The arms decided worse than the best are dropped."""
        if self.done:
            raise ValueError("the elimination is over: it takes no more tasks")
        live = self.live
        if missing := [a for a in live if a not in outcomes]:
            raise ValueError(f"no outcome for the live arms {missing}")
        got = {a: (None if outcomes[a] is None else float(outcomes[a])) for a in live}  # type: ignore[arg-type]
        if any(v is not None and not 0.0 <= v <= 1.0 for v in got.values()):
            raise ValueError("an outcome is a share of epochs solved, in [0, 1]")
        pairs = []
        for p in self.pairs:
            ya, yb = got.get(p.a), got.get(p.b)
            fed = p.a in got and p.b in got and ya is not None and yb is not None and not p.duel.done
            pairs.append(p.model_copy(update={"duel": p.duel.add(yb - ya)}) if fed else p)  # type: ignore[operator]
        new = self.model_copy(update={"tasks": [*self.tasks, task_id], "pairs": pairs, "dropped": dict(self.dropped),
                                      "outcomes": {a: [*v, got.get(a)] for a, v in self.outcomes.items()}})
        means = new.means()
        row = np.array([[np.nan if means[a] is None else means[a] for a in self.arms]])
        alive = np.array([[a in got for a in self.arms]])
        decided = drops(row, alive, new._better()[None])[0]
        best = self.arms[int(np.argmax(np.where(alive[0] & ~np.isnan(row[0]), row[0], -np.inf)))]
        for arm, drop in zip(self.arms, decided):
            if drop:
                new.dropped[arm] = Drop(after=len(new.tasks), task_id=task_id, best=best, **new._cs(best, arm))
        return new

    def _cs(self, best: str, arm: str) -> dict[str, float]:
        """The CS of (best − arm) as it stands."""
        p = next(p for p in self.pairs if {p.a, p.b} == {best, arm})
        last = p.duel.steps[-1]
        return {"lower": last.lower, "upper": last.upper} if p.b == best else {"lower": -last.upper,
                                                                              "upper": -last.lower}


def simulate(outcomes: ArrayLike, alpha: float = 0.05, grid_points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The elimination on many synthetic sweeps at once: `outcomes` (B, K, n) per sweep, arm and task (in
    order), each in [0, 1]. Returns (dropped_after (B, K): tasks decided when the arm was dropped, 0 when
    never; rounds (B,): tasks run before one arm was left, or n). The same rule as `EliminationState`: each
    pair's CS path over all n tasks is what the pair would have been fed while both arms were live."""
    y = np.asarray(outcomes, dtype=float)
    batch, k, n = y.shape
    lower, upper = np.zeros((batch, k, k, n)), np.zeros((batch, k, k, n))
    for i, j in itertools.combinations(range(k), 2):  # the CS of y_j − y_i; its mirror for y_i − y_j
        _, lo, hi = confidence_paths(y[:, j] - y[:, i], alpha=alpha / (k - 1), grid_points=grid_points)
        lower[:, j, i], upper[:, j, i] = lo, hi
        lower[:, i, j], upper[:, i, j] = -hi, -lo
    live = np.ones((batch, k), dtype=bool)
    dropped_after = np.zeros((batch, k), dtype=int)
    rounds = np.full(batch, n)
    sums = np.zeros((batch, k))
    for t in range(n):
        running = live.sum(axis=1) > 1
        sums += y[:, :, t]
        step = drops(sums / (t + 1), live, lower[..., t] > 0.0) & running[:, None]
        dropped_after[step] = t + 1
        live &= ~step
        rounds = np.where(running & (live.sum(axis=1) <= 1), t + 1, rounds)
    return dropped_after, rounds


def summarize(states: list[EliminationState | None], groups: list[list[str]], *, alpha: float, tasks: int,
              spent: dict[str, int], full: dict[str, int], labels: dict[str, str]) -> EliminationSummary:
    """sweep.json's record: per server group its arms (`groups`, cell names) and its state (None for a group
    of one arm, which runs every task); `spent` / `full`: per arm, the attempts in its folder / tasks × epochs."""
    arms = []
    for g, (names, state) in enumerate(zip(groups, states)):
        for name in names:
            drop = None if state is None else state.dropped.get(name)
            arms.append(ArmRecord(
                name=name, label=labels.get(name, name), group=g, attempts_spent=spent[name], attempts_full=full[name],
                **({} if drop is None else {"dropped_after": drop.after, "dropped_at_task": drop.task_id,
                                            "best_then": drop.best, "cs_vs_best": (drop.lower, drop.upper)})))
    used, total = sum(a.attempts_spent for a in arms), sum(a.attempts_full for a in arms)
    return EliminationSummary(alpha=alpha, method=METHOD, guarantee=guarantee(alpha), tasks=tasks,
                              rounds=[tasks if s is None else len(s.tasks) for s in states], arms=arms,
                              attempts_spent=used, attempts_full=total, attempts_saved=total - used,
                              saved_share=(total - used) / total if total else 0.0)


def summary_lines(summary: EliminationSummary) -> list[str]:
    """The elimination in a few plain lines: each dropped arm, and the attempts spent and saved."""
    lines = [f"successive elimination (alpha {summary.alpha:g}): {summary.guarantee}"]
    label = {a.name: a.label or a.name for a in summary.arms}
    for a in summary.arms:
        if a.dropped_after is not None and a.cs_vs_best is not None:
            lines.append(f"  dropped {a.label or a.name} after {a.dropped_after} of {summary.tasks} tasks: worse than "
                         f"{label.get(a.best_then or '', a.best_then)} (best − it in [{a.cs_vs_best[0]:+.2f}, {a.cs_vs_best[1]:+.2f}]); "
                         f"{a.attempts_spent} of {a.attempts_full} attempts")
    kept = [a.label or a.name for a in summary.arms if a.dropped_after is None]
    lines.append(f"  kept: {' | '.join(kept)}")
    lines.append(f"  attempts: {summary.attempts_spent} of the full grid's {summary.attempts_full} spent, "
                 f"{summary.attempts_saved} saved ({summary.saved_share:.0%})")
    return lines
