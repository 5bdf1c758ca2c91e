"""Progress of a run: attempts done of total, by status, tokens, elapsed.

`make_progress(console, quiet)` picks the sink: a live bar (`RichProgress`) on a terminal, plain lines
(`LogProgress`) in a log or CI, where a bar would print nothing until the end, nothing with `quiet`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentbench.protocols import AttemptRecord


class ProgressSink(Protocol):
    def start(self, total: int, already_done: int) -> None: ...
    def advance(self, record: AttemptRecord) -> None: ...
    def note(self, text: str) -> None: ...
    def stop(self) -> None: ...


class NullProgress:
    def start(self, total: int, already_done: int) -> None: ...
    def advance(self, record: AttemptRecord) -> None: ...
    def note(self, text: str) -> None: ...
    def stop(self) -> None: ...


class RichProgress:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("solved [green]{task.fields[solved]}[/] · failed {task.fields[failed]} · "
                       "limit [yellow]{task.fields[limit]}[/] · errors [red]{task.fields[error]}[/] · "
                       "tokens {task.fields[tokens]:,}"),
            TimeElapsedColumn(), console=self.console, transient=False)
        self._task = None
        self._counts = {"solved": 0, "failed": 0, "limit": 0, "error": 0, "tokens": 0}

    def start(self, total: int, already_done: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task("attempts", total=total, completed=already_done, **self._counts)

    def advance(self, record: AttemptRecord) -> None:
        self._counts[record.status] += 1
        self._counts["tokens"] += record.totals.usage.total_tokens
        self._progress.update(self._task, advance=1, **self._counts)

    def note(self, text: str) -> None:
        self._progress.console.print(text, markup=False, highlight=False)  # notes carry task ids and logs

    def stop(self) -> None:
        self._progress.stop()


def format_elapsed(seconds: float) -> str:
    """83 -> `1m23s`, 3725 -> `1h02m05s`, 7 -> `7s`."""
    s = int(seconds)
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class LogProgress:
    """Progress as plain lines, for a log or CI (no TTY): one when the run starts, one per finished attempt
    at most every `min_gap_s`, one at least every `interval_s` while attempts run (from a daemon thread, so
    a long attempt still shows the run is alive), and the last one when it stops:

        12/25 attempts done (solved 3, failed 6, limit 2, error 1), 4 running, 1m23s elapsed

    `running` is what the runner keeps in flight, min(concurrency, attempts left), when `concurrency` is
    given. `clock` and `thread=False` are for tests, which call `tick()` themselves."""

    def __init__(self, console: Console | None = None, *, concurrency: int | None = None, interval_s: float = 30.0,
                 min_gap_s: float = 5.0, clock: Callable[[], float] = time.monotonic, thread: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.concurrency = concurrency
        self.interval_s = interval_s
        self.min_gap_s = min_gap_s
        self._clock = clock
        self._thread_wanted = thread
        self._counts = {"solved": 0, "failed": 0, "limit": 0, "error": 0}
        self._tokens = 0
        self.total = self.done = 0
        self._t0 = self._last = 0.0
        self._last_done = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def line(self) -> str:
        c = self._counts
        parts = [f"{self.done}/{self.total} attempts done (solved {c['solved']}, failed {c['failed']}, "
                 f"limit {c['limit']}, error {c['error']})"]
        if self.concurrency:
            parts.append(f"{min(self.concurrency, self.total - self.done)} running")
        if self._tokens:
            parts.append(f"{self._tokens:,} tokens")
        parts.append(f"{format_elapsed(self._clock() - self._t0)} elapsed")
        return ", ".join(parts)

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _emit(self) -> None:
        with self._lock:
            self._last, self._last_done = self._clock(), self.done
            self._print(self.line())

    def start(self, total: int, already_done: int) -> None:
        self.total, self.done = total, already_done
        self._t0 = self._clock()
        self._emit()
        if self._thread_wanted:
            self._thread = threading.Thread(target=self._beat, name="agentbench-progress", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self.interval_s)):
            self.tick()

    def tick(self) -> None:
        """A line when `interval_s` passed since the last one (the heartbeat)."""
        if self._clock() - self._last >= self.interval_s:
            self._emit()

    def advance(self, record: AttemptRecord) -> None:
        self._counts[record.status] += 1
        self._tokens += record.totals.usage.total_tokens
        self.done += 1
        if self.done >= self.total or self._clock() - self._last >= self.min_gap_s:
            self._emit()

    def note(self, text: str) -> None:
        self._print(text)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self.done != self._last_done:  # the final count, unless the last line has it
            self._emit()


def make_progress(console: Console, quiet: bool = False, concurrency: int | None = None) -> ProgressSink:
    """The sink for this output: nothing when `quiet`, a live bar on a terminal, plain lines otherwise."""
    if quiet:
        return NullProgress()
    if console.is_terminal:
        return RichProgress(console)
    return LogProgress(console, concurrency=concurrency)
