"""The comparison as an HTML section of report.html: an escaped fragment with no external resources,
whose flipped tasks link to both runs' traces (`RUN/report.html#attempt-ID`).

A duel's pair (`agentbench duel`) adds its decision, attempts and confidence sequence (an inline SVG plot);
every pair its minimum detectable effect. Pure: a CompareResult in, a string out;
`report.html.write_html_report(extra_sections=...)` places it.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from agentbench.analysis.format import (LABELS, fmt_ci, fmt_value, graph_change, methods_line, pairs_line, pass_curve,
                                        run_label, test_label)
from agentbench.analysis.duel import pair_lines
from agentbench.analysis.results import CompareResult
from agentbench.report.plots import confidence_sequence


def trace_href(run_path: str, task_id: str, epoch: int, relative_to: str | Path | None = None,
               attempt_id: int | None = None) -> str:
    """Link to an attempt's trace in a run's HTML report: RUN/report.html#trace-TASK-EPOCH, or
    RUN/report.html#attempt-ID when the store's `attempt_id` is given."""
    base = run_path if relative_to is None else os.path.relpath(os.path.abspath(run_path), os.path.abspath(relative_to))
    folder = "" if base == "." else quote(Path(base).as_posix()) + "/"
    anchor = f"trace-{quote(task_id, safe='')}-{epoch}" if attempt_id is None else f"attempt-{attempt_id}"
    return f"{folder}report.html#{anchor}"


def compare_html_section(result: CompareResult, relative_to: str | Path | None = None,
                         anchor: Literal["task-epoch", "attempt-id"] = "attempt-id") -> str:
    """An HTML fragment (escaped, no external resources) for the HTML report. Trace links point to
    RUN/report.html#attempt-ID (the store's attempt id, which report.html opens; or, with
    anchor="task-epoch", #trace-TASK-EPOCH):
    RUN as given to `compare`, or, with `relative_to` (the folder of the page that includes the fragment,
    e.g. the baseline run folder), relative to it."""
    def e(v: Any) -> str:
        return html.escape(str(v), quote=True)

    parts = ['<section class="agentbench-compare">', "<h2>Comparison</h2>"]
    for c in result.comparisons:
        parts.append(f"<h3>B {e(run_label(c.b))} vs A {e(run_label(c.a))}</h3>")
        parts.append(f"<p class=\"verdict\">{e(c.verdict)}</p>")
        parts += [f"<p class=\"duel\">{e(line)}</p>" for line in pair_lines(c.mde, c.duel, result.alpha)]
        if c.duel is not None and (svg := confidence_sequence(
                [(s.n, s.estimate, s.lower, s.upper) for s in c.duel.sequence], c.duel.margin, 1 - c.duel.alpha,
                c.duel.decision)):
            parts.append(f"<figure class=\"plot\">{svg}</figure>")  # matplotlib's SVG: ids prefixed, text escaped
        parts.append("<table><thead><tr><th>metric</th><th>A</th><th>B</th><th>B − A</th>"
                     f"<th>{e(f'{result.confidence:.0%}')} interval</th><th>test</th><th></th></tr></thead><tbody>")
        for d in c.metrics:
            test = test_label(d)
            sig = "n/a" if d.significant is None else ("significant" if d.significant else "not significant")
            parts.append(f"<tr><td>{e(LABELS[d.metric])}</td><td>{e(fmt_value(d.metric, d.a))}</td>"
                         f"<td>{e(fmt_value(d.metric, d.b))}</td><td>{e(fmt_value(d.metric, d.diff, True))}</td>"
                         f"<td>{e(fmt_ci(d.metric, d.ci95))}</td><td>{e(test)}</td><td>{e(sig)}</td></tr>")
        parts.append("</tbody></table>")
        parts.append(f"<p>{e(pairs_line(c))}</p>")
        parts.append(f"<p class=\"methods\">{e(methods_line(c))}</p>")
        for w in c.warnings:
            parts.append(f"<p class=\"warning\">warning: {e(w)}</p>")
        if c.config_diff or c.graph_diff:
            items = "".join(f"<li><code>{e(k)}</code>: {e(repr(va))} → {e(repr(vb))}</li>"
                            for k, (va, vb) in c.config_diff.items())
            items += "".join(f"<li>{e(graph_change(k, va, vb))}</li>" for k, (va, vb) in c.graph_diff.items())
            parts.append(f"<p>config differences</p><ul>{items}</ul>")
        if c.flipped:
            parts.append(f"<h4>flipped ({len(c.flipped)})</h4><table><thead><tr><th>task</th><th>epoch</th>"
                         "<th>A</th><th>B</th></tr></thead><tbody>")
            for f in c.flipped:
                by_id = anchor == "attempt-id"
                ha = trace_href(c.a.path if relative_to is None else c.a.abs_path, f.task_id, f.epoch, relative_to,
                                f.a_attempt_id if by_id else None)
                hb = trace_href(c.b.path if relative_to is None else c.b.abs_path, f.task_id, f.epoch, relative_to,
                                f.b_attempt_id if by_id else None)
                parts.append(f"<tr><td>{e(f.task_id)}</td><td>{f.epoch}</td>"
                             f"<td><a href=\"{e(ha)}\">{e(f.a_status)}</a></td>"
                             f"<td><a href=\"{e(hb)}\">{e(f.b_status)}</a></td></tr>")
            parts.append("</tbody></table>")
        if c.unpaired:
            parts.append(f"<h4>reported apart ({len(c.unpaired)})</h4><table><thead><tr><th>task</th><th>epoch</th>"
                         "<th>A</th><th>B</th><th>reason</th></tr></thead><tbody>")
            for u in c.unpaired:
                parts.append(f"<tr><td>{e(u.task_id)}</td><td>{u.epoch}</td><td>{e(u.a_status or '–')}</td>"
                             f"<td>{e(u.b_status or '–')}</td><td>{e(u.reason)}</td></tr>")
            parts.append("</tbody></table>")
        if c.noise:
            parts.append("<h4>run-to-run noise (solved / epochs)</h4><table><thead><tr><th>task</th><th>A</th>"
                         "<th>B</th><th></th></tr></thead><tbody>")
            for n in c.noise:
                parts.append(f"<tr><td>{e(n.task_id)}</td><td>{n.a_solved}/{n.a_scored}</td>"
                             f"<td>{n.b_solved}/{n.b_scored}</td><td>{'flaky' if n.flaky else ''}</td></tr>")
            parts.append("</tbody></table>")
            for label, info in (("A", c.a), ("B", c.b)):
                if info.pass_at_k:
                    parts.append(f"<p>{label}: {e(pass_curve(info))}</p>")
    parts.append("</section>")
    return "\n".join(parts)
