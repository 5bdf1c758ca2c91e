"""The data of compare and sweep: pydantic models of their inputs (a loaded run, a loaded sweep cell),
the sweep plan (factors, cells), their results (compare.json, sweep.json) and their errors.

Models only: no computation beyond a few derived names, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentbench.analysis.duel import DuelRecord
from agentbench.protocols import AttemptRecord

ALPHA = 0.05
"""Default significance level of the completion test (the bootstrap intervals are at 1 − alpha)."""
CompletionTest = Literal["mcnemar_exact", "sign_flip_tasks"]
"""The paired test of the completion difference: exact McNemar (one epoch), or the exact sign-flip
permutation test over tasks of the per-task solved differences (the pairs span more epochs)."""
TEST_LABELS: dict[str, str] = {"mcnemar_exact": "McNemar", "sign_flip_tasks": "sign-flip test over tasks"}
"""How the views name each CompletionTest."""
Metric = Literal["completion_rate", "tokens_per_success", "wall_clock_per_attempt_s"]
"""The metrics a sweep attributes to its factors."""


class CompareError(ValueError):
    """A run that cannot be compared (missing or unreadable); the message names the run folder."""


class SweepError(ValueError):
    """A malformed grid, or a sweep folder that holds another sweep; the message says which."""


# ---- compare ---------------------------------------------------------------------------------------

class LoadedRun(BaseModel):
    path: str = Field(description="the run folder as given")
    abs_path: str
    run_id: str | None = None
    graph: str | None = None
    model: str | None = None
    suite: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    graph_identity: dict[str, Any] | None = Field(None, description="the run's `graph` meta (source hash, git)")
    attempts: list[AttemptRecord] = Field(default_factory=list)
    attempt_ids: dict[tuple[str, int], int] = Field(default_factory=dict, description="(task, epoch) -> the "
                                                    "store's id of its latest try (report.html's #attempt-ID)")
    duel: DuelRecord | None = Field(None, description="the duel.json beside the folder when it is a duel's run")
    duel_arm: Literal["a", "b"] | None = Field(None, description="which of the duel's runs it is")


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
    p_value: float = Field(description="exact two-sided McNemar test: binomtest(only_a, only_a + only_b, 0.5); "
                                       "with epochs > 1 for reference only (it treats epochs as independent)")


class MetricDiff(BaseModel):
    metric: Literal["completion_rate", "tokens_per_success", "steps_per_attempt", "wall_clock_per_attempt_s"]
    a: float | None
    b: float | None
    diff: float | None = Field(description="b - a")
    ci95: tuple[float, float] | None = Field(description="paired bootstrap interval of the difference "
                                                         "(resampling tasks, each with all its epochs)")
    p_value: float | None = Field(None, description="completion rate: the p-value of `test`")
    test: CompletionTest | None = Field(None, description="completion rate: the paired test behind p_value")
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
    tasks: int = Field(0, description="distinct tasks among the pairs: the bootstrap's resampled unit")
    clustered: bool = Field(False, description="the pairs span more than one epoch: the completion test is the "
                                               "sign-flip test over tasks")
    mcnemar: McNemarTable
    metrics: list[MetricDiff]
    flipped: list[Flip]
    unpaired: list[Unpaired]
    noise: list[TaskNoise] = Field(default_factory=list, description="per task, when either run has epochs > 1")
    config_diff: dict[str, tuple[Any, Any]] = Field(default_factory=dict, description="dotted key: (A, B)")
    graph_diff: dict[str, tuple[Any, Any]] = Field(default_factory=dict, description="the graph's identity where it "
                                                   "differs: source (hash), dirty, commit: (A, B)")
    warnings: list[str] = Field(default_factory=list)
    verdict: str
    mde: float | None = Field(None, description="the smallest |B − A| in completion rate the pairs detect with the "
                                                "completion test at alpha and power 0.8 (analysis.duel.pair_mde)")
    duel: DuelRecord | None = Field(None, description="A and B are a duel's runs: its duel.json")


class CompareResult(BaseModel):
    """compare.json."""

    baseline: str
    alpha: float = ALPHA
    confidence: float = 0.95
    n_resamples: int = 2000
    seed: int = 0
    comparisons: list[PairComparison]


# ---- sweep: the plan -------------------------------------------------------------------------------

class Factor(BaseModel):
    key: str = Field(description="dotted config key, as in --set")
    levels: list[str] = Field(description="override texts, as in --set KEY=LEVEL; the first is the baseline")


class Cell(BaseModel):
    name: str = Field(description="its run folder's name under the sweep folder")
    assignments: dict[str, str] = Field(description="factor key -> level, in factor order")

    @property
    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.assignments.items())

    def overrides(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.assignments.items()]


Design = Literal["full", "half"]
"""The cells a sweep runs: the full grid, or (4+ two-level factors) its half fraction (`analysis.design`)."""


class Aliasing(BaseModel):
    """What a half fraction cannot tell apart (`analysis.design.aliasing`): factors lettered A, B, … in grid
    order; each statement `X ± Y`: the contrast of effect X estimates X plus (or minus) the effect Y."""

    relation: str = Field(description="the defining relation, e.g. `I = ABCD` (first level −1, second +1)")
    resolution: int
    letters: dict[str, str] = Field(description="factor key -> its letter")
    main_effects: list[str] = Field(description="each main effect and its alias, e.g. `A + BCD`")
    two_factor: list[str] = Field(description="each reported two-factor interaction and its alias, e.g. `AB + CD`")
    two_factor_estimable: bool = Field(description="aliased only with 3+-factor interactions (k ≥ 5)")
    statements: list[str] = Field(description="the same in words, as printed when the sweep starts")


class EliminationPlan(BaseModel):
    """plan.json's settings of successive elimination (`sweep --eliminate`), fixed when the sweep starts."""

    alpha: float = Field(gt=0.0, lt=1.0, description="the chance, at most, that a server group's best arm is ever "
                                                     "dropped (Bonferroni: alpha / (arms − 1) per comparison)")
    seed: int = Field(description="seed of the task order (the experiment's run.seed)")
    task_order: list[str] = Field(description="the tasks in the order every arm runs them")


class SweepPlan(BaseModel):
    """plan.json: fixed when the sweep starts, so the same command finds and resumes the same folders."""

    experiment: str | None
    sets: list[str]
    factors: list[Factor]
    cells: list[Cell]
    base_config: dict[str, Any] = Field(description="the resolved experiment with --set, before the grid")
    design: Design = "full"
    aliasing: Aliasing | None = Field(None, description="design half: what the fraction aliases")
    elimination: EliminationPlan | None = Field(None, description="--eliminate: its settings; None: every cell runs "
                                                                  "every task")

    def same_sweep(self, other: SweepPlan) -> bool:
        return ((self.factors, self.cells, self.base_config, self.design, self.elimination)
                == (other.factors, other.cells, other.base_config, other.design, other.elimination))

    def digest(self) -> str:
        extra = ([{"design": self.design}] if self.design != "full" else []) + (
            [{"eliminate": [self.elimination.alpha, self.elimination.seed]}] if self.elimination is not None else [])
        blob = json.dumps([f.model_dump() for f in self.factors] + [self.base_config] + extra, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:8]


# ---- sweep: successive elimination -----------------------------------------------------------------

class ArmRecord(BaseModel):
    """One cell of an eliminating sweep: when it was dropped (if it was) and what it spent."""

    name: str
    label: str = ""
    group: int = Field(description="its server group (0-based): arms are compared within a group")
    dropped_after: int | None = Field(None, description="the number of tasks of the order decided when it was "
                                                        "dropped; None: never dropped")
    dropped_at_task: str | None = Field(None, description="the task whose outcome decided the drop")
    best_then: str | None = Field(None, description="the arm it was decided worse than (the best then)")
    cs_vs_best: tuple[float, float] | None = Field(None, description="the confidence sequence of (best − this arm) "
                                                   "in completion rate, at the per-comparison level, as it stood "
                                                   "when the pair was decided (a pair is fed no more after)")
    attempts_spent: int = Field(description="(task, epoch) attempts in its run folder")
    attempts_full: int = Field(description="tasks × epochs: what the full grid spends on it")


class EliminationSummary(BaseModel):
    """sweep.json's record of successive elimination (`runner.sweep_elimination`, `analysis.elimination`)."""

    alpha: float
    method: str = Field(description="the confidence sequence of each pair and the correction")
    guarantee: str
    tasks: int = Field(description="tasks in the order")
    rounds: list[int] = Field(description="per server group: tasks of the order its arms went through before "
                                          "one arm was left or the tasks ran out")
    arms: list[ArmRecord]
    attempts_spent: int
    attempts_full: int
    attempts_saved: int
    saved_share: float = Field(description="attempts_saved / attempts_full")


# ---- sweep: cells and the result -------------------------------------------------------------------

class CellData(BaseModel):
    cell: Cell
    path: str
    attempts: list[AttemptRecord]
    run_wall_clock_s: float = 0.0


class CellSummary(BaseModel):
    name: str = Field(description="its run folder's name under the sweep folder")
    label: str = Field("", description="the cell named by its factor values, keys shortened where no other "
                                       "factor's ends alike: `temperature=0.7 · graph=react`")
    path: str
    assignments: dict[str, str]
    attempts: int
    errors: int
    completion_rate: float | None
    completion_ci95: tuple[float, float]
    completion_ci95_method: Literal["wilson", "cluster_bootstrap"] = "wilson"
    tokens_per_success: float | None
    wall_clock_per_attempt_s: float | None
    run_wall_clock_s: float


class Effect(BaseModel):
    kind: Literal["main", "interaction"]
    factors: list[str]
    levels: list[str] = Field(description="the level of each factor this effect moves to")
    baselines: list[str] = Field(description="each factor's baseline (first) level")
    metric: Metric
    estimate: float | None
    ci95: tuple[float, float] | None
    significant: bool | None = Field(description="the interval excludes 0 (not adjusted for multiplicity)")
    p_value: float | None = Field(None, description="two-sided bootstrap p-value of estimate = 0, from the same "
                                                    "draws as the interval")
    p_holm: float | None = Field(None, description="p_value Holm-adjusted over every effect of the sweep with one")
    significant_holm: bool | None = Field(None, description="p_holm < alpha")
    aliased_with: list[str] = Field(default_factory=list, description="design half: the factors of the interaction "
                                                                      "this estimate also contains (`aliasing`)")


class SweepResult(BaseModel):
    """sweep.json."""

    sweep_dir: str
    factors: list[Factor]
    cells: list[CellSummary]
    effects: list[Effect]
    pareto: dict[str, list[str]] = Field(description="completion rate vs `tokens_per_success` / "
                                                     "`wall_clock_per_attempt_s`: the cells on the front")
    confidence: float = 0.95
    alpha: float = Field(ALPHA, description="level of the Holm-adjusted tests: 1 − confidence")
    clustered: bool = Field(False, description="the attempts span more than one epoch (the bootstrap resamples "
                                               "tasks either way)")
    n_resamples: int = 2000
    seed: int = 0
    warnings: list[str] = Field(default_factory=list)
    design: Design = "full"
    aliasing: Aliasing | None = None
    elimination: EliminationSummary | None = Field(None, description="--eliminate: what was dropped when, and the "
                                                                     "attempts it saved")

