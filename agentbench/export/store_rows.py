"""What the table and log exporters read of a run's store beyond `RunStore.attempts()`: every try of every
(task, epoch) — older tries too, with the newest marked `latest` — and the events of all tries, streamed in
batches with a few payload fields pulled out by SQLite (`json_extract`), so a run of 500 attempts × 100
events is never held in memory at once.

Read-only SQL on the `attempt` and `event` tables as agentbench/store.py defines them, through a
connection of its own (`mode=ro`): it never writes the store. Strings come back as the store holds them
(already redacted when written); the exporters pass them through `store.redactor` again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agentbench.protocols import AttemptRecord
from agentbench.store import RunStore, read_record

EVENT_FIELDS = ("prompt_tokens", "completion_tokens", "latency_s", "command", "exit_code", "kind", "cancelled",
                "error", "tool", "source")
"""Payload keys `event_batches` returns as columns of their own (None where an event has no such key)."""


@dataclass(frozen=True)
class TryRow:
    """One try of a (task, epoch): its store id, its place among the tries, its times and its record."""

    id: int
    task_id: str
    epoch: int
    try_: int
    status: str
    t_start: float
    t_end: float
    latest: bool
    record: AttemptRecord


def _connect(store: RunStore) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)


def tries(store: RunStore) -> list[TryRow]:
    """Every try, ordered by task, epoch and try; `latest` marks the newest of each (task, epoch), the
    one every agentbench figure uses."""
    db = _connect(store)
    try:
        rows = db.execute("SELECT id, task_id, epoch, try, status, t_start, t_end, record FROM attempt "
                          "ORDER BY task_id, epoch, try").fetchall()
    finally:
        db.close()
    newest: dict[tuple[str, int], int] = {}
    for _, task_id, epoch, n, *_ in rows:
        newest[(task_id, epoch)] = max(n, newest.get((task_id, epoch), n))
    return [TryRow(id=i, task_id=task_id, epoch=epoch, try_=n, status=status, t_start=t0, t_end=t1,
                   latest=newest[(task_id, epoch)] == n, record=read_record(record))
            for i, task_id, epoch, n, status, t0, t1, record in rows]


def event_batches(store: RunStore, batch_size: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
    """All events of all tries in (attempt id, seq) order, `batch_size` rows at a time. A row:
    `(attempt_id, seq, type, node, t_start, t_end, *EVENT_FIELDS, payload JSON text)`."""
    extracts = ", ".join(f"json_extract(payload, '$.{key}')" for key in EVENT_FIELDS)
    db = _connect(store)
    try:
        cursor = db.execute(f"SELECT attempt_id, seq, type, node, t_start, t_end, {extracts}, payload FROM event "
                            "ORDER BY attempt_id, seq")
        while batch := cursor.fetchmany(batch_size):
            yield batch
    finally:
        db.close()
