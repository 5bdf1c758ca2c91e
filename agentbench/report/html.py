"""report.html: one self-contained page per run, for people who read results rather than logs.

The page puts the completion rate (with its 95% interval) first and cost and speed beside it, lists every
attempt in a sortable, filterable table, and opens any attempt's trace step by step (graph nodes, model
messages, commands and their output, errors, a model / sandbox / overhead timeline, and for coding tasks
the final diff and the test results). Everything is inlined: CSS, JS, matplotlib SVG plots and the data.
There is no network access, and a Content-Security-Policy forbids any.

Traces are rendered lazily: each attempt's events are one compact JSON blob (`report.traces`,
`<script type="application/json" id="trace-ID">`) that the browser only scans while loading; the page's
script parses it and builds the DOM when the trace is opened. Model text is untrusted: the HTML built
here goes through `html.escape`, the JS writes text with `textContent` only, and embedded JSON has `<`,
`>` and `&` escaped so no string can close its script element.

This module owns the page's HTML (headline cards, details, plots, errors, the attempts table) and
`write_html_report`. Building the page is pure (`render_report`); `load_attempts` and `write_html_report`
are the only I/O.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from agentbench.protocols import AttemptRecord
from agentbench.redact import SECRET_KEY
from agentbench.report import plots as plots_mod
from agentbench.report.summary import build_summary
from agentbench.report.traces import AttemptData, clip, embed_json, trace_data
from agentbench.store import RunStore

REPORT_NAME = "report.html"
STATUSES = ("solved", "failed", "limit", "error")
WALL_PARTS = (("model", "model_time_s"), ("sandbox", "sandbox_time_s"), ("overhead", "overhead_s"))
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'")


# -- data (pure) -------------------------------------------------------------------------------------
def redact(value: Any) -> Any:
    """A copy with the string values of secret-looking keys (api_key, token, password...) shown as
    `[redacted]` (agentbench.redact.SECRET_KEY, the names the one redaction pass masks; the page as a whole
    goes through the store's Redactor when written)."""
    if isinstance(value, dict):
        return {k: "[redacted]" if isinstance(v, str) and v and SECRET_KEY.search(str(k)) else redact(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def score_text(record: AttemptRecord) -> str:
    """One line for the table: test counts (coding), answer against expected (qa), or the error."""
    if record.status == "error" or (record.status == "limit" and record.error) or record.reason == "agent_error":
        return record.error or ""
    details = record.score.details if record.score else {}
    report = details.get("report") if isinstance(details.get("report"), dict) else None
    if report is not None:
        parts = ["resolved" if report.get("resolved") else "not resolved"]
        for key, short in (("FAIL_TO_PASS", "F2P"), ("PASS_TO_PASS", "P2P")):
            status = (report.get("tests_status") or {}).get(key)
            if status:
                ok, bad = len(status.get("success", [])), len(status.get("failure", []))
                parts.append(f"{short} {ok}/{ok + bad}")
        if not report.get("patch_successfully_applied", True):
            parts.append("patch did not apply")
        return " · ".join(parts)
    if "expected" in details:
        return f"answer {record.answer!r} · expected {details.get('expected')!r}"
    return record.error or ""


# -- HTML (pure) -------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def fmt_num(value: float | None, spec: str = ",.0f") -> str:
    return "–" if value is None else format(value, spec)


def fmt_s(value: float | None) -> str:
    """Seconds: two decimals under 10 s, one above."""
    return "–" if value is None else f"{value:,.2f} s" if abs(value) < 10 else f"{value:,.1f} s"


def _metric(key: str, value: Any, text: str, tag: str = "span", cls: str = "") -> str:
    """A figure on the page with its exact summary.json value in `data-value` (tests compare them)."""
    return (f'<{tag} class="{cls}" data-metric="{_e(key)}" data-value="{_e(json.dumps(value))}">'
            f"{_e(text)}</{tag}>")


def _card(title: str, big: str, *subs: str, cls: str = "card") -> str:
    lines = "".join(f'<div class="sub">{s}</div>' for s in subs if s)
    return f'<div class="{cls}"><h3>{_e(title)}</h3>{big}{lines}</div>'


def _split_bar(model: float, sandbox: float, overhead: float, title: str = "") -> str:
    total = model + sandbox + overhead
    if total <= 0:
        return ""
    parts = "".join(f'<span class="seg {name}" style="width:{100 * v / total:.2f}%"></span>'
                    for name, v in (("model", model), ("sandbox", sandbox), ("overhead", overhead)))
    return f'<span class="split" title="{_e(title)}">{parts}</span>'


def fmt_1(value: float | None) -> str:
    return fmt_num(value, ".1f")


def _fig(s: dict[str, Any], key: str, fmt: Callable[[Any], str] = fmt_num, big: bool = False) -> str:
    """summary[key] formatted, inline or as a card's big figure."""
    return _metric(key, s.get(key), fmt(s.get(key)), "div" if big else "span", "big" if big else "")


def _extra_cards(s: dict[str, Any]) -> list[str]:
    """pass@k (epochs > 1), SWE-bench step efficiency and vLLM server metrics, when the run has them."""
    cards = []
    if s.get("pass_at_k"):
        hat = s.get("pass_hat_k") or {}
        rows = "".join(f"<tr><td>{_e(k)}</td><td>{_metric(f'pass_at_k.{k}', v, fmt_pct(v))}</td>"
                       f"<td>{_metric(f'pass_hat_k.{k}', hat.get(k), fmt_pct(hat.get(k)))}</td></tr>"
                       for k, v in s["pass_at_k"].items())
        cards.append(_card("pass@k / pass^k", '<table class="mini"><tr><th>k</th><th>pass@k: some epoch solved it'
                                              f"</th><th>pass^k: all k did</th></tr>{rows}</table>"))
    for key, title in (("steps_to_first_test", "Steps to first test run"), ("steps_to_submit", "Steps to submit")):
        eff = s.get(key)
        if eff:
            cards.append(_card(title, _metric(f"{key}.mean", eff.get("mean"), fmt_1(eff.get("mean")), "div", "big"),
                               "median " + _metric(f"{key}.median", eff.get("median"), fmt_1(eff.get("median")))
                               + f" · over {_e(eff.get('attempts'))} attempts"))
    if s.get("server_metrics") or s.get("server_load") or s.get("server_restarts"):
        figures = [("generation tokens/s", "server_generation_tokens_per_s", s.get("server_generation_tokens_per_s")),
                   ("restarts", "server_restarts", s.get("server_restarts"))]
        figures += [(k, f"server_metrics.{k}", v) for k, v in sorted((s.get("server_metrics") or {}).items())]
        figures += [(f"load {k}", f"server_load.{k}", v) for k, v in sorted((s.get("server_load") or {}).items())]
        rows = "".join(f"<tr><td>{_e(label)}</td><td>{_metric(key, v, fmt_num(v, ',.4g'))}</td></tr>"
                       for label, key, v in figures if v is not None)
        cards.append(_card("Server metrics (vLLM, over the run)", f'<table class="mini">{rows}</table>'))
    client = s.get("client_load")
    if client:
        rows = "".join(f"<tr><td>{_e(label)}</td><td>"
                       f"{_metric(f'client_load.{key}', client.get(key), fmt_num(client.get(key), '.2f'))}</td></tr>"
                       for label, key in (("attempts in flight (mean)", "attempts_in_flight_mean"),
                                          ("model requests in flight (mean)", "model_calls_in_flight_mean"),
                                          ("share of attempt time waiting on the model", "model_share")))
        cards.append(_card("Client load (from the traces)", f'<table class="mini">{rows}</table>'))
    return cards


def headline_html(s: dict[str, Any]) -> str:
    """Success first, cost and speed beside it (never alone), then the extra cards."""
    ci = s.get("completion_ci95") or [0.0, 1.0]
    counts = " · ".join(_metric(k, s[k], f"{s[k]} {k}") for k in ("solved", "failed", "limit"))
    wall_split = " · ".join(f'<i class="key {name}"></i>{name} {_fig(s, key, fmt_s)}' for name, key in WALL_PARTS)
    cards = [
        _card("Completion rate", _fig(s, "completion_rate", fmt_pct, big=True),
              "95% interval " + _metric("completion_ci95", ci, f"{fmt_pct(ci[0])} – {fmt_pct(ci[1])}"),
              f"{counts} of {s['solved'] + s['failed'] + s['limit']} scored"
              + (" · " + _metric("agent_error", s["agent_error"], f"{s['agent_error']} of the failed crashed "
                                 "(agent_error)") if s.get("agent_error") else ""),
              _fig(s, "error", lambda n: f"{n} error") + " (infrastructure, excluded"
              + "".join(f", {_e(k)} {v}" for k, v in sorted(((s.get("reasons") or {}).get("error") or {}).items()))
              + ")"
              + (f" · {int(s['environment_errors'])} of them broken environments" if s.get("environment_errors") else "")
              + (" · limit attempts graded {graded} / resolved {resolved}".format(**s["limit_graded"])
                 if (s.get("limit_graded") or {}).get("graded") else ""), cls="card primary"),
        _card("Tokens per success", _fig(s, "tokens_per_success", big=True), "all tokens of scored attempts / solved",
              "per solved attempt " + _fig(s, "tokens_per_solved_attempt"), "run total " + _fig(s, "tokens_total")),
        _card("Steps per solved attempt", _fig(s, "steps_per_solved", fmt_1, big=True),
              "median " + _fig(s, "steps_per_solved_median", fmt_1),
              "model calls " + _fig(s, "model_calls") + " · tool calls " + _fig(s, "tool_calls")),
        _card("Wall-clock", _fig(s, "wall_clock_s", fmt_s, big=True), "tasks per hour " + _fig(s, "tasks_per_hour"),
              _split_bar(*(s.get(key) or 0.0 for _, key in WALL_PARTS)), wall_split + " (sum over attempts)"),
        _card("Throughput", _fig(s, "completion_tokens_per_s", fmt_1, big=True),
              "completion tokens/s, as the client saw it", "read it next to the completion rate, never alone"),
    ]
    extra = _extra_cards(s)
    more = f'<div class="cards">{"".join(extra)}</div>' if extra else ""
    return f'<section class="cards headline">{"".join(cards)}</section>{more}'


def details_html(config: dict[str, Any], identity: dict[str, Any], versions: Any) -> str:
    """The resolved config, the model identity and package versions, one click away."""
    blocks = (("Resolved config", "config", redact(config)), ("Model identity", "identity", redact(identity)),
              ("Versions", "versions", versions or {}))
    return "".join(f'<details class="meta" id="meta-{key}"><summary>{_e(title)}</summary>'
                   f"<pre>{_e(json.dumps(value, indent=2, default=str))}</pre></details>"
                   for title, key, value in blocks)


def _row(a: AttemptData) -> str:
    r, t = a.record, a.record.totals
    detail = score_text(r)
    search = clip(" ".join(str(x) for x in (r.task_id, r.status, r.answer or "", detail) if x).lower(), 4000)
    split = _split_bar(t.model_time_s, t.sandbox_time_s, t.overhead_s, f"model {t.model_time_s:.2f} s · sandbox "
                       f"{t.sandbox_time_s:.2f} s · overhead {t.overhead_s:.2f} s")
    cells = [
        (r.task_id, f'<a href="#attempt-{a.id}">{_e(r.task_id)}</a>'),
        (r.epoch, _e(r.epoch)),
        (STATUSES.index(r.status), f'<span class="badge {r.status}">{r.status}</span>'),
        (t.steps, _e(t.steps)),
        (t.tool_calls, _e(t.tool_calls)),
        (t.usage.total_tokens, (f'<span title="prompt {t.usage.prompt_tokens:,} · completion '
                                f'{t.usage.completion_tokens:,}">{t.usage.total_tokens:,}</span>')),
        (round(t.wall_clock_s, 4), f"{t.wall_clock_s:.1f}"),
        (round(t.model_time_s / t.wall_clock_s, 4) if t.wall_clock_s else 0, split),
        (detail, f'<span class="detail" title="{_e(clip(detail, 2000))}">{_e(clip(detail, 160))}</span>'),
    ]
    tds = "".join(f'<td data-v="{_e(v)}">{inner}</td>' for v, inner in cells)
    return f'<tr data-id="{a.id}" data-status="{r.status}" data-search="{_e(search)}">{tds}</tr>'


TABLE_COLUMNS = (("task", "str"), ("epoch", "num"), ("status", "num"), ("steps", "num"), ("tool calls", "num"),
                 ("tokens", "num"), ("wall s", "num"), ("model / sandbox / overhead", "num"),
                 ("score / details", "str"))
"""(header, sort kind); the model / sandbox / overhead column sorts by the model's share of the wall-clock."""


def table_html(attempts: list[AttemptData], counts: dict[str, int]) -> str:
    """Every attempt, with status toggles and a text filter; headers sort (the page's script)."""
    toggles = "".join(f'<label class="toggle {s}"><input type="checkbox" data-status-filter="{s}" checked> '
                      f"{s} ({counts.get(s, 0)})</label>" for s in STATUSES)
    heads = "".join(f'<th data-sort="{kind}" data-col="{i}" tabindex="0">{_e(name)}</th>'
                    for i, (name, kind) in enumerate(TABLE_COLUMNS))
    body = "".join(_row(a) for a in attempts)
    return (f'<section id="attempts"><h2>Attempts</h2><div class="filters">{toggles}'
            f'<input type="search" id="filter-text" placeholder="filter: task, answer, error…" aria-label="filter">'
            f'<span id="shown-count">{len(attempts)} of {len(attempts)}</span></div>'
            f'<table id="attempt-table"><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table></section>')


def errors_html(attempts: list[AttemptData]) -> str:
    """The graph crashes (agent_error: failed, counted in the rate) and the infrastructure errors (excluded)."""
    def listed(chosen: list[AttemptData]) -> str:
        return "".join(f'<li><a href="#attempt-{a.id}">{_e(a.record.task_id)} · epoch {a.record.epoch}</a> '
                       f"<code>{_e(clip(a.record.error or '', 400))}</code></li>" for a in chosen)

    crashes = [a for a in attempts if a.record.status == "failed" and a.record.reason == "agent_error"]
    errors = [a for a in attempts if a.record.status == "error"]
    out = ""
    if crashes:
        out += (f'<section id="agent-errors"><h2>Graph crashes (agent_error)</h2><p class="note">The graph\'s own '
                f"code raised: counted as failed. The traceback is in each trace.</p><ul>{listed(crashes)}</ul></section>")
    if errors:
        out += (f'<section id="errors"><h2>Infrastructure errors</h2><p class="note">Excluded from every rate; '
                f"<code>agentbench run --resume</code> reruns them.</p><ul>{listed(errors)}</ul></section>")
    return out


def _asset(name: str) -> str:
    text = (resources.files("agentbench.report") / "html_assets" / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"html_assets/{name} must not contain a closing script or style tag")
    return text


def render_report(summary: dict[str, Any], attempts: list[AttemptData], config: dict[str, Any],
                  identity: dict[str, Any], plots: dict[str, str], extra_sections: tuple[str, ...] = ()) -> str:
    """The whole page as one string; `extra_sections` are trusted, already-escaped HTML fragments (e.g. a
    comparison from agentbench.analysis.html.compare_html_section), placed after the plots."""
    s = summary
    title = f"agentbench · {s.get('run_id') or 'run'}"
    counts = {k: s.get(k, 0) for k in STATUSES}
    n_attempts = _metric("attempts", s.get("attempts"), f"{s.get('attempts')} attempts")
    head = (f'<header><h1>{_e(title)}</h1><p class="ident">suite <b>{_e(s.get("suite"))}</b> · graph '
            f'<b>{_e(s.get("graph"))}</b> · model <b>{_e(s.get("model"))}</b> · {n_attempts}</p></header>')
    figures = "".join(f'<figure class="plot" id="plot-{_e(name)}">{svg}</figure>' for name, svg in plots.items())
    blobs = "".join(f'<script type="application/json" id="trace-{a.id}">{embed_json(trace_data(a))}</script>'
                    for a in attempts)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_asset('report.css')}</style></head><body>"
        f"{head}<main>{headline_html(s)}{details_html(config, identity, s.get('versions'))}"
        f'<section id="plots" class="plots">{figures}</section>{"".join(extra_sections)}{errors_html(attempts)}'
        f"{table_html(attempts, counts)}"
        f'<section id="trace" hidden aria-live="polite"></section></main>'
        f'<script type="application/json" id="report-data">{embed_json(s)}</script>'
        f"{blobs}<script>{_asset('report.js')}</script></body></html>")


# -- I/O ---------------------------------------------------------------------------------------------
def load_attempts(store: RunStore, records: list[AttemptRecord] | None = None) -> list[AttemptData]:
    """The newest try of every (task, epoch), in task order, with its store id and events (`records`: those
    tries' records when the caller has read them already)."""
    ids = {(row["task_id"], row["epoch"]): row["id"] for row in store.attempt_rows()}
    out = []
    for record in store.attempts() if records is None else records:
        attempt_id = ids[(record.task_id, record.epoch)]
        out.append(AttemptData(id=attempt_id, record=record, events=list(store.events(attempt_id))))
    return out


def write_html_report(run_dir: Path, store: RunStore, summary: dict[str, Any] | None = None,
                      extra_sections: tuple[str, ...] = (), records: list[AttemptRecord] | None = None) -> Path:
    """Write `report.html` into the run folder (atomically) and return its path.

    `summary` is summary.json's content (`build_summary(store)` when not given), so the page shows
    exactly the numbers the file has; `records`, the store's attempts when the caller has read them.
    """
    attempts = load_attempts(store, records)
    summary = build_summary(store, [a.record for a in attempts]) if summary is None else summary
    plots = plots_mod.render_plots(summary, [a.record for a in attempts])
    page = render_report(summary, attempts, store.meta("config") or {}, store.meta("model_identity") or {}, plots,
                         extra_sections)
    path = Path(run_dir) / REPORT_NAME
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(store.redactor.text(page), encoding="utf-8")  # the one redaction pass (agentbench.redact)
    tmp.replace(path)
    return path
