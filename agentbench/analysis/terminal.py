"""The terminal views of compare and sweep: a result in, rich renderables out (pure; the CLI prints
them): the comparison tables, the sweep's cells and effects.

Every table keeps one line per row at any console width (`report.tables.one_line`): the text columns
(tasks, cell and effect names, metric labels) narrow and clip with `…`, the figures keep their width; the
full text is in compare.json / sweep.json. What must be copied whole (the `agentbench show` commands of
flipped tasks) is a plain line, not a table cell."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from agentbench.analysis.format import (LABELS, SHORT_LABELS, fmt_ci, fmt_value, graph_change, methods_line,
                                        pairs_line, pass_curve, run_label, sweep_methods_line)
from agentbench.analysis.duel import pair_lines
from agentbench.analysis.results import CompareResult, Effect, MetricDiff, SweepResult
from agentbench.analysis.sweep import METRICS, cell_label, short_keys
from agentbench.report.tables import clipped, one_line


def _significance(value: bool | None) -> Text:
    if value is None:
        return Text("n/a", style="dim")
    return Text("significant", style="bold") if value else Text("not significant", style="yellow")


def _p(diff: MetricDiff) -> str:
    return "–" if diff.p_value is None else f"{diff.p_value:.3g}"


def _holm(e: Effect) -> Text:
    if e.significant_holm is None:
        return Text("n/a", style="dim")
    return Text("passes", style="bold") if e.significant_holm else Text("does not pass", style="yellow")


def _columns(table: Table, columns: tuple[tuple[str, str], ...], shrink: tuple[str, ...] = ()) -> Table:
    """Add (header, justify) columns: those named in `shrink` narrow to fit (their cells given as Text, one
    line each, clipped by `one_line`), the others keep their width."""
    for col, just in columns:
        table.add_column(col, justify=just, no_wrap=col not in shrink, overflow="ellipsis")  # type: ignore[arg-type]
    return table


def compare_tables(result: CompareResult) -> list[RenderableType]:
    """Per comparison: the metrics (B − A, interval, test, verdict), config differences, warnings, the
    flipped tasks with the commands that show both traces, the attempts reported apart, and the noise."""
    out: list[RenderableType] = []
    for c in result.comparisons:
        table = _columns(Table(title=f"B {run_label(c.b)}  vs  A {run_label(c.a)}", header_style="bold"),
                         (("metric", "left"), ("A", "right"), ("B", "right"), ("B − A", "right"),
                          (f"{result.confidence:.0%} interval", "right"), ("p", "right"), ("", "left")),
                         shrink=("metric", ""))
        for d in c.metrics:
            table.add_row(clipped(LABELS[d.metric]), fmt_value(d.metric, d.a), fmt_value(d.metric, d.b),
                          fmt_value(d.metric, d.diff, True), fmt_ci(d.metric, d.ci95), _p(d),
                          _significance(d.significant))
        out.append(one_line(table))
        out.append(Text(f"  {c.verdict}", style="bold"))
        out += [Text(f"  {line}") for line in pair_lines(c.mde, c.duel, result.alpha)]  # a duel's; the pair's MDE
        out.append(Text(f"  {pairs_line(c)}"))
        out.append(Text(f"  {methods_line(c)}", style="dim"))
        for key, (va, vb) in c.config_diff.items():
            out.append(Text(f"  config {key}: {va!r} → {vb!r}", style="dim"))
        out += [Text(f"  {graph_change(key, va, vb)}", style="dim") for key, (va, vb) in c.graph_diff.items()]
        for w in c.warnings:
            out.append(Text(f"  warning: {w}", style="yellow"))
        if c.flipped:
            flips = _columns(Table(title=f"flipped: solved in one run only ({len(c.flipped)})", header_style="bold"),
                             (("task", "left"), ("epoch", "right"), ("A", "left"), ("B", "left")), shrink=("task",))
            for f in c.flipped:
                flips.add_row(clipped(f.task_id), str(f.epoch), f.a_status, f.b_status)
            out.append(one_line(flips))
            out.append(Text("  their traces:", style="dim"))
            out += [Text(f"  {show}") for f in c.flipped for show in (f.show_a, f.show_b)]
        if c.unpaired:
            apart = _columns(Table(title=f"reported apart, not in the statistics ({len(c.unpaired)})",
                                   header_style="bold"),
                             (("task", "left"), ("epoch", "right"), ("A", "left"), ("B", "left"), ("reason", "left")),
                             shrink=("task",))
            for u in c.unpaired:
                apart.add_row(clipped(u.task_id), str(u.epoch), u.a_status or "–", u.b_status or "–", u.reason)
            out.append(one_line(apart))
        if c.noise:
            noise = _columns(Table(title="run-to-run noise: solved / epochs per task", header_style="bold"),
                             (("task", "left"), ("A", "right"), ("B", "right"), ("", "left")), shrink=("task",))
            for n in c.noise:
                noise.add_row(clipped(n.task_id), f"{n.a_solved}/{n.a_scored}", f"{n.b_solved}/{n.b_scored}",
                              Text("flaky", style="yellow") if n.flaky else "")
            out.append(one_line(noise))
            for label, info in (("A", c.a), ("B", c.b)):
                if info.pass_at_k:
                    out.append(Text(f"  {label}: {pass_curve(info)}"))
    return out


def sweep_tables(result: SweepResult) -> list[RenderableType]:
    """The cells, the Pareto fronts, then every main effect and two-way interaction. A cell is named by its
    factor values (`temperature=0.7 · graph=react`); its errors go with its attempts (`3, 1 error`)."""
    interval = ("cluster bootstrap over tasks joined with Wilson" if
                any(s.completion_ci95_method == "cluster_bootstrap" for s in result.cells) else "Wilson")
    cells = Table(title=f"sweep {result.sweep_dir}: {len(result.cells)} cells", header_style="bold",
                  caption=f"95% CI of the completion rate: {interval}")
    _columns(cells, (("cell", "left"), ("attempts", "right"), ("completion", "right"), ("95% CI", "right"),
                     ("tok/success", "right"), ("wall s", "right")), shrink=("cell",))
    short = short_keys([f.key for f in result.factors])
    labels = {s.name: s.label or cell_label(s.assignments, short) for s in result.cells}
    for s in result.cells:
        lo, hi = s.completion_ci95
        cells.add_row(clipped(labels[s.name]), f"{s.attempts}, {s.errors} error" if s.errors else str(s.attempts),
                      fmt_value("completion_rate", s.completion_rate), f"{lo:.0%} – {hi:.0%}",
                      fmt_value("tokens_per_success", s.tokens_per_success),
                      fmt_value("wall_clock_per_attempt_s", s.wall_clock_per_attempt_s))
    fronts = [Text(f"Pareto front, completion vs {SHORT_LABELS[key]}: "
                   + (" | ".join(labels.get(name, name) for name in result.pareto.get(key, [])) or "–"))
              for key in ("tokens_per_success", "wall_clock_per_attempt_s")]
    tables: list[RenderableType] = [Text("effects: a level against its factor's first level; A × B: their "
                                         "interaction (difference of differences)")]
    for metric in METRICS:  # one table a metric: each row an effect, named by levels
        effects = Table(title=f"effects on {LABELS[metric]}", header_style="bold")
        _columns(effects, (("effect", "left"), ("estimate", "right"), ("interval", "right"), ("p (Holm)", "right"),
                           (f"Holm at {result.alpha:g}", "left")), shrink=("effect",))
        for e in (e for e in result.effects if e.metric == metric):
            named = [f"{short.get(k, k)}={lv}" for k, lv in zip(e.factors, e.levels)]
            name = f"{named[0]} (vs {e.baselines[0]})" if e.kind == "main" else " × ".join(named)
            effects.add_row(clipped(name), fmt_value(e.metric, e.estimate, True), fmt_ci(e.metric, e.ci95),
                            "–" if e.p_holm is None else f"{e.p_holm:.3g}", _holm(e))
        tables.append(one_line(effects))
    return [one_line(cells), *fronts, *tables, Text(sweep_methods_line(result), style="dim"),
            *(Text(f"warning: {w}", style="yellow") for w in result.warnings)]
