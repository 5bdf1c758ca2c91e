"""The `agentbench duel` command: options, one progress line per task, and at the end the comparison of the
duel's two runs (compare.json in DUEL/a, both runs' report.html: A's with the comparison and the confidence
sequence) and the decision as the last line. Registered in cli.py: `app.command("duel")(duel)`. Running
the duel is `runner.duel.run_duel`; its record and lines are `analysis.duel`. Heavy imports happen inside
the command, as in cli.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.text import Text

from agentbench.cli_common import (err_console, fail, input_secrets, print_lines, redacting_log_handler,
                                   terminal, user_errors)

if TYPE_CHECKING:
    from agentbench.config.schema import ExperimentConfig
    from agentbench.protocols import AttemptRecord
    from agentbench.runner.duel import Tick


class NotesOnce:
    """A duel's progress sink for its many one-task runs: each distinct note once (`A: ...`, `B: ...`), no bar."""

    def __init__(self, label: str, seen: set[str]) -> None:
        self.label, self.seen = label, seen

    def start(self, total: int, already_done: int) -> None: ...
    def advance(self, record: AttemptRecord) -> None: ...
    def stop(self) -> None: ...

    def note(self, text: str) -> None:
        if text not in self.seen:
            self.seen.add(text)
            err_console.print(f"{self.label}: {text}", markup=False, highlight=False)


def default_duel_dir(cfg_a: ExperimentConfig, cfg_b: ExperimentConfig) -> Path:
    """runs/duel-NAME-DIGEST, the digest from both resolved configs: the same command finds the same folder."""
    blob = json.dumps([cfg_a.model_dump(mode="json"), cfg_b.model_dump(mode="json")], sort_keys=True)
    return Path("runs") / f"duel-{cfg_a.name}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def tick_line(tick: Tick) -> str:
    """`task 9/25 gm-l3-005: d = +1 · B − A = +100 pts, 95% CS [+4, +100] → b_better`."""
    r = tick.record
    d = tick.differences
    what = (f"d = {sum(d) / len(d):+.2g}" + (f" over {len(d)} epochs" if len(d) > 1 else "") if d
            else "skipped (no epoch both runs scored)")
    last = r.sequence[-1] if r.sequence else None
    cs = (f" · B − A = {last.estimate * 100:+.0f} pts, {1 - r.alpha:.0%} CS [{last.lower * 100:+.0f}, "
          f"{last.upper * 100:+.0f}]" if last is not None else "")
    done = f" → {r.decision}" if r.decision else ""
    return f"task {tick.index}/{len(r.order)} {tick.task_id}: {what}{cs}{done}{'' if tick.ran else ' (stored)'}"


def duel(
    experiment: Annotated[Path, typer.Argument(help="experiment YAML file")],
    a: Annotated[list[str], typer.Option("--a", help="an override for A only, KEY=VALUE (repeat for more)")] = [],
    b: Annotated[list[str], typer.Option("--b", help="an override for B only, KEY=VALUE (repeat for more)")] = [],
    set_: Annotated[list[str], typer.Option("--set", help="dotted override for both, e.g. suite.limit=50")] = [],
    out: Annotated[Optional[Path], typer.Option(help="duel folder (default runs/duel-NAME-HASH from both configs: "
                                                     "the same command resumes it)")] = None,
    margin: Annotated[float, typer.Option(help="stop with no_difference once the confidence sequence lies inside "
                                               "±margin (completion rate, e.g. 0.05); 0: never")] = 0.0,
    alpha: Annotated[float, typer.Option(help="the confidence sequence covers B − A at every task at once with "
                                              "probability ≥ 1 − alpha")] = 0.05,
    budget: Annotated[Optional[int], typer.Option(help="task pairs at most (default: every task)")] = None,
    order_seed: Annotated[Optional[int], typer.Option(
        "--order-seed", help="seed of the random task order (default: the experiment's run.seed)")] = None,
    resamples: Annotated[int, typer.Option(help="bootstrap resamples of the final comparison")] = 2000,
) -> None:
    """Run A and B (the experiment with --set and each one's overrides) on the same tasks in a seeded random
    order, run.concurrency tasks at a time with the same seeds, fed task by task to an anytime-valid
    confidence sequence for B − A in completion rate; stop when it excludes 0 (b_better / a_better), lies
    inside ±margin (no_difference), or the budget is spent (undecided). DUEL/a and DUEL/b are ordinary run
    folders; DUEL/duel.json the record. Running the same command again resumes. Ends with `compare DUEL/a DUEL/b` (compare.json, report.html)."""
    from agentbench.analysis.compare import compare_runs
    from agentbench.analysis.duel import DuelRecord, attempts_line, decision_line, tokens_line
    from agentbench.analysis.io import COMPARE_NAME, load_run, write_compare
    from agentbench.analysis.results import CompareError
    from agentbench.config.loader import ConfigError, load_experiment
    from agentbench.report.outputs import write_run_outputs
    from agentbench.runner.duel import run_duel
    from agentbench.store import RunStore

    logging.basicConfig(level=logging.WARNING, handlers=[redacting_log_handler()])
    for arm in (a, b):
        terminal.learn(input_secrets(experiment, [*set_, *arm]))
    try:
        if not 0.0 < alpha < 1.0:
            raise ConfigError(f"--alpha must be in (0, 1), got {alpha}")
        if not 0.0 <= margin < 1.0:
            raise ConfigError(f"--margin must be in [0, 1), got {margin}")
        cfg_a, cfg_b = (load_experiment(experiment, [*set_, *arm]) for arm in (a, b))
        duel_dir = out if out is not None else default_duel_dir(cfg_a, cfg_b)
        seed = load_experiment(experiment, set_).run.seed if order_seed is None else order_seed
        record = DuelRecord(experiment=str(experiment), sets=list(set_), a=list(a), b=list(b), alpha=alpha,
                            margin=margin, order_seed=seed)
        err_console.print(f"duel folder: {duel_dir} · A {' '.join(a) or '(the experiment)'} · B "
                          f"{' '.join(b) or '(the experiment)'} · alpha {alpha:g}"
                          + (f", margin ±{margin * 100:g} pts" if margin else ""), markup=False, highlight=False)
        seen: set[str] = set()
        record = asyncio.run(run_duel(
            (cfg_a, cfg_b), duel_dir, record, budget=budget, progress=lambda arm: NotesOnce(arm.upper(), seen),
            on_tick=lambda tick: err_console.print(tick_line(tick), markup=False, highlight=False)))
        result = compare_runs([load_run(duel_dir / "a"), load_run(duel_dir / "b")], alpha=alpha,
                              confidence=1.0 - alpha, n_resamples=resamples)
        write_compare(result, [duel_dir / "a" / COMPARE_NAME])
        for arm in ("a", "b"):  # after compare.json: A's report.html shows the comparison and the sequence
            store = RunStore.in_dir(duel_dir / arm)
            try:
                write_run_outputs(duel_dir / arm, store)
            finally:
                store.close()
    except (*user_errors(), CompareError) as exc:
        fail(exc)
    print_lines([Text(f"duel: {duel_dir / 'duel.json'} · comparison: {duel_dir / 'a' / COMPARE_NAME} · report: "
                      f"{duel_dir / 'a' / 'report.html'}"),
                 *([Text(line)] if (line := tokens_line(record)) else []),
                 Text(attempts_line(record)), Text(decision_line(record), style="bold")])
