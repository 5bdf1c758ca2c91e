"""Terminal views: the run summary with a per-task table, and one attempt's trace step by step."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agentbench.events import ErrorEvent, Event, ModelCall, NodeEnd, NodeStart, Retry, SandboxExec, ScoreEvent
from agentbench.protocols import AttemptRecord
from agentbench.report.tables import clipped, one_line
from agentbench.tracing.tree import NodeSpan, event_of, span_tree

STATUS_STYLE = {"solved": "green", "failed": "white", "limit": "yellow", "error": "red"}
SHRINKABLE = ("task", "answer", "expected / error")  # per-task table columns that narrow to fit the console


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and spec:
        return format(value, spec)
    return str(value)


def print_summary(summary: dict[str, Any], attempts: list[AttemptRecord], console: Console) -> None:
    ci = summary.get("completion_ci95") or [None, None]
    rate = summary.get("completion_rate")
    head = Table.grid(padding=(0, 2))
    head.add_row("run", clipped(summary.get("run_id")), "suite", clipped(summary.get("suite")))
    head.add_row("graph", clipped(summary.get("graph")), "model", clipped(summary.get("model")))
    metrics = Table(title="success next to cost and speed", show_header=False, box=None, padding=(0, 2))
    metrics.add_column("metric", style="bold")
    metrics.add_column("value", justify="right")
    metrics.add_column("metric", style="bold")
    metrics.add_column("value", justify="right")
    rows = [
        ("completion rate", "–" if rate is None else f"{rate:.1%}",
         "95% interval", "–" if ci[0] is None else f"{ci[0]:.1%} – {ci[1]:.1%}"),
        ("solved/failed/limit/error",
         f"{summary['solved']}/{summary['failed']}/{summary['limit']}/{summary['error']}",
         "attempts", str(summary.get("attempts"))),
        ("tokens per success", _fmt(summary.get("tokens_per_success"), ",.0f"),
         "steps per solved", _fmt(summary.get("steps_per_solved"), ".1f")),
        ("tokens total", f"{summary.get('tokens_total', 0):,}",
         "completion tokens/s", _fmt(summary.get("completion_tokens_per_s"), ".1f")),
        ("run wall-clock s", _fmt(summary.get("wall_clock_s"), ".1f"),
         "tasks per hour", _fmt(summary.get("tasks_per_hour"), ".0f")),
        ("model time s", _fmt(summary.get("model_time_s"), ".1f"),
         "sandbox time s", _fmt(summary.get("sandbox_time_s"), ".1f")),
        ("overhead s", _fmt(summary.get("overhead_s"), ".1f"),
         "setup / attempts s", f"{_fmt(summary.get('setup_s'), '.1f')} / {_fmt(summary.get('attempts_s'), '.1f')}"),
    ]
    reasons = summary.get("reasons") or {}
    if summary.get("agent_error") or reasons.get("error"):  # a crash is not a wrong answer: said apart
        rows.append(("failed: graph crashed (agent_error)", str(summary.get("agent_error", 0)),
                     "error by reason", ", ".join(f"{k} {v}" for k, v in sorted((reasons.get("error") or {}).items()))
                     or "–"))
    sources = summary.get("answer_sources") or {}
    if sources.get("last_message"):
        rows.append(("answers from the last message", str(sources["last_message"]), "answers from state",
                     str(sources.get("state", 0))))
    graded = summary.get("limit_graded") or {}
    if graded.get("graded") or summary.get("environment_errors"):
        rows.append(("limit attempts graded / resolved", f"{graded.get('graded', 0)} / {graded.get('resolved', 0)}",
                     "environment errors (not the agent's)", str(summary.get("environment_errors", 0))))
    server = summary.get("server_metrics") or {}
    if server:  # vLLM's own view, next to the completion rate
        rows += [
            ("server gen tokens", _fmt(server.get("generation_tokens"), ",.0f"),
             "server gen tokens/s", _fmt(summary.get("server_generation_tokens_per_s"), ".1f")),
            ("TTFT mean s", _fmt(server.get("ttft_s_mean"), ".3f"), "ITL mean s", _fmt(server.get("itl_s_mean"), ".4f")),
            ("e2e latency mean s", _fmt(server.get("e2e_s_mean"), ".2f"),
             "queue time mean s", _fmt(server.get("queue_s_mean"), ".3f")),
        ]
    load = summary.get("server_load") or {}
    if load:
        rows.append(("requests running (mean/peak)", f"{_fmt(load.get('running_mean'), '.1f')} / "
                     f"{_fmt(load.get('running_peak'), '.0f')}", "KV cache (mean/peak)",
                     f"{_fmt(load.get('kv_cache_mean'), '.1%')} / {_fmt(load.get('kv_cache_peak'), '.1%')}"))
    client = summary.get("client_load") or {}
    if client:  # did run.concurrency keep the endpoint busy? (from the traces)
        rows.append(("attempts in flight (mean)", _fmt(client.get("attempts_in_flight_mean"), ".1f"),
                     "model requests in flight (mean)", _fmt(client.get("model_calls_in_flight_mean"), ".1f")))
    if summary.get("server_restarts"):
        rows.append(("server restarts", str(summary["server_restarts"]), "", ""))
    if summary.get("steps_to_first_test") or summary.get("steps_to_submit"):
        first, submit = summary.get("steps_to_first_test") or {}, summary.get("steps_to_submit") or {}
        rows.append(("steps to first test (mean)", _fmt(first.get("mean"), ".1f"),
                     "steps to submit (mean)", _fmt(submit.get("mean"), ".1f")))
    for row in rows:
        metrics.add_row(*map(clipped, row))
    tasks = Table(title="attempts", header_style="bold")
    for col, just in (("task", "left"), ("epoch", "right"), ("status", "left"), ("steps", "right"),
                      ("tokens", "right"), ("wall s", "right"), ("answer", "left"), ("expected / error", "left")):
        tasks.add_column(col, justify=just, overflow="ellipsis", no_wrap=col not in SHRINKABLE)
    for a in attempts:
        detail = (last_line(a.error) if a.status in ("error", "limit") or a.reason == "agent_error"
                  else (a.score.details.get("expected") if a.score else ""))
        status = a.status if a.reason is None or a.status == "solved" else f"{a.status} ({a.reason})"
        tasks.add_row(Text(a.task_id), str(a.epoch), Text(status, style=STATUS_STYLE[a.status]),
                      str(a.totals.steps), f"{a.totals.usage.total_tokens:,}", f"{a.totals.wall_clock_s:.1f}",
                      Text((a.answer or "")[:40]), Text(str(detail or "")[:60]))  # model text is not markup
    console.print(Panel(one_line(head), title="agentbench"), one_line(metrics), one_line(tasks))  # a log: 1 line a row


#: Where an error ends in a log's tail: a failed image build (ImageBuildError), a broken environment
#: (scoring.swebench_eval.tail_block): `last N lines of the build log:` / `... of the test log:`, `  | ` lines.
LOG_TAIL = re.compile(r"^last \d+ lines of the [^\n]*:$", re.MULTILINE)


def last_line(text: str | None) -> str:
    """The last non-empty line of an error (an exception's message may span lines; the last says most),
    above the log tail it may end with (there the line before the tail says what failed)."""
    text = text or ""
    tail = LOG_TAIL.search(text)
    lines = [line.strip() for line in text[:tail.start() if tail else len(text)].splitlines() if line.strip()]
    return lines[-1] if lines else ""


def env_log_tail(record: AttemptRecord) -> str:
    """The log tail a graded environment fault keeps in its score (`last N lines of the test log...:` and
    the lines), "" when there is none."""
    details = record.score.details if record.score else {}
    return str(details.get("env_log_tail") or "") if record.reason == "environment" else ""


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]


def _content(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(c.get("text", c)) if isinstance(c, dict) else str(c) for c in content)
    return str(content)


def _line(*parts: str | tuple[str, str] | Text) -> Text:
    """A line built from plain pieces and (text, style) pairs: what comes from the run is never markup."""
    return Text.assemble(*parts)


CANCELLED = " · CANCELLED (cut off by a limit)"


def render_event(e: Event, full: bool) -> Any:
    """One event as a renderable. Everything from the run (model text, commands, output, payloads, node
    names) goes in as plain Text, so `[/]` or `[red]` in it prints as written."""
    dur = f"{e.t_end - e.t_start:.3f}s"
    where = Text(f"{_clock(e.t_start)} #{e.seq} {e.node or ''}", style="dim")
    match e:
        case ModelCall():
            cancelled = CANCELLED if e.cancelled else ""
            reply = e.reply or {}
            content = _content(reply.get("content", ""))
            body: list[Any] = [Text(content if full else content[:1200])]
            if reply.get("tool_calls"):
                body.append(Text(f"tool calls: {reply['tool_calls']}", style="cyan"))
            if full:
                prompt = "\n".join(f"[{m.get('role')}] {_content(m.get('content'))}" for m in e.messages)
                body.insert(0, Panel(Text(prompt), title="prompt", border_style="dim"))
            title = _line(where, f" model · {e.prompt_tokens}+{e.completion_tokens} tokens · {dur}{cancelled}")
            return Panel(Group(*body), title=title, title_align="left",
                         border_style="yellow" if cancelled else "blue")
        case SandboxExec():
            cancelled = CANCELLED if e.cancelled else ""
            out = e.stdout + (("\n[stderr]\n" + e.stderr) if e.stderr else "")
            flags = (" · truncated" if e.truncated else "") + (" · TIMED OUT" if e.timed_out else "")
            title = _line(where, f" sandbox · exit {e.exit_code} · {dur}{flags}{cancelled}")
            return Panel(Group(Text("$ " + e.command, style="bold"), Text(out if full else out[:1500])),
                         title=title, title_align="left", border_style="green" if e.exit_code == 0 else "red")
        case NodeStart():
            return _line(where, " ", ("node start", "magenta"))
        case NodeEnd():
            return _line(where, " ", ("node end", "magenta"), f" ({dur})" + (CANCELLED if e.cancelled else ""),
                         (f" {e.error}", "red") if e.error else "")
        case ScoreEvent():
            return _line(where, " ", ("score", "bold"), f" passed={e.passed} details={e.details}")
        case ErrorEvent() | Retry():
            shown = {k: v for k, v in e.payload.items() if k != "traceback"}  # as recorded, less the traceback
            if not full and isinstance(e, ErrorEvent) and LOG_TAIL.search(e.error):
                shown["error"] = last_line(e.error) + " (the log's tail: above)"  # the attempt panel has it
            line = _line(where, " ", (e.type, "red"), f" {shown}")
            if isinstance(e, ErrorEvent) and e.traceback and full:
                return Group(line, Text(e.traceback, style="dim"))
            return line
    return _line(where, f" {e.type} {e.payload}")


def print_trace(record: AttemptRecord, events: list[Event], console: Console, full: bool = False) -> None:
    style = STATUS_STYLE[record.status]
    t = record.totals
    head = _line(f"task {record.task_id} · epoch {record.epoch} · ", (record.status, style),
                 f" ({record.reason})" if record.reason else "",
                 f" · answer {record.answer!r}"
                 + (f" (from {record.answer_source.replace('_', ' ')})" if record.answer_source else "")
                 + f" · steps {t.steps} · tokens {t.usage.total_tokens:,} · "
                 f"wall {t.wall_clock_s:.1f}s (model {t.model_time_s:.1f}s, sandbox {t.sandbox_time_s:.1f}s)")
    if record.error:
        head.append("\n")
        head.append(record.error, style="red")
    tail = env_log_tail(record)
    if tail:  # a graded environment fault: the end of the log that showed it
        head.append("\n" + tail, style="red")
    console.print(Panel(head, title="attempt"))
    for step, _ in span_tree(events).walk():  # a node's events after its start, whatever their order in the store
        if isinstance(step, NodeSpan) and not full:
            continue
        console.print(render_event(event_of(step), full))
