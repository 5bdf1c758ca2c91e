"""`agentbench grade PREDICTIONS --suite S`: grade SWE-bench predictions made by any agent with agentbench's
environments and grader, into an ordinary run folder. Registered in cli.py: `app.command("grade")(grade)`.
The plan and the run's parts are runner/grade.py; the file's format is suites/predictions.py. Heavy imports
happen inside the command, as in cli.py."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from agentbench.cli_common import console, err_console, fail, print_lines, redacting_log_handler, user_errors


def grade(
    predictions: Annotated[Path, typer.Argument(help="SWE-bench predictions: predictions.jsonl (one object a line: "
                                                     "instance_id, model_name_or_path, model_patch) or preds.json "
                                                     "(an object keyed by instance_id, or a list)")],
    suite: Annotated[str, typer.Option(help="the SWE-bench suite the predictions are for (bundled name or folder)")],
    out: Annotated[Optional[Path], typer.Option(help="run folder (default runs/grade-MODEL-TIMESTAMP); a folder "
                                                     "holding this grade already is resumed")] = None,
    repo_mirror: Annotated[Optional[Path], typer.Option(
        help="SWE-bench: folder of git bundles / bare repos named owner__name (same as --set suite.repo_mirror=DIR)")]
    = None,
    set_: Annotated[list[str], typer.Option("--set", help="dotted override, e.g. run.concurrency=2, "
                                                          "run.env_check=off, suite.limit=3")] = [],
    quiet: Annotated[bool, typer.Option(help="no progress display")] = False,
) -> None:
    """Grade another agent's patches (SWE-agent, mini-swe-agent, OpenHands, Agentless, your own harness) as the
    SWE-bench harness does, in agentbench's environments: a run folder with config.yaml, run.sqlite,
    summary.json, report.html and swebench/<instance>/report.json, ready for `agentbench compare`. Instances
    of the suite without a prediction are not graded (the harness's `incomplete`). Exits 1 when no attempt
    could be graded (all `error`); 2 on bad input."""
    from rich.markup import escape

    from agentbench.report.exit_status import run_failure
    from agentbench.report.outputs import write_run_outputs
    from agentbench.report.terminal import print_summary
    from agentbench.runner.grade import GradeExecutor, harness_counts, plan_grade
    from agentbench.runner.progress import make_progress
    from agentbench.runner.runner import Runner, new_run_dir
    from agentbench.store import DB_NAME
    from agentbench.suites.predictions import missing_note

    logging.basicConfig(level=logging.WARNING, handlers=[redacting_log_handler()])
    try:
        plan = plan_grade(predictions, suite, list(set_), repo_mirror)
        run_dir = new_run_dir(plan.cfg, out)
        resuming = (run_dir / DB_NAME).exists()
        p, m = plan.predictions, plan.match
        lines = [f"{'resuming' if resuming else 'run folder:'} [bold]{escape(str(run_dir))}[/]",
                 f"grading {len(m.graded)} prediction(s) of {escape(p.model)} from {escape(str(predictions))} "
                 f"({p.format}) on suite {escape(plan.cfg.suite.name)}"]
        if note := missing_note(m):
            lines.append(f"[yellow]note:[/] {escape(note)}")
        if m.not_selected:
            lines.append(f"[yellow]note:[/] {len(m.not_selected)} prediction(s) for instances the suite filters leave "
                         f"out are not graded: {escape(', '.join(m.not_selected[:5]))}"
                         + (" ..." if len(m.not_selected) > 5 else ""))
        print_lines(lines, to=err_console)
        progress = make_progress(err_console, quiet, plan.cfg.run.concurrency)
        store = asyncio.run(Runner(plan.cfg, run_dir, progress=progress, executor=GradeExecutor(plan),
                                   allow_changed_graph=True).run())  # the graph does nothing: grading is the same
    except user_errors() as exc:
        fail(exc)
    try:
        summary, attempts, html_path = write_run_outputs(run_dir, store)
        print_summary(summary, attempts, console)
    finally:
        store.close()
    counts = harness_counts(plan, attempts)
    print_lines([" · ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()) + "  (as the SWE-bench harness "
                 "counts them; `error`: environment or infrastructure, rerun with the same command)"])
    console.print(f"summary: {run_dir / 'summary.json'}")
    console.print(f"report: {html_path}")
    if failure := run_failure(summary, []):
        err_console.print(f"[bold red]grade failed:[/] {escape(failure)}", highlight=False)
        raise typer.Exit(1)
