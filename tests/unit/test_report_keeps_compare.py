"""`agentbench compare A B` puts a comparison section into A's report.html (from A/compare.json); writing
that page again — `agentbench report A --html`, or a resumed run's outputs — keeps it. Real run stores in
tmp_path, the real command line (typer's runner)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agentbench.cli import app
from agentbench.protocols import AttemptRecord, Score
from agentbench.report.outputs import write_run_outputs
from agentbench.store import RunStore

SECTION = 'class="agentbench-compare"'


def make_run(run_dir: Path, statuses: dict[str, str]) -> None:
    run_dir.mkdir()
    store = RunStore.in_dir(run_dir)
    try:
        store.set_meta("run_id", run_dir.name)
        store.set_meta("config", {"graph": "react", "model": {"name": "m"}})
        store.set_meta("suite", {"name": "unit"})
        for task, status in statuses.items():
            score = Score(passed=status == "solved", value=1.0, details={})
            store.add_attempt(AttemptRecord(task_id=task, epoch=0, status=status, answer="42", score=score), [], 0.0, 1.0)
    finally:
        store.close()


def cli(*args: str):
    result = CliRunner().invoke(app, [*args])
    assert result.exit_code == 0, result.output
    return result


def test_report_html_keeps_the_comparison(tmp_path):
    a, b = tmp_path / "run-a", tmp_path / "run-b"
    make_run(a, {"t1": "solved", "t2": "solved", "t3": "failed"})
    make_run(b, {"t1": "failed", "t2": "solved", "t3": "failed"})
    cli("compare", str(a), str(b), "--resamples", "50")
    assert (a / "compare.json").is_file() and SECTION in (a / "report.html").read_text()

    cli("report", str(a), "--html")
    page = (a / "report.html").read_text()
    assert SECTION in page and "run-b" in page and "report.html#attempt-" in page  # the flip links to B's trace

    store = RunStore.in_dir(a)  # a resumed run writes its outputs again: the section stays too
    try:
        write_run_outputs(a, store)
    finally:
        store.close()
    assert SECTION in (a / "report.html").read_text()

    cli("report", str(b), "--html")  # B was not the baseline: no comparison of its own
    assert SECTION not in (b / "report.html").read_text()


def test_an_unreadable_comparison_is_reported_and_left_out(tmp_path):
    a = tmp_path / "run-a"
    make_run(a, {"t1": "solved"})
    (a / "compare.json").write_text("{not json")
    result = cli("report", str(a), "--html")
    assert "compare.json:unreadablecomparison" in "".join(result.output.split())  # however the console wraps
    assert SECTION not in (a / "report.html").read_text()
