"""The `agentbench compare` and `agentbench sweep` commands, and their terminal tables (pure: a result in,
rich renderables out). Registered in cli.py: `app.command("compare")(compare)`, `app.command("sweep")(sweep)`.
Heavy imports (numpy, scipy, the runner) happen inside the commands, as in cli.py."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from agentbench.compare import CompareResult, MetricDiff
    from agentbench.sweep import SweepResult


def _cli():
    """cli.py's consoles and error helpers (imported late: cli.py imports this module)."""
    from agentbench import cli

    return cli


def compare(
    runs: Annotated[list[Path], typer.Argument(help="run folders: the first is the baseline A, each other B is "
                                                    "compared to it (differences are B − A)")],
    json_path: Annotated[Optional[Path], typer.Option("--json", help="also write the result as JSON to this file")]
    = None,
    alpha: Annotated[float, typer.Option(help="significance level: of the McNemar test, and the bootstrap "
                                              "intervals are at 1 − alpha")] = 0.05,
    resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 2000,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
) -> None:
    """Paired comparison of runs on the (task, epoch) attempts they share: completion rate (exact McNemar
    test, bootstrap interval), tokens per success, steps, wall-clock; the tasks that flipped; the attempts
    reported apart. Writes compare.json into the first run folder."""
    from agentbench.compare import COMPARE_NAME, CompareError, compare_runs, load_run

    cli = _cli()
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
        cli._fail(exc)
    for part in compare_tables(result):
        cli.console.print(part)
    text = result.model_dump_json(indent=2)
    written = [runs[0] / COMPARE_NAME, *([json_path] if json_path is not None else [])]
    for path in written:
        try:
            path.write_text(text)
        except OSError as exc:
            cli._fail(OSError(f"{path}: cannot write the comparison ({exc.strerror or exc})"))
    cli.console.print("comparison: " + ", ".join(str(p) for p in written))
    _write_report_with(runs[0], result)


def _write_report_with(run_dir: Path, result) -> None:
    """The baseline run's report.html, rewritten with the comparison as a section (links to both traces)."""
    from agentbench.compare import compare_html_section
    from agentbench.report.html import write_html_report
    from agentbench.store import RunStore

    store = RunStore.in_dir(run_dir)
    try:
        path = write_html_report(run_dir, store, extra_sections=(compare_html_section(result, relative_to=run_dir),))
    finally:
        store.close()
    _cli().console.print(f"report with the comparison: {path}")


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
) -> None:
    """Run every cell of a grid (the cartesian product of the --grid factors) on the same tasks and seeds,
    each a run folder under the sweep folder; then each factor's main effect, the two-way interactions and
    the Pareto fronts. Running the same command again resumes unfinished cells. Writes sweep.json."""
    from agentbench.config.loader import dump_config, load_experiment
    from agentbench.runner.progress import NullProgress, RichProgress
    from agentbench.runner.runner import Runner
    from agentbench.sweep import (SWEEP_NAME, SweepError, analyze, claim_sweep_dir, default_sweep_dir, load_cell,
                                  make_plan, parse_grid)

    cli = _cli()
    logging.basicConfig(level=logging.WARNING)
    try:
        factors = parse_grid(grid, set_)
        base = load_experiment(experiment, set_)
        plan = make_plan(experiment, set_, factors, base.model_dump(mode="json"))
        configs = [load_experiment(experiment, [*set_, *cell.overrides()]) for cell in plan.cells]  # fail early
        sweep_dir = out if out is not None else default_sweep_dir(base.name, plan)
        claim_sweep_dir(sweep_dir, plan)
        (sweep_dir / "experiment.yaml").write_text(dump_config(base))
        cli.err_console.print(f"sweep folder: [bold]{sweep_dir}[/] · {len(plan.cells)} cells")
        for i, (cell, cfg) in enumerate(zip(plan.cells, configs), 1):
            run_dir = sweep_dir / cell.name
            cli.err_console.print(f"[bold]cell {i}/{len(plan.cells)}[/] {cell.label} → {run_dir}", highlight=False)
            progress = NullProgress() if quiet else RichProgress(cli.err_console)
            store = asyncio.run(Runner(cfg, run_dir, progress=progress).run())
            try:
                cli.write_run_outputs(run_dir, store)
            finally:
                store.close()
        cells = [load_cell(sweep_dir, cell) for cell in plan.cells]
        result = analyze(factors, cells, str(sweep_dir), n_resamples=resamples, seed=seed)
    except (*cli._user_errors(), SweepError) as exc:
        cli._fail(exc)
    (sweep_dir / SWEEP_NAME).write_text(json.dumps(result.model_dump(mode="json"), indent=2))
    for part in sweep_tables(result):
        cli.console.print(part)
    cli.console.print(f"sweep: {sweep_dir / SWEEP_NAME}")


# ---- terminal tables -----------------------------------------------------------------------------

def _significance(value: bool | None) -> Text:
    if value is None:
        return Text("n/a", style="dim")
    return Text("significant", style="bold") if value else Text("not significant", style="yellow")


def _p(diff: MetricDiff) -> str:
    return "–" if diff.p_value is None else f"{diff.p_value:.3g}"


def compare_tables(result: CompareResult) -> list[RenderableType]:
    """Per comparison: the metrics (B − A, interval, test, verdict), config differences, warnings, the
    flipped tasks with the commands that show both traces, the attempts reported apart, and the noise."""
    from agentbench.compare import LABELS, fmt_ci, fmt_value, pairs_line, pass_curve, run_label

    out: list[RenderableType] = []
    for c in result.comparisons:
        table = Table(title=f"B {run_label(c.b)}  vs  A {run_label(c.a)}", header_style="bold")
        for col, just in (("metric", "left"), ("A", "right"), ("B", "right"), ("B − A", "right"),
                          (f"{result.confidence:.0%} interval", "right"), ("p", "right"), ("", "left")):
            table.add_column(col, justify=just)
        for d in c.metrics:
            table.add_row(LABELS[d.metric], fmt_value(d.metric, d.a), fmt_value(d.metric, d.b),
                          fmt_value(d.metric, d.diff, True), fmt_ci(d.metric, d.ci95), _p(d),
                          _significance(d.significant))
        out.append(table)
        out.append(Text(f"  {c.verdict}", style="bold"))
        out.append(Text(f"  {pairs_line(c)}"))
        out.append(Text("  p: exact McNemar test on the flipped attempts; intervals: paired bootstrap over "
                        "(task, epoch)", style="dim"))
        for key, (va, vb) in c.config_diff.items():
            out.append(Text(f"  config {key}: {va!r} → {vb!r}", style="dim"))
        for w in c.warnings:
            out.append(Text(f"  warning: {w}", style="yellow"))
        if c.flipped:
            flips = Table(title=f"flipped: solved in one run only ({len(c.flipped)})", header_style="bold")
            for col in ("task", "epoch", "A", "B", "traces"):
                flips.add_column(col, overflow="fold")
            for f in c.flipped:
                flips.add_row(f.task_id, str(f.epoch), f.a_status, f.b_status, f"{f.show_a}\n{f.show_b}")
            out.append(flips)
        if c.unpaired:
            apart = Table(title=f"reported apart, not in the statistics ({len(c.unpaired)})", header_style="bold")
            for col in ("task", "epoch", "A", "B", "reason"):
                apart.add_column(col)
            for u in c.unpaired:
                apart.add_row(u.task_id, str(u.epoch), u.a_status or "–", u.b_status or "–", u.reason)
            out.append(apart)
        if c.noise:
            noise = Table(title="run-to-run noise: solved / epochs per task", header_style="bold")
            for col in ("task", "A", "B", ""):
                noise.add_column(col)
            for n in c.noise:
                noise.add_row(n.task_id, f"{n.a_solved}/{n.a_scored}", f"{n.b_solved}/{n.b_scored}",
                              Text("flaky", style="yellow") if n.flaky else "")
            out.append(noise)
            for label, info in (("A", c.a), ("B", c.b)):
                if info.pass_at_k:
                    out.append(Text(f"  {label}: {pass_curve(info)}"))
    return out


def sweep_tables(result: SweepResult) -> list[RenderableType]:
    """The cells (with the Pareto fronts they are on), then every main effect and two-way interaction."""
    from agentbench.compare import LABELS, fmt_ci, fmt_value

    cells = Table(title=f"sweep {result.sweep_dir}: {len(result.cells)} cells", header_style="bold",
                  caption="front: Pareto-optimal in completion vs tok/success (tok) or wall s (wall)")
    for col, just in (("cell", "left"), ("attempts", "right"), ("errors", "right"), ("completion", "right"),
                      ("95% interval", "right"), ("tok/success", "right"), ("wall s", "right"), ("front", "left")):
        cells.add_column(col, justify=just)
    for s in result.cells:
        fronts = [label for label, key in (("tok", "tokens_per_success"), ("wall", "wall_clock_per_attempt_s"))
                  if s.name in result.pareto.get(key, [])]
        lo, hi = s.completion_ci95
        cells.add_row(" ".join(f"{k}={v}" for k, v in s.assignments.items()), str(s.attempts), str(s.errors),
                      fmt_value("completion_rate", s.completion_rate), f"{lo:.0%} – {hi:.0%}",
                      fmt_value("tokens_per_success", s.tokens_per_success),
                      fmt_value("wall_clock_per_attempt_s", s.wall_clock_per_attempt_s), ", ".join(fronts))
    effects = Table(title=f"effects vs each factor's first level, paired bootstrap {result.confidence:.0%} intervals",
                    header_style="bold")
    for col, just in (("effect", "left"), ("metric", "left"), ("estimate", "right"), ("interval", "right"),
                      ("", "left")):
        effects.add_column(col, justify=just)
    for e in result.effects:
        name = " × ".join(f"{k}={lv} (vs {b})" for k, lv, b in zip(e.factors, e.levels, e.baselines))
        effects.add_row(("" if e.kind == "main" else "interaction ") + name, LABELS[e.metric],
                        fmt_value(e.metric, e.estimate, True), fmt_ci(e.metric, e.ci95), _significance(e.significant))
    return [cells, effects, *(Text(f"warning: {w}", style="yellow") for w in result.warnings)]
