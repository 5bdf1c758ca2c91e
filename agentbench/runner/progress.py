"""Live progress of a run: attempts done of total, solved, errors, tokens, elapsed."""

from __future__ import annotations

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
        self._progress.console.print(text)

    def stop(self) -> None:
        self._progress.stop()
