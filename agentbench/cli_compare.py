"""The `agentbench compare` and `agentbench sweep` commands: option parsing, running the sweep's cells,
printing and writing the results. Registered in cli.py: `app.command("compare")(compare)`,
`app.command("sweep")(sweep)`. The analysis, its files and its views are `agentbench.analysis`; the
consoles and error helpers come from cli_common.py. Heavy imports (numpy, scipy, the runner) happen inside
the commands, as in cli.py."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from agentbench.cli_common import console, err_console, fail, print_lines, user_errors
from agentbench.report.outputs import write_run_outputs

if TYPE_CHECKING:
    from agentbench.analysis.elimination import EliminationState
    from agentbench.analysis.results import SweepPlan
    from agentbench.config.schema import ExperimentConfig


def compare(
    runs: Annotated[list[Path], typer.Argument(help="run folders: the first is the baseline A, each other B is "
                                                    "compared to it (differences are B − A)")],
    json_path: Annotated[Optional[Path], typer.Option("--json", help="also write the result as JSON to this file")]
    = None,
    alpha: Annotated[float, typer.Option(help="significance level: of the completion test (exact McNemar with "
                                              "one epoch, exact sign-flip over tasks with more), and the "
                                              "bootstrap intervals are at 1 − alpha")] = 0.05,
    resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 2000,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
) -> None:
    """Paired comparison of runs on the (task, epoch) attempts they share: completion rate (exact McNemar
    with one epoch, exact sign-flip test over tasks with more; bootstrap interval, clustered on the task), tokens per success, steps, wall-clock; the tasks that flipped; the attempts
    reported apart. Writes compare.json into the first run folder."""
    from agentbench.analysis.compare import compare_runs
    from agentbench.analysis.io import COMPARE_NAME, load_run, write_compare
    from agentbench.analysis.results import CompareError
    from agentbench.analysis.terminal import compare_tables

    try:
        if len(runs) < 2:
            raise CompareError("give at least two run folders: RUN_A RUN_B [RUN_C ...]")
        if not 0.0 < alpha < 1.0:
            raise CompareError(f"--alpha must be in (0, 1), got {alpha}")
        if resamples < 1:
            raise CompareError(f"--resamples must be at least 1, got {resamples}")
        result = compare_runs([load_run(r) for r in runs], alpha=alpha, confidence=1.0 - alpha,
                              n_resamples=resamples, seed=seed)
    except CompareError as exc:
        fail(exc)
    print_lines(compare_tables(result))
    written = [runs[0] / COMPARE_NAME, *([json_path] if json_path is not None else [])]
    try:
        write_compare(result, written)
    except CompareError as exc:
        fail(exc)
    console.print("comparison: " + ", ".join(str(p) for p in written))
    _write_report_with(runs[0])


def _write_report_with(run_dir: Path) -> None:
    """The baseline run's report.html, rewritten with the comparison (its compare.json, just written) as a
    section linking to both traces; `report --html` and a resumed run keep it."""
    from agentbench.report.outputs import write_report
    from agentbench.store import RunStore

    store = RunStore.in_dir(run_dir)
    try:
        path = write_report(run_dir, store, note=lambda text: err_console.print(f"warning: {text}", markup=False))
    finally:
        store.close()
    console.print(f"report with the comparison: {path}")


def sweep(
    experiment: Annotated[Path, typer.Argument(help="experiment YAML file")],
    grid: Annotated[list[str], typer.Option("--grid", help="a factor and its levels, KEY=V1,V2 (e.g. "
                                                           "graph=planning,react); repeat for more factors")] = [],
    set_: Annotated[list[str], typer.Option("--set", help="dotted override for every cell, e.g. suite.limit=5")]
    = [],
    out: Annotated[Optional[Path], typer.Option(help="sweep folder (default runs/sweep-NAME-HASH, from the "
                                                     "experiment and the grid: the same command resumes it)")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress display")] = False,
    resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 2000,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
    design: Annotated[str, typer.Option(help="full: every cell of the grid; half: for 4+ two-level factors, the "
                                             "half fraction (2^(k-1) cells; which effects it aliases is printed and "
                                             "in plan.json)")] = "full",
    eliminate: Annotated[bool, typer.Option("--eliminate", help="successive elimination: the cells run the tasks "
                                            "interleaved, in a seeded order (run.seed), and a cell decided worse "
                                            "than the best of its server group is dropped")] = False,
    eliminate_alpha: Annotated[float, typer.Option(help="with --eliminate: the chance, at most, that the best "
                                                        "cell is ever dropped (split over its comparisons)")] = 0.05,
) -> None:
    """Run every cell of a grid (the cartesian product of the --grid factors, or with --design half its half
    fraction) on the same tasks and seeds, each a run folder under the sweep folder; then each factor's main
    effect, the two-way interactions and the Pareto fronts. Cells whose model server settings match share one
    managed server (started once, its log SWEEP/server.log). With --eliminate, cells decided worse than the
    best stop early. Running the same command again resumes unfinished cells. Writes sweep.json."""
    from rich.markup import escape

    from agentbench.analysis.io import claim_sweep_dir, load_cell, write_sweep
    from agentbench.analysis.results import Cell, SweepError
    from agentbench.analysis.sweep import (analyze, cell_label, default_sweep_dir, make_plan, parse_grid,
                                           server_groups, short_keys)
    from agentbench.analysis.terminal import sweep_tables
    from agentbench.config.loader import dump_config, load_experiment
    from agentbench.runner.progress import make_progress
    from agentbench.runner.sweep_cells import run_cells

    logging.basicConfig(level=logging.WARNING)
    try:
        factors = parse_grid(grid, set_)
        base = load_experiment(experiment, set_)
        plan = make_plan(experiment, set_, factors, base.model_dump(mode="json"), design)
        configs = [load_experiment(experiment, [*set_, *cell.overrides()]) for cell in plan.cells]  # fail early
        if not eliminate and eliminate_alpha != 0.05:
            raise SweepError("--eliminate-alpha goes with --eliminate")
        if eliminate:
            from agentbench.runner.sweep_elimination import elimination_plan

            plan = plan.model_copy(update={"elimination": elimination_plan(configs, eliminate_alpha, base.run.seed)})
        sweep_dir = out if out is not None else default_sweep_dir(base.name, plan)
        claim_sweep_dir(sweep_dir, plan)
        (sweep_dir / "experiment.yaml").write_text(dump_config(base))
        n_groups = len(server_groups(configs))
        print_lines([f"sweep folder: [bold]{escape(str(sweep_dir))}[/] · {len(plan.cells)} cells · {n_groups} model "
                     f"server setting{'s' if n_groups > 1 else ''}: the cells of one share one server, started when "
                     f"one of them first needs it (log: {escape(str(sweep_dir / 'server.log'))})"], to=err_console)
        short = short_keys([f.key for f in factors])
        if plan.aliasing is not None:
            print_lines([escape(line) for line in plan.aliasing.statements], to=err_console)

        def started(i: int, cell: Cell, run_dir: Path) -> None:
            print_lines([f"[bold]cell {i + 1}/{len(plan.cells)}[/] {escape(cell_label(cell.assignments, short))} → "
                         f"{escape(str(run_dir))}"], to=err_console)

        summary = None
        if plan.elimination is not None:
            from agentbench.analysis.elimination import summarize

            groups, states = _run_eliminating(plan, configs, sweep_dir, quiet)
        else:
            asyncio.run(run_cells(list(zip(plan.cells, configs)), sweep_dir, started=started,
                                  finished=lambda run_dir, store: write_run_outputs(run_dir, store),
                                  progress=lambda cfg: make_progress(err_console, quiet, cfg.run.concurrency)))
        cells = [load_cell(sweep_dir, cell) for cell in plan.cells]
        if plan.elimination is not None:
            order = plan.elimination.task_order
            summary = summarize(states, groups, alpha=plan.elimination.alpha, tasks=len(order),
                                spent={c.cell.name: len(c.attempts) for c in cells},
                                full={cell.name: len(order) * cfg.run.epochs for cell, cfg in zip(plan.cells, configs)},
                                labels={cell.name: cell_label(cell.assignments, short) for cell in plan.cells})
        result = analyze(factors, cells, str(sweep_dir), n_resamples=resamples, seed=seed, design=plan.design,
                         elimination=summary)
    except (*user_errors(), SweepError) as exc:
        fail(exc)
    path = write_sweep(sweep_dir, result)
    print_lines(sweep_tables(result))
    if result.elimination is not None:
        from agentbench.analysis.elimination import summary_lines

        print_lines([escape(line) for line in summary_lines(result.elimination)])
    console.print(f"sweep: {path}")


def _run_eliminating(plan: SweepPlan, configs: list[ExperimentConfig], sweep_dir: Path,
                     quiet: bool) -> tuple[list[list[str]], list[EliminationState | None]]:
    """`sweep --eliminate`: the cells run interleaved task by task (runner.sweep_elimination), a line on each
    drop (and every 10 tasks, unless quiet); returns (groups, states)."""
    from rich.markup import escape

    from agentbench.analysis.sweep import cell_label, server_groups, short_keys
    from agentbench.runner.progress import NullProgress
    from agentbench.runner.sweep_elimination import run_eliminating

    elim = plan.elimination
    assert elim is not None
    short = short_keys([f.key for f in plan.factors])
    labels = {cell.name: cell_label(cell.assignments, short) for cell in plan.cells}
    groups = server_groups(configs)
    sizes = [len(g) for g in groups if len(g) > 1]
    print_lines([f"successive elimination: {len(elim.task_order)} tasks in a seeded order (run.seed {elim.seed}); "
                 f"arms compared within each of {len(groups)} server group{'s' if len(groups) > 1 else ''}, "
                 f"alpha {elim.alpha:g} split over each arm's comparisons"
                 + (f" ({', '.join(f'{elim.alpha / (k - 1):.3g}' for k in sizes)} each)" if sizes else "")],
                to=err_console)

    def decided(g: int, state: EliminationState, dropped: list[str]) -> None:
        n, total = len(state.tasks), len(elim.task_order)
        for arm in dropped:
            d = state.dropped[arm]
            print_lines([f"[bold]dropped[/] {escape(labels[arm])} after {n} of {total} tasks: worse than "
                         f"{escape(labels[d.best])} (best − it: [{d.lower:+.2f}, {d.upper:+.2f}])"], to=err_console)
        if not quiet and n % 10 == 0:
            print_lines([f"{n}/{total} tasks · live: {escape(' | '.join(labels[a] for a in state.live))}"],
                        to=err_console)

    return asyncio.run(run_eliminating(list(zip(plan.cells, configs)), sweep_dir, elim, decided=decided,
                                       finished=lambda run_dir, store: write_run_outputs(run_dir, store),
                                       progress=lambda cfg: NullProgress()))
