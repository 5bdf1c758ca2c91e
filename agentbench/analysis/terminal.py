"""The terminal views of compare and sweep: a result in, rich renderables out (pure; the CLI prints
them): the comparison tables, the sweep's cells and effects."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from agentbench.analysis.format import (LABELS, fmt_ci, fmt_value, methods_line, pairs_line, pass_curve, run_label,
                                        sweep_methods_line)
from agentbench.analysis.results import CompareResult, Effect, MetricDiff, SweepResult


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


def compare_tables(result: CompareResult) -> list[RenderableType]:
    """Per comparison: the metrics (B − A, interval, test, verdict), config differences, warnings, the
    flipped tasks with the commands that show both traces, the attempts reported apart, and the noise."""
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
        out.append(Text(f"  {methods_line(c)}", style="dim"))
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
    interval = ("; interval: cluster bootstrap over tasks joined with Wilson" if
                any(s.completion_ci95_method == "cluster_bootstrap" for s in result.cells) else "; interval: Wilson")
    cells = Table(title=f"sweep {result.sweep_dir}: {len(result.cells)} cells", header_style="bold",
                  caption="front: Pareto-optimal in completion vs tok/success (tok) or wall s (wall)" + interval)
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
                      ("p (Holm)", "right"), (f"Holm at {result.alpha:g}", "left")):
        effects.add_column(col, justify=just)
    for e in result.effects:
        name = " × ".join(f"{k}={lv} (vs {b})" for k, lv, b in zip(e.factors, e.levels, e.baselines))
        effects.add_row(("" if e.kind == "main" else "interaction ") + name, LABELS[e.metric],
                        fmt_value(e.metric, e.estimate, True), fmt_ci(e.metric, e.ci95),
                        "–" if e.p_holm is None else f"{e.p_holm:.3g}", _holm(e))
    return [cells, effects, Text(sweep_methods_line(result), style="dim"),
            *(Text(f"warning: {w}", style="yellow") for w in result.warnings)]
