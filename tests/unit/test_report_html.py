"""report.html from a synthetic run store: self-contained, escaped, the summary's numbers, lazy traces."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agentbench.events import (AttemptEnd, AttemptStart, Event, ModelCall, NodeEnd, NodeStart, Patch, SandboxExec,
                               ScoreEvent)
from agentbench.protocols import AttemptRecord, AttemptTotals, Score, Usage
from agentbench.report import html as report_html
from agentbench.report import traces as report_traces
from agentbench.report.plots import render_plots
from agentbench.report.summary import build_summary
from agentbench.store import RunStore

HOSTILE = "</script><img src=x onerror=alert(1)> <!-- <script>alert(2)</script>"
URL_IN_DATA = "see https://example.com/docs for more"
T0 = 1_800_000_000.0


def model_call(seq: int, t: float, messages: list[dict], reply: str, node: str = "act") -> Event:
    return ModelCall(seq=seq, t_start=t, t_end=t + 1.0, node=node, messages=messages,
                     reply={"role": "ai", "content": reply}, prompt_tokens=100, completion_tokens=20, latency_s=1.0)


def qa_attempt(task_id: str, epoch: int, status: str) -> tuple[AttemptRecord, list[Event]]:
    """Two agent steps (model call + command each); the model's text is hostile."""
    system, task = {"role": "system", "content": "protocol"}, {"role": "human", "content": f"task {task_id}"}
    reply1, reply2 = f"I will look. {HOSTILE}\n```bash\nls\n```", f"FINAL ANSWER: 42 {URL_IN_DATA}"
    events = [
        AttemptStart(seq=0, t_start=T0, t_end=T0),
        NodeStart(seq=1, t_start=T0 + 0.1, t_end=T0 + 0.1, node="act"),
        model_call(2, T0 + 0.1, [system, task], reply1),
        NodeEnd(seq=3, t_start=T0 + 0.1, t_end=T0 + 1.2, node="act"),
        NodeStart(seq=4, t_start=T0 + 1.2, t_end=T0 + 1.2, node="observe"),
        SandboxExec(seq=5, t_start=T0 + 1.3, t_end=T0 + 1.8, node="observe", kind="bash", command="ls", exit_code=0,
                    duration_s=0.5, stdout=HOSTILE, stderr="", truncated=False, timed_out=False),
        NodeEnd(seq=6, t_start=T0 + 1.2, t_end=T0 + 1.9, node="observe"),
        model_call(7, T0 + 2.0, [system, task, {"role": "ai", "content": reply1},
                                 {"role": "human", "content": f"exit code: 0\nstdout:\n{HOSTILE}"}], reply2),
        AttemptEnd(seq=8, t_start=T0 + 3.5, t_end=T0 + 3.5, status=status),
    ]
    score = None if status in ("limit", "error") else Score(
        passed=status == "solved", value=float(status == "solved"), details={"expected": "42", "answer": "42"})
    record = AttemptRecord(
        task_id=task_id, epoch=epoch, status=status, answer="42" if score else None, score=score,
        error={"limit": "steps limit reached", "error": f"APIConnectionError {HOSTILE}"}.get(status),
        totals=AttemptTotals(usage=Usage(prompt_tokens=200, completion_tokens=40 + epoch), model_calls=2,
                             tool_calls=1, supersteps=2, wall_clock_s=3.5, model_time_s=2.0, sandbox_time_s=0.5))
    return record, events


SWE_REPORT = {"patch_is_None": False, "patch_exists": True, "patch_successfully_applied": True, "resolved": False,
              "tests_status": {"FAIL_TO_PASS": {"success": ["tests/test_a.py::test_fixed"],
                                                "failure": ["tests/test_a.py::test_still_broken"]},
                               "PASS_TO_PASS": {"success": ["tests/test_b.py::test_ok"], "failure": []}}}
PATCH = "diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-x = 1\n+x = 2  # " + HOSTILE + "\n"


def swe_attempt() -> tuple[AttemptRecord, list[Event]]:
    details = {"report": SWE_REPORT, "applied_with": "git apply", "test_log": f"FAILED test_still_broken {HOSTILE}"}
    events = [AttemptStart(seq=0, t_start=T0, t_end=T0),
              Patch(seq=1, t_start=T0 + 1, t_end=T0 + 1.1, chars=len(PATCH), files=1),
              ScoreEvent(seq=2, t_start=T0 + 1.1, t_end=T0 + 2, passed=False, value=0.0, details=details)]
    record = AttemptRecord(task_id="repo__pkg-1", epoch=0, status="failed", patch=PATCH,
                           score=Score(passed=False, details=details),
                           totals=AttemptTotals(wall_clock_s=2.0, first_test_step=3, submit_step=5))
    return record, events


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, RunStore]:
    store = RunStore.in_dir(tmp_path)
    store.set_meta("run_id", "unit-run")
    store.set_meta("config", {"graph": "planning", "model": {"name": "m", "api_key_env": "MY_KEY"}})
    store.set_meta("model_identity", {"provider": "openai", "served_model_name": "m"})
    store.set_meta("wall_clock_s", 12.5)
    store.set_meta("server_metrics", [{"delta": {"prompt_tokens": 1000.0, "ttft_s_mean": 0.05}}])
    for task_id, statuses in (("t-solved", ("solved", "solved")), ("t-failed", ("failed", "solved")),
                              ("t-limit", ("limit", "limit")), ("t-error", ("error", "failed")),
                              (HOSTILE, ("failed", "failed"))):
        for epoch, status in enumerate(statuses):
            store.add_attempt(*qa_attempt(task_id, epoch, status), T0, T0 + 3.5)
    store.add_attempt(*swe_attempt(), T0, T0 + 2)
    return tmp_path, store


class _Scripts(HTMLParser):
    """The page's script elements: (attributes, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self.tags: list[tuple[str, dict]] = []
        self._open: dict | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._open, self._text = dict(attrs), ""

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._open is not None:
            self.scripts.append((self._open, self._text))
            self._open = None


def parse(page: str) -> _Scripts:
    parser = _Scripts()
    parser.feed(page)
    return parser


def test_writes_one_self_contained_file(run, monkeypatch):
    run_dir, store = run
    monkeypatch.setenv("AGENTBENCH_UNIT_SECRET", "sk-never-in-a-report")
    path = report_html.write_html_report(run_dir, store)
    assert path == run_dir / "report.html" and not (run_dir / "report.html.tmp").exists()
    page = path.read_text()
    assert "sk-never-in-a-report" not in page
    assert not re.search(r"(?i)\b(src|href|action|poster|data)\s*=\s*[\"']?\s*(https?:|//)", page)
    assert not re.search(r"(?i)<link\b|@import|url\(\s*[\"']?(https?:|//)", page)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    # Plain-text mentions of URLs are allowed only inside the data blobs (and SVG namespace declarations).
    outside = re.sub(r'<script type="application/json"[^>]*>.*?</script>', "", page, flags=re.DOTALL)
    outside = re.sub(r'xmlns(:\w+)?="[^"]*"', "", outside)
    assert "http://" not in outside and "https://" not in outside
    assert URL_IN_DATA.split()[1].replace("/", "\\/") in page or "https://example.com" in page


def test_hostile_text_stays_inside_its_json_blob(run):
    run_dir, store = run
    page = report_html.write_html_report(run_dir, store).read_text()
    assert HOSTILE not in page and "<img" not in page and "<!--" not in page
    parsed = parse(page)
    attempts = store.attempt_rows()
    blobs = [(a, t) for a, t in parsed.scripts if a.get("type") == "application/json"]
    code = [t for a, t in parsed.scripts if "type" not in a]
    assert len(blobs) == len(attempts) + 1 and len(code) == 1  # report-data, one trace per attempt, the script
    assert {a["id"] for a, _ in blobs} == {"report-data"} | {f"trace-{r['id']}" for r in attempts}
    assert [t for t, _ in parsed.tags if t == "img"] == []
    traces = [json.loads(t) for a, t in blobs if a["id"] != "report-data"]
    replies = [e[5]["reply"]["content"] for t in traces for e in t["ev"] if e[1] == "model_call"]
    assert any(HOSTILE in r for r in replies)  # the browser gets the exact text back, as data
    assert any(t["task"] == HOSTILE for t in traces)
    assert "&lt;/script&gt;&lt;img src=x" in page  # the hostile task id in the table, escaped


def test_embed_json_round_trips_and_never_closes_a_script():
    value = {"a": HOSTILE, "b": "x & y > z \u2028 é", "n": [1, 2.5, None]}
    text = report_traces.embed_json(value)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == value


def test_summary_numbers_on_the_page(run):
    run_dir, store = run
    summary = build_summary(store)
    page = report_html.write_html_report(run_dir, store, summary).read_text()
    metrics = {a["data-metric"]: (json.loads(a["data-value"]), a) for t, a in parse(page).tags if "data-metric" in a}
    for key in ("completion_rate", "completion_ci95", "tokens_per_success", "tokens_per_solved_attempt",
                "steps_per_solved", "steps_per_solved_median", "tokens_total", "wall_clock_s", "tasks_per_hour",
                "completion_tokens_per_s", "model_time_s", "sandbox_time_s", "overhead_s", "solved", "failed",
                "limit", "error", "attempts", "model_calls", "tool_calls"):
        assert metrics[key][0] == summary[key], key
    assert f">{summary['completion_rate']:.1%}<" in page
    lo, hi = summary["completion_ci95"]
    assert f"{lo:.1%} – {hi:.1%}" in page
    assert f">{summary['tokens_per_success']:,.0f}<" in page
    for k, v in summary["pass_at_k"].items():  # epochs = 2
        assert metrics[f"pass_at_k.{k}"][0] == v and metrics[f"pass_hat_k.{k}"][0] == summary["pass_hat_k"][k]
    assert metrics["server_metrics.prompt_tokens"][0] == summary["server_metrics"]["prompt_tokens"] == 1000.0
    for key in ("server_generation_tokens_per_s", "server_restarts"):
        if summary.get(key) is not None:
            assert metrics[key][0] == summary[key]
    assert metrics["steps_to_first_test.mean"][0] == summary["steps_to_first_test"]["mean"] == 3
    assert summary["client_load"] is not None
    for key in ("attempts_in_flight_mean", "model_calls_in_flight_mean", "model_share"):
        assert metrics[f"client_load.{key}"][0] == summary["client_load"][key]
    assert metrics["steps_to_submit.median"][0] == 5
    assert 'id="meta-config"' in page and "MY_KEY" in page and 'id="meta-identity"' in page


def test_table_has_every_attempt_with_status_and_sort_keys(run):
    run_dir, store = run
    page = report_html.write_html_report(run_dir, store).read_text()
    rows = [a for t, a in parse(page).tags if t == "tr" and "data-status" in a]
    assert sorted(int(r["data-id"]) for r in rows) == sorted(r["id"] for r in store.attempt_rows())
    assert {r["data-status"] for r in rows} == {"solved", "failed", "limit", "error"}
    swe_row = next(r for r in rows if "repo__pkg-1" in r["data-search"])
    assert "f2p 1/2" in swe_row["data-search"] and "p2p 1/1" in swe_row["data-search"]


def test_trace_dedupes_prompts_and_can_rebuild_them(run):
    _, store = run
    attempt = next(a for a in report_html.load_attempts(store) if a.record.task_id == "t-solved")
    trace = report_traces.trace_data(attempt)
    calls = [e for e in trace["ev"] if e[1] == "model_call"]
    first, second = calls[0][5], calls[1][5]
    assert (first["p_from"], first["p_r"], len(first["p_new"])) == (0, 0, 2)
    assert (second["p_from"], second["p_r"], len(second["p_new"]), second["p_len"]) == (2, 1, 1, 4)
    # the page's rebuild (report.js fullPrompt), in Python: prefix + previous reply + new messages
    previous_reply = {"role": "ai", "content": first["reply"]["content"]}
    rebuilt = first["p_new"][:second["p_from"]] + [previous_reply] + second["p_new"]
    original = next(e for e in attempt.events if e.seq == calls[1][0]).messages
    assert rebuilt == original
    assert [e[0] for e in trace["ev"]] == list(range(9))  # every event, in order
    exec_event = next(e for e in trace["ev"] if e[1] == "sandbox_exec")
    assert exec_event[3:5] == [1.3, 0.5] and exec_event[5]["command"] == "ls"  # start, duration (s)


def test_swe_trace_carries_diff_and_test_results(run):
    _, store = run
    attempt = next(a for a in report_html.load_attempts(store) if a.record.task_id == "repo__pkg-1")
    trace = report_traces.trace_data(attempt)
    assert trace["patch"] == PATCH
    assert trace["score"]["details"]["report"]["tests_status"] == SWE_REPORT["tests_status"]
    assert "test_still_broken" in trace["score"]["details"]["test_log"]
    score_event = next(e for e in trace["ev"] if e[1] == "score")
    assert score_event[5] == {"passed": False, "value": 0.0}  # details travel once, in trace["score"]
    assert report_html.score_text(attempt.record) == "not resolved · F2P 1/2 · P2P 1/1"


def test_clip_and_redact():
    long = "a" * 30_000 + "TAIL"
    clipped = report_traces.clip(long, 1000)
    assert len(clipped) < 1200 and clipped.endswith("TAIL") and "characters left out" in clipped
    assert report_traces.clip("short", 1000) == "short"
    config = {"model": {"api_key": "sk-1", "api_key_env": "MY_KEY", "max_tokens": 512,
                        "server": {"env": {"HF_TOKEN": "hf_x", "CUDA_VISIBLE_DEVICES": "0"}}}}
    assert report_html.redact(config) == {"model": {"api_key": "[redacted]", "api_key_env": "MY_KEY", "max_tokens": 512,
                                                    "server": {"env": {"HF_TOKEN": "[redacted]",
                                                                       "CUDA_VISIBLE_DEVICES": "0"}}}}


def test_plots_are_inline_svg_with_unique_ids(run):
    _, store = run
    summary = build_summary(store)
    plots = render_plots(summary, store.attempts())
    assert list(plots) == ["tokens", "wall", "steps", "passk"]
    for name, svg in plots.items():
        assert svg.startswith("<svg") and "<?xml" not in svg and "<metadata" not in svg
        ids = re.findall(r'\bid="([^"]+)"', svg)
        assert ids and all(i.startswith(f"plot-{name}-") for i in ids)
        assert not re.search(r'(href="#|url\(#)(?!plot-)', svg)
    assert "&lt;/script&gt;" in plots["wall"]  # the hostile task id is an escaped tick label
    assert render_plots({"pass_at_k": {}}, []) == {}


def test_a_run_without_attempts_still_has_a_page(tmp_path):
    store = RunStore.in_dir(tmp_path)
    page = report_html.write_html_report(tmp_path, store).read_text()
    assert 'data-metric="completion_rate" data-value="null">–<' in page
    assert "0 of 0" in page and '<figure class="plot"' not in page


def test_a_prompt_that_changed_is_stored_whole():
    task = {"role": "human", "content": "task"}
    first = model_call(0, T0, [{"role": "system", "content": "plan A"}, task], "reply one")
    changed = [{"role": "system", "content": "plan B"}, task, {"role": "ai", "content": "reply one"}]
    second = model_call(1, T0 + 2, changed, "reply two")
    record = AttemptRecord(task_id="t", epoch=0, status="failed")
    trace = report_traces.trace_data(report_traces.AttemptData(id=1, record=record, events=[first, second]))
    p = trace["ev"][1][5]
    assert (p["p_from"], p["p_r"], p["p_new"], p["p_len"]) == (0, 0, changed, 3)
    assert "messages" not in p and "latency_s" not in p and p["reply"]["content"] == "reply two"
