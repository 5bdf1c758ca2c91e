"""Plain-text formatting of compare and sweep figures, shared by the terminal tables (`analysis.terminal`)
and the HTML section (`analysis.html`): metric labels, values, intervals, run labels, summary lines.

Pure string functions, no markup.
"""

from __future__ import annotations

from pathlib import Path

from agentbench.analysis.results import TEST_LABELS, MetricDiff, PairComparison, RunInfo, SweepResult

LABELS = {"completion_rate": "completion rate", "tokens_per_success": "tokens per success",
          "steps_per_attempt": "steps per attempt", "wall_clock_per_attempt_s": "wall-clock s per attempt"}
SHORT_LABELS = {"completion_rate": "completion", "tokens_per_success": "tok/success",
                "wall_clock_per_attempt_s": "wall s"}
"""The sweep's metrics as its cells table heads them (its effects table names them so too)."""


def fmt_value(metric: str, value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    sign = "+" if signed else ""
    if metric == "completion_rate":
        return f"{value * 100:{sign}.1f} pts" if signed else f"{value:.1%}"
    if metric == "tokens_per_success":
        return f"{value:{sign},.0f}"
    return f"{value:{sign}.2f}"


def fmt_ci(metric: str, ci: tuple[float, float] | None) -> str:
    if ci is None:
        return "–"
    if metric == "completion_rate":
        return f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] pts"
    return f"[{fmt_value(metric, ci[0], True)}, {fmt_value(metric, ci[1], True)}]"


def test_label(diff: MetricDiff) -> str:
    """`McNemar p=0.0625`, `sign-flip test over tasks p=0.03`; `bootstrap` for the interval-only metrics."""
    if diff.p_value is None:
        return "bootstrap"
    return f"{TEST_LABELS[diff.test or 'mcnemar_exact']} p={diff.p_value:.4g}"


def methods_line(c: PairComparison) -> str:
    """What the p-value and the intervals of a comparison are."""
    if c.clustered:
        return (f"p: exact sign-flip permutation test over the {c.tasks} tasks (per-task solved epochs, B − A); "
                "intervals: paired bootstrap over tasks, each with all its epochs")
    return "p: exact McNemar test on the flipped attempts; intervals: paired bootstrap over (task, epoch)"


def sweep_methods_line(result: SweepResult) -> str:
    unit = "tasks, each with all its epochs" if result.clustered else "(task, epoch) keys"
    tested = sum(e.p_holm is not None for e in result.effects)
    return (f"intervals: paired bootstrap over {unit}, the same draw in every cell; p: two-sided bootstrap "
            f"p-value, Holm-adjusted over all {tested} effects; passes: Holm p < {result.alpha:g}")


def run_label(info: RunInfo) -> str:
    return f"{info.run_id or Path(info.path).name} ({info.graph} · {info.model})"


def pairs_line(c: PairComparison) -> str:
    m = c.mcnemar
    return (f"{c.pairs} shared attempts: solved in both {m.both_solved} · A only {m.only_a} · B only {m.only_b} · "
            f"neither {m.neither}; {len(c.unpaired)} reported apart")


def pass_curve(info: RunInfo) -> str:
    return " · ".join(f"k={k}: pass@k {info.pass_at_k[k]:.2f}, pass^k {info.pass_hat_k[k]:.2f}"
                      for k in sorted(info.pass_at_k))


def graph_change(key: str, a: object, b: object) -> str:
    """`graph source: 3f2a9c1b… → 9b1c0d2e…` (hashes and commits shortened; the full ones are in compare.json)."""
    short = lambda v: f"{v[:8]}…" if isinstance(v, str) and len(v) > 8 else str(v)  # noqa: E731
    return f"graph {key}: {short(a)} → {short(b)}"
