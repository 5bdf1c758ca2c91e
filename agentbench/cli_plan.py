"""`agentbench plan`: how many tasks (and epochs) a paired comparison of two runs needs to detect a given
difference, and the smallest difference a run (or a pair of runs) that exists could detect.

    agentbench plan --rates 0.4,0.5 [--discordance 0.2] [--alpha 0.05] [--power 0.8] [--epochs N]
    agentbench plan RUN_DIR [RUN_DIR_B] [--effect 0.05] [--tokens-effect 0.1] [--json]

Registered in cli.py (`app.command("plan")(plan)`). The statistics are `agentbench.stats_plan` (pure);
here: reading pilot runs (`analysis.io.load_run`, pairs by `analysis.compare.pair_attempts`), assembling a
`PlanResult` (the `--json` shape) and printing it. Definitions: docs/metrics.md, "Planning".
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Optional

import typer
from pydantic import BaseModel, Field

from agentbench.cli_common import fail, print_lines, terminal

if TYPE_CHECKING:
    from agentbench.analysis.results import LoadedRun
    from agentbench.protocols import AttemptRecord
    from agentbench.stats_plan import PairedVariance, TokensPilot

STANDARD_EPOCHS = (1, 2, 3, 5)


class EpochsRow(BaseModel):
    epochs: int
    tasks: int | None = Field(description="tasks needed with this many epochs per task and run")
    attempts_per_run: int | None


class TokensPlan(BaseModel):
    ratio_a: float = Field(description="the baseline's tokens per success on the pilot")
    sd: float = Field(description="sd over tasks of the paired influence difference (delta method)")
    pilot_tasks: int
    mde_relative: float = Field(description="smallest relative change the pilot's tasks detect")
    effect_relative: float | None = None
    tasks_needed: int | None = None


class PlanResult(BaseModel):
    """What `agentbench plan` prints (and writes with --json)."""

    source: Literal["rates", "run", "pair"]
    runs: list[str] = Field(default_factory=list)
    test: Literal["mcnemar_exact", "sign_flip_tasks"] = Field(description="the completion test planned for")
    alpha: float
    power: float
    epochs: int
    rate_a: float | None = None
    rate_b: float | None = None
    effect: float | None = Field(None, description="the difference planned for, B − A")
    discordance: float | None = Field(None, description="P(a pair is solved in one run only), at the effect")
    variance_within: float
    variance_between: float
    icc: float | None
    icc_measured: bool
    tasks_needed: int | None = None
    attempts_per_run: int | None = None
    by_epochs: list[EpochsRow] = Field(default_factory=list)
    tasks_available: int | None = None
    epochs_for_tasks: int | None = Field(None, description="fewest epochs with which tasks_available suffice")
    pilot_tasks: int | None = None
    pilot_epochs: int | None = None
    observed_effect: float | None = None
    observed_discordance: float | None = None
    mde: float | None = Field(None, description="smallest |B − A| the pilot's tasks × epochs detect")
    tokens: TokensPlan | None = None
    notes: list[str] = Field(default_factory=list)


def parse_rates(text: str) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--rates: expected two completion rates A,B in [0, 1], e.g. 0.4,0.5; got {text!r}") from None
    if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in (a, b)) or a == b:
        raise ValueError(f"--rates: expected two different rates in [0, 1], got {text!r}")
    return a, b


def _per_task(attempts: list[AttemptRecord]) -> tuple[list[str], dict[str, list[float]]]:
    """Per task id, over its scored attempts: [solved, scored, tokens]."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for r in attempts:
        if r.status != "error":
            row = totals[r.task_id]
            row[0] += r.status == "solved"
            row[1] += 1
            row[2] += r.totals.usage.total_tokens
    tasks = sorted(totals)
    return tasks, totals


def _epoch_rows(effect: float, variance: PairedVariance, epochs: int, alpha: float, power: float) -> list[EpochsRow]:
    from agentbench.stats_plan import tasks_needed

    rows = []
    for e in sorted({*STANDARD_EPOCHS, epochs}):
        try:
            n = tasks_needed(effect, variance, e, alpha, power)
        except ValueError:
            n = None
        rows.append(EpochsRow(epochs=e, tasks=n, attempts_per_run=None if n is None else n * e))
    return rows


def _one_pilot(run: LoadedRun, icc: float) -> tuple[PairedVariance, int, int, dict, TokensPilot | None]:
    """One pilot run: the variance of the difference between two runs of it, its epochs and tasks, the
    PlanResult fields it fills, and its tokens per success (when it solved something)."""
    from agentbench.stats_plan import tokens_pilot, variance_from_run

    names, per = _per_task(run.attempts)
    if not names:
        raise ValueError(f"{run.path}: no scored attempt to plan from")
    solved, scored = [per[t][0] for t in names], [per[t][1] for t in names]
    tokens = tokens_pilot([per[t][2] for t in names], solved) if sum(solved) > 0 and len(names) >= 2 else None
    base = dict(source="run", rate_a=sum(solved) / sum(scored), icc_measured=False)
    return variance_from_run(solved, scored, icc), int(max(scored)), len(names), base, tokens


def _pilot_pair(a: LoadedRun, b: LoadedRun, icc: float) -> tuple[PairedVariance, int, int, dict, TokensPilot | None]:
    """Two pilot runs, paired by (task, epoch) as `compare` pairs them: the same as `_one_pilot`, measured on
    the pairs (the variance split too, when a task has two or more epochs)."""
    from agentbench.analysis.compare import pair_attempts
    from agentbench.stats_plan import pair_pilot, tokens_pilot

    pairs, _ = pair_attempts(a.attempts, b.attempts)
    if not pairs:
        raise ValueError(f"{a.path} and {b.path} share no scored (task, epoch) attempt")
    names = sorted({x.task_id for x, _ in pairs})
    code = {t: i for i, t in enumerate(names)}
    diffs = [float(y.status == "solved") - float(x.status == "solved") for x, y in pairs]
    pilot = pair_pilot([code[x.task_id] for x, _ in pairs], diffs, icc)
    rate_a = sum(x.status == "solved" for x, _ in pairs) / len(pairs)
    base = dict(source="pair", rate_a=rate_a, rate_b=rate_a + sum(diffs) / len(pairs), icc_measured=pilot.icc_measured,
                observed_effect=pilot.effect, observed_discordance=pilot.discordance)
    per_a, per_b = _per_task([x for x, _ in pairs])[1], _per_task([y for _, y in pairs])[1]
    tokens = None
    if sum(per_a[t][0] for t in names) > 0 and sum(per_b[t][0] for t in names) > 0 and len(names) >= 2:
        tokens = tokens_pilot(*([per[t][i] for t in names] for per in (per_a, per_b) for i in (2, 0)))
    return pilot.variance, pilot.epochs, len(names), base, tokens


def make_plan(*, runs: list[LoadedRun] | None = None, rates: tuple[float, float] | None = None,
              discordance: float | None = None, effect: float | None = None, tokens_effect: float | None = None,
              alpha: float = 0.05, power: float = 0.8, epochs: int | None = None, tasks: int | None = None,
              icc: float | None = None) -> PlanResult:
    """The plan from stated rates or from one or two loaded pilot runs (`analysis.results.LoadedRun`).
    ValueError naming the argument on bad input."""
    from agentbench.stats_plan import (DEFAULT_ICC, independent_discordance, min_detectable_effect, tasks_needed,
                                       tokens_mde, tokens_tasks_needed, variance_from_rates)
    from agentbench.stats_plan import epochs_needed as fewest_epochs

    if not 0.0 < alpha < 1.0:
        raise ValueError(f"--alpha must be in (0, 1), got {alpha}")
    if not 0.0 < power < 1.0:
        raise ValueError(f"--power must be in (0, 1), got {power}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {epochs}")
    if tasks is not None and tasks < 1:
        raise ValueError(f"--tasks must be at least 1, got {tasks}")
    if icc is not None and not 0.0 <= icc <= 1.0:
        raise ValueError(f"--icc must be in [0, 1], got {icc}")
    if effect is not None and not (math.isfinite(effect) and 0.0 < abs(effect) <= 1.0):
        raise ValueError(f"--effect must be a non-zero difference in completion rate in [-1, 1], got {effect}")
    if (rates is None) == (not runs):
        raise ValueError("give either --rates A,B or one or two pilot run folders")
    split = DEFAULT_ICC if icc is None else icc
    notes: list[str] = []
    if rates is not None:
        if effect is not None or tokens_effect is not None:
            raise ValueError("--effect and --tokens-effect need pilot run folders; with --rates the effect is B − A")
        p_a, p_b = rates
        variance = variance_from_rates(p_a, p_b, discordance, split)
        e = epochs or 1
        result = PlanResult(source="rates", test="mcnemar_exact" if e == 1 else "sign_flip_tasks", alpha=alpha,
                            power=power, epochs=e, rate_a=p_a, rate_b=p_b, effect=round(p_b - p_a, 12),
                            discordance=independent_discordance(p_a, p_b) if discordance is None else discordance,
                            variance_within=variance.within, variance_between=variance.between, icc=variance.icc,
                            icc_measured=False)
        if discordance is None:
            notes.append("discordance assumed from independent runs (the largest for positively related runs)")
    else:
        if discordance is not None:
            raise ValueError("--discordance goes with --rates; a pair of pilot runs measures it")
        if len(runs) > 2:
            raise ValueError(f"give one or two pilot run folders, got {len(runs)}")
        variance, pilot_epochs, n_tasks, base, tokens = (_one_pilot(runs[0], split) if len(runs) == 1
                                                          else _pilot_pair(runs[0], runs[1], split))
        if len(runs) == 1:
            notes.append("one pilot run: the difference's noise is that of two independent runs of this system")
        e = epochs or pilot_epochs
        result = PlanResult(runs=[r.path for r in runs], test="mcnemar_exact" if e == 1 else "sign_flip_tasks",
                            alpha=alpha, power=power, epochs=e, effect=effect, variance_within=variance.within,
                            variance_between=variance.between, icc=variance.icc, pilot_tasks=n_tasks,
                            pilot_epochs=pilot_epochs,
                            mde=min_detectable_effect(n_tasks, variance, pilot_epochs, alpha, power), **base)
        if effect is not None:
            rate_a = result.rate_a or 0.0
            if not 0.0 <= rate_a + effect <= 1.0:
                raise ValueError(f"--effect {effect:+g} takes the baseline's completion rate {rate_a:.3f} "
                                 "outside [0, 1]")
            if result.source == "run":
                result.rate_b = rate_a + effect
            result.discordance = min(1.0, variance.total + effect * effect)
        if tokens is not None:
            result.tokens = TokensPlan(ratio_a=tokens.ratio_a, sd=tokens.sd, pilot_tasks=tokens.tasks,
                                       mde_relative=tokens_mde(tokens.tasks, tokens, alpha, power))
            if tokens_effect is not None:
                result.tokens.effect_relative = tokens_effect
                result.tokens.tasks_needed = tokens_tasks_needed(tokens_effect, tokens, alpha, power)
        elif tokens_effect is not None:
            raise ValueError("--tokens-effect: the pilot has no solved attempt (or fewer than two tasks) to measure "
                             "tokens per success on")
    if not result.icc_measured:
        notes.append(f"icc {split:.2f} assumed (--icc): the share of the difference's variance between tasks; "
                     "a pair of pilot runs with epochs > 1 measures it (it matters only for epochs > 1)")
    if result.effect is not None:
        result.tasks_needed = tasks_needed(result.effect, variance, result.epochs, alpha, power)
        result.attempts_per_run = result.tasks_needed * result.epochs
        result.by_epochs = _epoch_rows(result.effect, variance, result.epochs, alpha, power)
        if tasks is not None:
            result.tasks_available = tasks
            result.epochs_for_tasks = fewest_epochs(tasks, result.effect, variance, alpha, power)
    elif tasks is not None:
        raise ValueError("--tasks needs the difference to plan for (--effect, or --rates)")
    result.notes = notes
    return result


def _pts(x: float | None, sign: bool = True) -> str:
    return "–" if x is None else (f"{x * 100:+.1f} pts" if sign else f"{x * 100:.1f} pts")


def plan_lines(r: PlanResult) -> list[str]:
    test = ("exact McNemar on the discordant pairs" if r.test == "mcnemar_exact"
            else "exact sign-flip over tasks (normal approximation of its power)")
    out = [f"paired completion test: {test}; alpha {r.alpha:g}, power {r.power:g}"]
    if r.source == "rates":
        out.append(f"stated rates: A {r.rate_a:.1%}, B {r.rate_b:.1%} (difference {_pts(r.effect)}), "
                   f"discordance {r.discordance:.3f}")
    else:
        what = " vs ".join(r.runs)
        out.append(f"pilot: {what}: {r.pilot_tasks} tasks × {r.pilot_epochs} epoch(s), completion A {r.rate_a:.1%}"
                   + (f", B {r.rate_b:.1%} (observed {_pts(r.observed_effect)}, discordance "
                      f"{r.observed_discordance:.3f})" if r.source == "pair" else ""))
        out.append(f"minimum detectable effect of this pilot: ±{_pts(r.mde, False)}" if r.mde is not None else
                   "minimum detectable effect of this pilot: none (too few tasks for any difference)")
    if r.tasks_needed is not None:
        out.append(f"to detect {_pts(r.effect)}: {r.tasks_needed} tasks × {r.epochs} epoch(s) = "
                   f"{r.attempts_per_run} attempts per run")
        out.append("by epochs: " + " · ".join(
            f"{row.epochs}: {row.tasks if row.tasks is not None else '–'} tasks" for row in r.by_epochs))
        if r.tasks_available is not None:
            out.append(f"with {r.tasks_available} tasks: " + (
                f"{r.epochs_for_tasks} epoch(s)" if r.epochs_for_tasks is not None
                else "not reachable with up to 100 epochs (the variance between tasks sets a floor)"))
    if r.tokens is not None:
        t = r.tokens
        line = (f"tokens per success (A {t.ratio_a:,.0f}): detectable change ±{t.mde_relative:.1%} on "
                f"{t.pilot_tasks} tasks")
        if t.tasks_needed is not None:
            line += f"; ±{abs(t.effect_relative or 0):.1%} needs {t.tasks_needed} tasks"
        out.append(line)
    out += [f"note: {n}" for n in r.notes]
    return out


def plan(
    runs: Annotated[Optional[list[Path]], typer.Argument(help="pilot run folder(s): one (the baseline) or two "
                                                               "(A B, paired by (task, epoch))")] = None,
    rates: Annotated[Optional[str], typer.Option(help="stated completion rates A,B, e.g. 0.4,0.5")] = None,
    discordance: Annotated[Optional[float], typer.Option(
        help="with --rates: P(a task is solved by exactly one run); default: independent runs")] = None,
    effect: Annotated[Optional[float], typer.Option(help="with run folders: the difference in completion rate "
                                                         "to plan for (B − A, e.g. 0.05)")] = None,
    tokens_effect: Annotated[Optional[float], typer.Option(
        "--tokens-effect", help="with run folders: a relative change in tokens per success to plan for (0.1 = 10%)")]
    = None,
    alpha: Annotated[float, typer.Option(help="significance level of the paired test")] = 0.05,
    power: Annotated[float, typer.Option(help="power to reach")] = 0.8,
    epochs: Annotated[Optional[int], typer.Option(help="epochs per task and run (default: 1, or the pilot's)")]
    = None,
    tasks: Annotated[Optional[int], typer.Option(help="tasks available: how many epochs they need")] = None,
    icc: Annotated[Optional[float], typer.Option(
        help="share of the difference's variance between tasks, when no pilot pair with epochs > 1 measures it "
             "(default 0.5)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the plan as JSON")] = False,
) -> None:
    """Tasks (and epochs) a paired comparison needs to detect a difference in completion rate (and in tokens
    per success) at --alpha and --power, from stated rates or pilot runs; and the minimum detectable effect of
    the pilot run(s)."""
    from agentbench.analysis.io import load_run
    from agentbench.analysis.results import CompareError

    try:
        loaded = [load_run(r) for r in runs] if runs else None
        result = make_plan(runs=loaded, rates=parse_rates(rates) if rates is not None else None,
                           discordance=discordance, effect=effect, tokens_effect=tokens_effect, alpha=alpha,
                           power=power, epochs=epochs, tasks=tasks, icc=icc)
    except (CompareError, ValueError) as exc:
        fail(exc)
    if json_out:
        typer.echo(terminal.text(result.model_dump_json(indent=2)))
        return
    print_lines(plan_lines(result))
