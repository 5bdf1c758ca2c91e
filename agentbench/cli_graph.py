"""`agentbench graph check GRAPH`: load and build a graph with a scripted context (no model server, no
sandbox) and print what it is and what is wrong with it (exit 2 on a problem). The inspection itself is
runner/graph_check.py; heavy imports happen inside the command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from agentbench.cli_common import console, fail, user_errors

if TYPE_CHECKING:
    from agentbench.runner.graph_check import GraphCheck

graph_app = typer.Typer(help="Check a graph before a run spends attempts on it.", no_args_is_help=True)


def check_lines(check: GraphCheck) -> list[str]:
    """The check as plain lines: what was built, nodes and edges, state, model and tools, notes, problems."""
    yes = lambda flag: "yes" if flag else "no"  # noqa: E731
    state = f"built: {check.graph_type}" if check.built else "NOT built" if check.loaded else "NOT loaded"
    lines = [f"graph {check.ref} (context for task {check.task}, {check.task_kind}): {state}"]
    if check.nodes:
        lines.append(f"nodes: {', '.join(check.nodes)}")
    if check.edges:
        lines.append("edges:")
        lines += [f"  {e.source} -> {e.target}" + (" (conditional)" if e.conditional else "")
                  + (f" [{e.label}]" if e.label else "") for e in check.edges]
    if check.state_keys:
        lines.append(f"state: {', '.join(check.state_keys)}"
                     + ("" if check.output_keys == check.state_keys else f" (output: {', '.join(check.output_keys)})"))
    if check.loaded:
        declared = ("no `uses_model` attribute" if check.uses_model_declared is None else
                    f"`uses_model = {check.uses_model_declared}`")
        lines.append(f"uses the model: {yes(check.uses_model)} ({declared}; ctx.model read while building: "
                     f"{yes(check.read_model)})")
        lines.append(f"binds tools: {yes(check.bound_tools)}"
                     + (f" ({', '.join(check.bound_tools)}): a run needs a server that parses tool calls "
                        "(model.server.tool_call_parser)" if check.bound_tools else ""))
        if check.tool_nodes:
            lines.append("tool nodes: " + ", ".join(f"{n} ({', '.join(t)})" for n, t in check.tool_nodes.items()))
    lines += [f"note: {n}" for n in check.notes]
    lines += [f"problem: {p}" for p in check.problems]
    lines.append("ok" if check.ok else f"{len(check.problems)} problem(s)")
    return lines


@graph_app.command("check")
def check(
    graph: Annotated[str, typer.Argument(help="ours by name (planning), path/to/file.py:build_graph or "
                                              "package.module:build_graph")],
    suite: Annotated[Optional[str], typer.Option(help="build the context for this suite's first task (after "
                                                      "--set suite.ids / levels); default a small made-up qa task")]
    = None,
    set_: Annotated[list[str], typer.Option("--set", help="dotted override, e.g. graph_params.k=3 or "
                                                          "limits.max_steps=5")] = [],
    json_: Annotated[bool, typer.Option("--json", help="print the check as JSON")] = False,
) -> None:
    """Load and build GRAPH with a scripted model and fake tools (no model server, no sandbox), then print
    its nodes and edges, whether it uses the model and binds tools, and any problem (exit 2)."""
    from pathlib import Path

    from agentbench.config.loader import load_experiment
    from agentbench.runner.graph_check import check_graph

    try:
        cfg = load_experiment(None, [*set_, *([f"suite.name={suite}"] if suite else [])])
        task = None
        if suite:
            from agentbench.suites.filters import filter_tasks
            from agentbench.suites.loader import load_suite

            mirror = Path(cfg.suite.repo_mirror).expanduser() if cfg.suite.repo_mirror else None
            _, tasks = load_suite(cfg.suite.name, repo_mirror=mirror)
            tasks = filter_tasks(tasks, cfg.suite.ids, cfg.suite.levels, cfg.suite.limit)
            if not tasks:
                raise ValueError(f"suite {suite!r}: no task left after the filters")
            task = tasks[0]
    except (*user_errors(), ValueError) as exc:
        fail(exc)
    settings = {"model_name": cfg.model.name, "temperature": cfg.model.temperature, "top_p": cfg.model.top_p,
                "max_tokens": cfg.model.max_tokens}
    result = check_graph(graph, task=task, limits=cfg.limits, params=cfg.graph_params, base_dir=Path.cwd(),
                         model_settings=settings)
    if json_:
        console.print_json(result.model_dump_json())
    else:
        for line in check_lines(result):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(0 if result.ok else 2)
