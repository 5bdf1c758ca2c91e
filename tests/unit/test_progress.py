"""Progress in a log (no TTY): plain lines, a heartbeat at least every 30 s, the sink chosen by the output."""

from __future__ import annotations

import io

from rich.console import Console

from agentbench.protocols import AttemptRecord, AttemptTotals, Usage
from agentbench.runner.progress import LogProgress, NullProgress, RichProgress, format_elapsed, make_progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(status: str, tokens: int = 10) -> AttemptRecord:
    return AttemptRecord(task_id="t", epoch=0, status=status,
                         totals=AttemptTotals(usage=Usage(prompt_tokens=tokens, completion_tokens=0)))


def log_sink(concurrency: int | None = 4) -> tuple[LogProgress, io.StringIO, FakeClock]:
    out, clock = io.StringIO(), FakeClock()
    console = Console(file=out, force_terminal=False, width=40)  # narrow: lines must not wrap
    return LogProgress(console, concurrency=concurrency, clock=clock, thread=False), out, clock


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_the_line_says_done_by_status_running_and_elapsed():
    sink, out, clock = log_sink()
    sink.start(25, 0)
    for status in ["solved"] * 3 + ["failed"] * 6 + ["limit"] * 2 + ["error"]:
        sink.advance(record(status))
    clock.now += 83
    sink.tick()
    assert lines(out)[0] == "0/25 attempts done (solved 0, failed 0, limit 0, error 0), 4 running, 0s elapsed"
    assert lines(out)[-1] == ("12/25 attempts done (solved 3, failed 6, limit 2, error 1), 4 running, 120 tokens, "
                              "1m23s elapsed")


def test_a_heartbeat_at_least_every_interval_even_when_nothing_finishes():
    sink, out, clock = log_sink()
    sink.start(10, 0)
    for _ in range(10):  # 100 s with no attempt finishing, ticked every 10 s
        clock.now += 10
        sink.tick()
    assert len(lines(out)) == 1 + 3  # the start, then at 30, 60 and 90 s
    assert lines(out)[-1].endswith("1m30s elapsed")


def test_finished_attempts_print_at_most_every_min_gap_and_the_last_always():
    sink, out, clock = log_sink(concurrency=2)
    sink.start(4, 0)
    clock.now += 1
    sink.advance(record("solved"))  # 1 s after the start line: too soon
    clock.now += 6
    sink.advance(record("failed"))  # 7 s: printed
    clock.now += 1
    sink.advance(record("solved"))  # too soon again
    clock.now += 1
    sink.advance(record("solved"))  # the last: always
    got = lines(out)
    assert [line.split(" attempts")[0] for line in got] == ["0/4", "2/4", "4/4"]
    assert "2 running" in got[1] and "0 running" in got[2]
    sink.stop()
    assert len(lines(out)) == 3  # nothing new since the last line


def test_stop_prints_the_final_count_and_a_resumed_run_counts_from_what_was_done():
    sink, out, clock = log_sink(concurrency=None)
    sink.start(10, 7)
    clock.now += 1
    sink.advance(record("limit"))
    sink.stop()
    assert lines(out) == ["7/10 attempts done (solved 0, failed 0, limit 0, error 0), 0s elapsed",
                          "8/10 attempts done (solved 0, failed 0, limit 1, error 0), 10 tokens, 1s elapsed"]


def test_notes_print_as_plain_text():
    sink, out, _ = log_sink()
    sink.note("checking 3 SWE-bench environment(s) [tests] ...")
    assert lines(out) == ["checking 3 SWE-bench environment(s) [tests] ..."]


def test_the_heartbeat_thread_runs_and_stops():
    out = io.StringIO()
    sink = LogProgress(Console(file=out, force_terminal=False), interval_s=0.05, min_gap_s=0)
    sink.start(1, 0)
    import time
    time.sleep(0.3)
    sink.stop()
    assert sink._thread is None and len(lines(out)) >= 3


def test_elapsed_format():
    assert [format_elapsed(s) for s in (0, 7.9, 83, 3725)] == ["0s", "7s", "1m23s", "1h02m05s"]


def test_make_progress_picks_by_the_output():
    tty, log = Console(file=io.StringIO(), force_terminal=True), Console(file=io.StringIO(), force_terminal=False)
    assert isinstance(make_progress(tty), RichProgress)
    assert isinstance(make_progress(log, concurrency=3), LogProgress) and make_progress(log, concurrency=3).concurrency == 3
    assert isinstance(make_progress(tty, quiet=True), NullProgress) and isinstance(make_progress(log, True), NullProgress)
