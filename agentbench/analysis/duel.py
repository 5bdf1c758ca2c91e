"""A duel's record (`duel.json`, written by `runner.duel` as the duel goes) and what the views say of it: the
decision with its confidence sequence in one line, the attempts spent and saved, and the fixed-n design of
the same power it is measured against. Also the minimum detectable effect of a compared pair.

Definitions (docs/metrics.md, "Planning a comparison and stopping it early"):

- attempts spent = 2 × epochs × the tasks the duel visited (both runs, every epoch; a task none of whose
  epochs both runs scored is visited but not fed to the sequence: `skipped`); the budget = 2 × epochs ×
  `tasks_budget`;
- the fixed-n design = the tasks the paired test `compare` uses needs for power `FIXED_POWER` at the duel's
  alpha (`stats_plan.tasks_needed`), against the difference the duel stopped at (its estimate, for
  `b_better` / `a_better`) or the margin (`no_difference`); the variance is the one the duel's pairs show
  (`stats_plan.pair_pilot`). None for `undecided` (no difference to plan for). With an early stop the
  estimate runs large (the duel stops where the data happen to lean far), so this comparator errs short;
- tokens per success (`TokensRecord`, reported, never a reason to stop): per task whose epochs both runs
  scored and both solved at least once, B's mean tokens per solved epoch minus A's, each attempt's tokens
  clipped to the token limit (`limits.max_tokens`, the larger of the two runs'), fed in the duel's order to a
  `stats_sequential.MeanSequence` bounded by that limit. It covers the mean of that difference over the
  tasks both solve, at every step at once, with probability ≥ 1 − alpha (the same assumptions); it is not
  `compare`'s tokens per success (Σ tokens / Σ solved per run, over every attempt), which has no
  anytime-valid interval here;
- the minimum detectable effect of a pair = the smallest |B − A| its tasks × epochs detect with the paired
  test at alpha and power `FIXED_POWER`, the variance held at the pair's (`stats_plan.min_detectable_effect`).

Pure: numbers in, models and text out.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from agentbench.stats_sequential import METHOD, CSStep, Decision, DuelState

FIXED_POWER = 0.8
"""The power of the fixed-n design a duel is measured against, and of the minimum detectable effect."""
ARMS = ("a", "b")
"""A duel's run folders inside its folder: DUEL/a (A, the baseline) and DUEL/b."""


class DuelStep(CSStep):
    """The sequence after the n-th task pair: which task it was and its difference (solved in B − solved in A,
    averaged over the epochs both runs scored), then the running mean and the CS."""

    task_id: str
    difference: float


class TokensRecord(BaseModel):
    """Tokens per success, B − A, on the tasks both runs solved, with its confidence sequence (module doc)."""

    model_config = ConfigDict(extra="forbid")

    scale: int = Field(description="the token limit each attempt's tokens are clipped to; it bounds the CS")
    sequence: list[DuelStep] = Field(default_factory=list, description="per task both solved: its difference "
                                     "in tokens per success, then the running mean and the CS, in tokens")


class FixedDesign(BaseModel):
    """The fixed-n design of power `power` against `effect` (see the module doc)."""

    model_config = ConfigDict(extra="forbid")

    effect: float = Field(description="the difference B − A it is planned for")
    basis: str = Field(description="`estimate` (where the duel stopped) or `margin` (no_difference)")
    power: float = FIXED_POWER
    tasks: int
    attempts: int = Field(description="both runs: 2 × tasks × epochs")


class DuelRecord(BaseModel):
    """duel.json: the settings, the task order and its seed, the sequence and the decision (None while the
    duel goes on), the attempts spent and the fixed-n design (when decided)."""

    model_config = ConfigDict(extra="forbid")

    method: str = METHOD
    experiment: str | None = None
    sets: list[str] = Field(default_factory=list, description="--set, for both runs")
    a: list[str] = Field(default_factory=list, description="--a: A's overrides")
    b: list[str] = Field(default_factory=list, description="--b: B's overrides")
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    margin: float = Field(0.0, ge=0.0, lt=1.0)
    order_seed: int = Field(description="seeds the random order of the tasks (random.Random(seed).shuffle)")
    order: list[str] = Field(default_factory=list, description="the task ids in the order the duel takes them")
    epochs: int = 1
    tasks_budget: int = Field(0, description="task pairs at most (default: every task)")
    decision: Decision | None = None
    tasks_used: int = Field(0, description="task pairs fed to the sequence")
    skipped: list[str] = Field(default_factory=list, description="tasks visited with no epoch both runs scored")
    attempts_spent: int = 0
    attempts_budget: int = 0
    sequence: list[DuelStep] = Field(default_factory=list)
    fixed_n: FixedDesign | None = None
    tokens: TokensRecord | None = Field(None, description="tokens per success on the tasks both solved")

    def state(self) -> DuelState:
        """The sequence as `stats_sequential.DuelState` (it rebuilds its capital from the differences)."""
        return DuelState(alpha=self.alpha, margin=self.margin, budget=max(1, self.tasks_budget, len(self.sequence)),
                         differences=[s.difference for s in self.sequence],
                         steps=[CSStep(n=s.n, estimate=s.estimate, lower=s.lower, upper=s.upper)
                                for s in self.sequence], decision=self.decision)


def fixed_design(record: DuelRecord, task_codes: Sequence[int], differences: Sequence[float]) -> FixedDesign | None:
    """The fixed-n design a decided duel is measured against, from its pairs (one task code and one
    difference in {−1, 0, 1} per (task, epoch) both runs scored); None when undecided or it cannot be planned."""
    from agentbench.stats_plan import PairedVariance, pair_pilot, tasks_needed

    if record.decision in ("b_better", "a_better") and record.sequence:
        effect, basis = record.sequence[-1].estimate, "estimate"
    elif record.decision == "no_difference":
        effect, basis = record.margin, "margin"
    else:
        return None
    if effect == 0.0 or not differences:
        return None
    variance = pair_pilot(task_codes, differences).variance
    room = 1.0 - effect * effect  # a task's mean difference cannot vary more than its bounds leave room for
    per_task = variance.per_task(record.epochs)
    if per_task > room:
        scale = room / per_task
        variance = PairedVariance(within=variance.within * scale, between=variance.between * scale)
    try:
        tasks = tasks_needed(effect, variance, record.epochs, record.alpha, FIXED_POWER)
    except ValueError:
        return None
    return FixedDesign(effect=effect, basis=basis, tasks=tasks, attempts=2 * tasks * record.epochs)


def pair_mde(task_codes: Sequence[int], differences: Sequence[float], alpha: float) -> float | None:
    """The minimum detectable effect of a compared pair (one task code and difference per shared pair)."""
    from agentbench.stats_plan import min_detectable_effect, pair_pilot

    if not differences:
        return None
    pilot = pair_pilot(task_codes, differences)
    return min_detectable_effect(pilot.tasks, pilot.variance, pilot.epochs, alpha, FIXED_POWER)


def _pts(x: float) -> str:
    return f"{x * 100:+.0f}"


def decision_line(record: DuelRecord) -> str:
    """`decided after 38 of 120 tasks: B − A = +21 pts, 95% CS [+6, +35] (B better)`."""
    n, budget = record.tasks_used, record.tasks_budget
    if not record.sequence:
        return f"no task pair yet (budget {budget} tasks)"
    last = record.sequence[-1]
    figures = f"B − A = {_pts(last.estimate)} pts, {1 - record.alpha:.0%} CS [{_pts(last.lower)}, {_pts(last.upper)}]"
    if record.decision is None:
        return f"going on after {n} of {budget} tasks: {figures}"
    if record.decision == "undecided":
        why = "the budget is spent" if n >= budget else "no task left"
        return f"undecided after {n} of {budget} tasks ({why}): {figures}"
    what = {"b_better": "B better", "a_better": "A better",
            "no_difference": f"no difference beyond ±{record.margin * 100:g} pts"}[record.decision]
    return f"decided after {n} of {budget} tasks: {figures} ({what})"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def attempts_line(record: DuelRecord) -> str:
    """`attempts: 76 of 240 spent (164 saved, 68%); a fixed-n test of power 0.8 at +21 pts needs 62 tasks =
    124 attempts (48 saved, 39%)`."""
    spent, budget = record.attempts_spent, record.attempts_budget
    line = f"attempts (both runs): {spent} of {budget} spent ({budget - spent} saved, {_share(budget - spent, budget)})"
    fixed = record.fixed_n
    if fixed is not None:
        at = (f"at {_pts(fixed.effect)} pts" if fixed.basis == "estimate"
              else f"at the margin ±{fixed.effect * 100:g} pts")
        saved = fixed.attempts - spent
        versus = (f"{saved} saved, {_share(saved, fixed.attempts)}" if saved >= 0
                  else f"{-saved} more, +{_share(-saved, fixed.attempts)}")
        line += (f"; a fixed-n test of power {fixed.power:g} {at} needs {fixed.tasks} tasks = {fixed.attempts} "
                 f"attempts ({versus})")
    return line


def tokens_line(record: DuelRecord) -> str | None:
    """`tokens per success on the 7 tasks both solved: B − A = -1,240, 95% CS [-3,900, +1,500]`; None when
    the duel has no token record."""
    if record.tokens is None:
        return None
    if not record.tokens.sequence:
        return "tokens per success: no task that both runs solved"
    last = record.tokens.sequence[-1]
    return (f"tokens per success on the {last.n} task{'s' if last.n != 1 else ''} both solved: B − A = "
            f"{last.estimate:+,.0f}, {1 - record.alpha:.0%} CS [{last.lower:+,.0f}, {last.upper:+,.0f}]")


def pair_lines(mde: float | None, duel: DuelRecord | None, alpha: float) -> list[str]:
    """What a compared pair shows beside its verdict: the duel's decision and attempts (when A and B are a
    duel's runs), and the pair's minimum detectable effect."""
    out = [decision_line(duel), attempts_line(duel)] if duel is not None else []
    if duel is not None and (tokens := tokens_line(duel)) is not None:
        out.append(tokens)
    if mde is not None:
        out.append(f"minimum detectable effect of this pair: ±{mde * 100:.1f} pts (paired test at alpha {alpha:g}, "
                   f"power {FIXED_POWER:g})")
    return out
