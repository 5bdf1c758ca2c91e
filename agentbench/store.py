"""The run store: one SQLite file per run (WAL), append-only.

Tables: `run` (key → JSON: resolved config, versions, model identity, server metrics),
`attempt` (one row per try of a (task, epoch); the newest try is the attempt's result),
`event` (attempt id, seq, type, node, times, JSON payload: the typed event's other fields, as set,
agentbench/events.py; read back through its one TypeAdapter, `read_event`). An attempt and its events are
written in one transaction when the attempt ends, so a killed run leaves only whole attempts behind.

Every string written goes through the store's `Redactor` (agentbench.redact): meta values, the attempt's
record and task id, event nodes and payloads (an attempt's payloads scanned in one pass, `json_texts`), so no
secret reaches the file. The runner passes the one
built from the run's own config; a store opened without one builds it from the stored config (and the
environment) when it first writes.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterator, get_args

from pydantic_core import from_json

from agentbench.events import EVENTS, Event
from agentbench.protocols import AttemptReason, AttemptRecord
from agentbench.redact import Redactor

DB_NAME = "run.sqlite"
FINISHED = ("solved", "failed", "limit")

SCHEMA = """
CREATE TABLE IF NOT EXISTS run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempt (
    id INTEGER PRIMARY KEY,
    task_id TEXT NOT NULL, epoch INTEGER NOT NULL, try INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('solved', 'failed', 'limit', 'error')),
    record TEXT NOT NULL, t_start REAL NOT NULL, t_end REAL NOT NULL,
    UNIQUE (task_id, epoch, try)
);
CREATE TABLE IF NOT EXISTS event (
    attempt_id INTEGER NOT NULL REFERENCES attempt(id), seq INTEGER NOT NULL,
    type TEXT NOT NULL, node TEXT, t_start REAL NOT NULL, t_end REAL NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (attempt_id, seq)
);
CREATE VIEW IF NOT EXISTS latest_attempt AS
    SELECT a.* FROM attempt a
    WHERE a.try = (SELECT MAX(b.try) FROM attempt b WHERE b.task_id = a.task_id AND b.epoch = a.epoch);
"""


_REASONS = frozenset(get_args(AttemptReason))
_encode = json.JSONEncoder(default=str).encode  # json.dumps(value, default=str), without an encoder per call


def read_record(text: str | bytes) -> AttemptRecord:
    """A stored attempt record as today's shape reads it: the one place a record is read (the store, the
    exporters). Run folders of older versions: an environment error written before `reason` said so (an
    `error` whose text starts `environment:`, or with `metadata["env_error"]`) reads as reason `environment`,
    and `metadata["env_error"]` is dropped (`reason` is the one place of that fact); a reason code this
    version does not know reads as `other` (AttemptReason)."""
    data = json.loads(text)
    legacy_env = (data.get("metadata") or {}).pop("env_error", None)
    reason = data.get("reason")
    if reason is None and data.get("status") == "error" and (
            legacy_env or str(data.get("error") or "").startswith("environment:")):
        data["reason"] = "environment"
    elif reason is not None and reason not in _REASONS:
        data["reason"] = "other"
    return AttemptRecord.model_validate(data)


def read_event(seq: int, type_: str, node: str | None, t_start: float, t_end: float, payload: str) -> Event:
    """One stored event row as its typed class, through the one adapter (`agentbench.events.EVENTS`). Rows of
    older versions: a field missing takes its default, a key no class declares is kept as an extra, and the
    `node` key of a `node_lost` error (the Ray node, before the field was named `worker`) reads as `worker`."""
    try:
        fields = from_json(payload)
    except ValueError:  # what pydantic's parser refuses and json's takes (a lone surrogate escape)
        fields = json.loads(payload)
    if "node" in fields:
        fields["worker"] = fields.pop("node")
    fields.update(seq=seq, type=type_, node=node, t_start=t_start, t_end=t_end)
    return EVENTS.validate_python(fields)


class RunStore:
    def __init__(self, path: Path, redactor: Redactor | None = None) -> None:
        self.path = Path(path)
        self._redactor = redactor
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    @classmethod
    def in_dir(cls, run_dir: Path, redactor: Redactor | None = None) -> RunStore:
        return cls(Path(run_dir) / DB_NAME, redactor)

    @property
    def redactor(self) -> Redactor:
        """What masks secrets in everything written from this store (its files' writers use it too)."""
        if self._redactor is None:
            self._redactor = Redactor.from_config(self.meta("config"))
        return self._redactor

    def close(self) -> None:
        self._db.close()

    # -- run metadata --------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self._db.execute("INSERT INTO run(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                         (key, self.redactor.dumps(value)))

    def meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM run WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- attempts --------------------------------------------------------------------------------
    def add_attempt(self, record: AttemptRecord, events: list[Event], t_start: float, t_end: float) -> int:
        """Append one try of (task, epoch) with its events, atomically. Returns the attempt id."""
        db, r = self._db, self.redactor
        task_id = r.text(record.task_id)
        record_json = r.json_text(record.model_dump_json())
        nodes = {node: r.text(node) for node in {e.node for e in events} if node}  # a handful per attempt
        payloads = r.json_texts([_encode(e.payload) for e in events], ensure_ascii=True, default=str)
        rows = [(e.seq, e.type, e.node and nodes[e.node], e.t_start, e.t_end, payload)
                for e, payload in zip(events, payloads)]
        db.execute("BEGIN IMMEDIATE")
        try:
            (n,) = db.execute("SELECT COALESCE(MAX(try), -1) + 1 FROM attempt WHERE task_id = ? AND epoch = ?",
                              (task_id, record.epoch)).fetchone()
            cur = db.execute(
                "INSERT INTO attempt(task_id, epoch, try, status, record, t_start, t_end) VALUES (?,?,?,?,?,?,?)",
                (task_id, record.epoch, n, record.status, record_json, t_start, t_end))
            attempt_id = cur.lastrowid
            db.executemany(
                "INSERT INTO event(attempt_id, seq, type, node, t_start, t_end, payload) VALUES (?,?,?,?,?,?,?)",
                [(attempt_id, *row) for row in rows])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return attempt_id

    def finished_keys(self) -> set[tuple[str, int]]:
        """(task, epoch) pairs whose newest try finished (not `error`): resume skips these."""
        rows = self._db.execute("SELECT task_id, epoch FROM latest_attempt WHERE status IN (?,?,?)", FINISHED)
        return {(t, e) for t, e in rows}

    def attempts(self) -> list[AttemptRecord]:
        """The newest try of every (task, epoch), in task order."""
        rows = self._db.execute("SELECT record FROM latest_attempt ORDER BY task_id, epoch")
        return [read_record(r[0]) for r in rows]

    def attempt_rows(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT id, task_id, epoch, try, status, t_start, t_end FROM latest_attempt "
                                "ORDER BY task_id, epoch")
        cols = ["id", "task_id", "epoch", "try", "status", "t_start", "t_end"]
        return [dict(zip(cols, r)) for r in rows]

    def all_tries(self) -> list[tuple[str, int, int, str]]:
        return list(self._db.execute("SELECT task_id, epoch, try, status FROM attempt ORDER BY id"))

    def find_attempt(self, task_id: str, epoch: int | None = None) -> tuple[int, AttemptRecord] | None:
        sql = "SELECT id, record FROM latest_attempt WHERE task_id = ?"
        args: tuple = (task_id,)
        if epoch is not None:
            sql += " AND epoch = ?"
            args += (epoch,)
        row = self._db.execute(sql + " ORDER BY epoch LIMIT 1", args).fetchone()
        return (row[0], read_record(row[1])) if row else None

    def spans(self, event_type: str | None = None) -> list[tuple[float, float]]:
        """(t_start, t_end) of every attempt's newest try, or of its events of one type (one query)."""
        if event_type is None:
            return list(self._db.execute("SELECT t_start, t_end FROM latest_attempt"))
        return list(self._db.execute("SELECT e.t_start, e.t_end FROM event e JOIN latest_attempt a "
                                     "ON e.attempt_id = a.id WHERE e.type = ?", (event_type,)))

    def events(self, attempt_id: int) -> Iterator[Event]:
        """The attempt's events in order, typed (`read_event`)."""
        rows = self._db.execute("SELECT seq, type, node, t_start, t_end, payload FROM event WHERE attempt_id = ? "
                                "ORDER BY seq", (attempt_id,))
        for row in rows:
            yield read_event(*row)
