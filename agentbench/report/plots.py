"""The report's plots, drawn by matplotlib as SVG text to inline in report.html.

Each function takes plain data (attempt records, the summary's pass@k curves) and returns the SVG
markup of one figure, or None when there is nothing to draw. Figures are drawn on an explicit Agg
canvas: no pyplot, no global backend switch, no state left behind. Text stays text (`svg.fonttype:
none`), ids are made unique per plot so several SVGs can live in one page, and every plot stays cheap
for hundreds of attempts (markers are `<use>` references; histograms and bars are a few rectangles).
"""

from __future__ import annotations

import io
import math
import random
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from agentbench.protocols import AttemptRecord

STATUS_COLORS = {"solved": "#1a7f37", "failed": "#8c959f", "limit": "#bf8700", "error": "#cf222e"}
PART_COLORS = {"model": "#0969da", "sandbox": "#1a7f37", "overhead": "#afb8c1"}
MAX_TASK_BARS = 25
"""Up to this many tasks the wall-clock plot has one bar per task; beyond, one bar per status."""

_RC = {
    "svg.fonttype": "none",  # text as <text>, not paths: smaller, selectable
    "svg.hashsalt": "agentbench",  # deterministic ids
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(draw: Callable[[Any], None], name: str, size: tuple[float, float] = (5.2, 3.0)) -> str:
    """Draw on a fresh Agg-backed figure and return its SVG markup, ids prefixed with `name`."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(fig)
        draw(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop the XML declaration and DOCTYPE
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', text)
    text = re.sub(r'(href="#|url\(#)([^")]+)', rf"\1{name}-\2", text)
    return text.replace("<svg ", f'<svg role="img" aria-label="{name}" ', 1)


def _tokens(a: AttemptRecord) -> int:
    return a.totals.usage.total_tokens


def success_vs_tokens(attempts: list[AttemptRecord], tokens_per_success: float | None) -> str | None:
    """Tokens of every attempt, one row per outcome (jittered), with tokens per success marked."""
    if not attempts or not any(_tokens(a) for a in attempts):
        return None
    order = [s for s in ("solved", "failed", "limit", "error") if any(a.status == s for a in attempts)]
    jitter = random.Random(0)

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        for row, status in enumerate(order):
            xs = [_tokens(a) for a in attempts if a.status == status]
            ys = [row + jitter.uniform(-0.25, 0.25) for _ in xs]
            ax.scatter(xs, ys, s=12, alpha=0.6, color=STATUS_COLORS[status], linewidths=0,
                       label=f"{status} ({len(xs)})")
        if tokens_per_success:
            ax.axvline(tokens_per_success, color="#0969da", linestyle="--", linewidth=1)
            ax.annotate("tokens per success", (tokens_per_success, len(order) - 0.5), color="#0969da",
                        fontsize=8, ha="left", va="bottom", xytext=(3, 0), textcoords="offset points")
        xs_all = [_tokens(a) for a in attempts]
        if min(xs_all) > 0 and max(xs_all) / min(xs_all) > 100:
            ax.set_xscale("log")
        ax.set_yticks(range(len(order)), order)
        ax.set_ylim(-0.6, len(order) - 0.4)
        ax.set_xlabel("tokens per attempt (prompt + completion)")
        ax.set_title("Success against tokens", loc="left")

    return _svg(draw, "plot-tokens")


def _wall_groups(attempts: list[AttemptRecord]) -> tuple[str, list[tuple[str, list[AttemptRecord]]]]:
    tasks: dict[str, list[AttemptRecord]] = defaultdict(list)
    for a in attempts:
        tasks[a.task_id].append(a)
    if len(tasks) <= MAX_TASK_BARS:
        return "task", sorted(tasks.items())
    by_status = [(s, [a for a in attempts if a.status == s]) for s in ("solved", "failed", "limit", "error")]
    return "status", [("all", attempts)] + [(s, group) for s, group in by_status if group]


def wall_clock_breakdown(attempts: list[AttemptRecord]) -> str | None:
    """Mean wall-clock per attempt split into model, sandbox and overhead: per task, or per status."""
    if not attempts or not any(a.totals.wall_clock_s for a in attempts):
        return None
    by, groups = _wall_groups(attempts)

    def mean(group: list[AttemptRecord], part: Callable[[AttemptRecord], float]) -> float:
        return sum(part(a) for a in group) / len(group)

    parts: list[tuple[str, Callable[[AttemptRecord], float]]] = [
        ("model", lambda a: a.totals.model_time_s), ("sandbox", lambda a: a.totals.sandbox_time_s),
        ("overhead", lambda a: a.totals.overhead_s)]
    height = max(2.4, 0.9 + 0.22 * len(groups))

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        labels = [name if len(name) <= 28 else name[:27] + "…" for name, _ in groups]
        left = [0.0] * len(groups)
        for part, value in parts:
            widths = [mean(group, value) for _, group in groups]
            ax.barh(range(len(groups)), widths, left=left, color=PART_COLORS[part], label=part, height=0.7)
            left = [lo + w for lo, w in zip(left, widths, strict=True)]
        ax.set_yticks(range(len(groups)), labels, parse_math=False)  # a `$` in a task id is a dollar
        ax.invert_yaxis()
        ax.set_xlabel("seconds per attempt (mean)")
        ax.set_title(f"Wall-clock breakdown per {by}", loc="left")
        fig.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)

    return _svg(draw, "plot-wall", (5.2, height))


def steps_histogram(attempts: list[AttemptRecord]) -> str | None:
    """How many model turns solved, failed and limit attempts took."""
    series = [(s, [a.totals.steps for a in attempts if a.status == s]) for s in ("solved", "failed", "limit")]
    series = [(s, values) for s, values in series if values]
    if not series:
        return None
    from matplotlib.ticker import MaxNLocator

    top = max(max(values) for _, values in series)
    width = max(1, math.ceil((top + 1) / 30))
    bins = list(range(0, top + width + 1, width))

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        ax.hist([values for _, values in series], bins=bins, color=[STATUS_COLORS[s] for s, _ in series],
                label=[f"{s} ({len(v)})" for s, v in series], align="left", rwidth=0.9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("steps (model turns) per attempt")
        ax.set_ylabel("attempts")
        ax.set_xlim(-0.6, max(top + width - 0.4, 3.6))
        ax.set_title("Steps per attempt: solved, failed, limit", loc="left")
        ax.legend(fontsize=8, frameon=False, loc="best")

    return _svg(draw, "plot-steps")


def pass_k(pass_at_k: dict[Any, float], pass_hat_k: dict[Any, float]) -> str | None:
    """pass@k (some epoch solved it) and pass^k (every epoch did) against k; None with one epoch."""
    if not pass_at_k:
        return None

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        lines = (("pass@k", pass_at_k, "#0969da", "-"), ("pass^k", pass_hat_k, "#bf8700", "--"))
        for label, curve, color, style in lines:
            ks = sorted(int(k) for k in curve)
            ax.plot(ks, [curve[k] if k in curve else curve[str(k)] for k in ks], marker="o", label=label, color=color,
                    linestyle=style)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("k (epochs)")
        ax.set_ylabel("probability")
        ax.set_xticks(sorted(int(k) for k in pass_at_k))
        ax.set_title("pass@k and pass^k", loc="left")
        ax.legend(fontsize=8, frameon=False)

    return _svg(draw, "plot-passk")


def confidence_sequence(steps: list[tuple[int, float, float, float]], margin: float = 0.0, level: float = 0.95,
                        decision: str | None = None) -> str | None:
    """A duel's confidence sequence over its task pairs: (n, estimate, lower, upper) of B − A in completion
    rate, drawn in points: the running mean, the CS as a band, 0 and ±margin, and the decision at the last
    pair. None without a pair."""
    if not steps:
        return None
    ns = [s[0] for s in steps]
    est, low, up = ([s[i] * 100 for s in steps] for i in (1, 2, 3))

    def draw(fig: Any) -> None:
        from matplotlib.ticker import MaxNLocator

        ax = fig.add_subplot()
        ax.fill_between(ns, low, up, step="post" if len(ns) > 1 else None, color="#0969da", alpha=0.18, linewidth=0,
                        label=f"{level:.0%} confidence sequence")
        ax.step(ns, low, where="post", color="#0969da", linewidth=0.8)
        ax.step(ns, up, where="post", color="#0969da", linewidth=0.8)
        ax.plot(ns, est, color="#1f2328", linewidth=1.2, marker="o" if len(ns) < 40 else None, markersize=2.5,
                label="B − A so far")
        ax.axhline(0, color="#cf222e", linewidth=0.9)
        if margin > 0:
            for y, label in ((margin * 100, f"±{margin * 100:g} pts (margin)"), (-margin * 100, None)):
                ax.axhline(y, color="#bf8700", linewidth=0.8, linestyle="--", label=label)
        if decision:
            ax.annotate(decision, (ns[-1], est[-1]), xytext=(4, 4), textcoords="offset points", fontsize=8)
        ax.set_ylim(-102, 102)
        ax.set_xlim(0.5, max(ns[-1], 2) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("task pairs")
        ax.set_ylabel("B − A, completion (pts)")
        ax.set_title("Duel: the confidence sequence over tasks", loc="left")
        ax.legend(fontsize=8, frameon=False, loc="lower right")

    return _svg(draw, "plot-duel")


def render_plots(summary: dict[str, Any], attempts: list[AttemptRecord]) -> dict[str, str]:
    """Every plot that has data, as {name: svg}, in display order."""
    plots = {
        "tokens": success_vs_tokens(attempts, summary.get("tokens_per_success")),
        "wall": wall_clock_breakdown(attempts),
        "steps": steps_histogram(attempts),
        "passk": pass_k(summary.get("pass_at_k") or {}, summary.get("pass_hat_k") or {}),
    }
    return {name: svg for name, svg in plots.items() if svg is not None}
