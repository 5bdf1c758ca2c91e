"""A run's store as two Parquet tables, for pandas, Polars or DuckDB: `attempts.parquet` (one row per try
of a (task, epoch), all tries, `latest` marking the newest: the one every agentbench figure counts) and
`events.parquet` (one row per traced event of every try, a few payload fields as typed columns and the whole
payload as JSON text). Column tables: docs/exports.md.

The schemas are fixed (`attempts_schema()`, `events_schema()`): a column is there, with its type, even when
a run has no value for it (null). Events are read from the store in batches and written as row groups of at
most `ROW_GROUP_ROWS` rows or `ROW_GROUP_BYTES` of payload text, so a run of any size is never held in
memory at once. Every string passes the store's redactor. Each file is written beside its final name and
renamed into place, so a failed export leaves no half-written table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbench.export.store_rows import EVENT_FIELDS, TryRow, event_batches, tries
from agentbench.store import RunStore

if TYPE_CHECKING:
    import pyarrow as pa

ATTEMPTS_NAME = "attempts.parquet"
EVENTS_NAME = "events.parquet"
ROW_GROUP_ROWS = 16_384
ROW_GROUP_BYTES = 8 * 1024 * 1024
IDENTITY = ("provider", "weights_hash", "dtype", "quantization", "server", "server_version")
"""Fields of the run's model identity that become `model_<field>` columns (with `model`, the served name)."""


def attempts_schema() -> pa.Schema:
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return pa.schema([
        ("run_id", pa.string()), ("suite", pa.string()), ("graph", pa.string()),
        ("attempt_id", pa.int64()), ("task_id", pa.string()), ("epoch", pa.int32()), ("try", pa.int32()),
        ("latest", pa.bool_()), ("status", pa.string()), ("reason", pa.string()), ("error", pa.string()),
        ("answer", pa.string()), ("passed", pa.bool_()), ("score_value", pa.float64()),
        ("patch_chars", pa.int64()),
        ("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()), ("total_tokens", pa.int64()),
        ("steps", pa.int32()), ("tool_calls", pa.int32()), ("supersteps", pa.int32()),
        ("wall_clock_s", pa.float64()), ("model_time_s", pa.float64()), ("sandbox_time_s", pa.float64()),
        ("overhead_s", pa.float64()), ("first_test_step", pa.int32()), ("submit_step", pa.int32()),
        ("t_start", ts), ("t_end", ts), ("duration_s", pa.float64()),
        ("model", pa.string()), *((f"model_{k}", pa.string()) for k in IDENTITY),
        ("metadata", pa.string()),
    ])


def events_schema() -> pa.Schema:
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return pa.schema([
        ("run_id", pa.string()), ("attempt_id", pa.int64()), ("task_id", pa.string()), ("epoch", pa.int32()),
        ("try", pa.int32()), ("latest", pa.bool_()), ("seq", pa.int32()), ("type", pa.string()),
        ("node", pa.string()), ("t_start", ts), ("t_end", ts), ("duration_s", pa.float64()),
        ("offset_s", pa.float64()),
        ("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()), ("tokens", pa.int64()),
        ("latency_s", pa.float64()), ("command", pa.string()), ("exit_code", pa.int32()), ("kind", pa.string()),
        ("cancelled", pa.bool_()), ("error", pa.string()), ("tool", pa.string()), ("source", pa.string()),
        ("payload", pa.string()),
    ])


def _us(t: float | None) -> int | None:
    return None if t is None else round(t * 1_000_000)


def _str(value: Any) -> str | None:
    """A payload value as text: strings as they are, anything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else (
        int(value) if isinstance(value, float) and value.is_integer() else None)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def run_columns(store: RunStore) -> dict[str, str | None]:
    """The run-level columns every attempt row carries: run id, suite, graph and the model's identity."""
    config = store.meta("config") or {}
    identity = store.meta("model_identity") or {}
    r = store.redactor
    values = {"run_id": store.meta("run_id"), "suite": (store.meta("suite") or {}).get("name"),
              "graph": config.get("graph"),
              "model": identity.get("served_model_name") or (config.get("model") or {}).get("name"),
              **{f"model_{k}": identity.get(k) for k in IDENTITY}}
    return {k: None if v is None else r.text(str(v)) for k, v in values.items()}


def attempt_rows(store: RunStore, rows: list[TryRow]) -> dict[str, list[Any]]:
    """The attempts table as columns (pure apart from reading run meta): one entry per try."""
    run = run_columns(store)
    r = store.redactor
    cols: dict[str, list[Any]] = {name: [] for name in attempts_schema().names}

    def text(value: str | None) -> str | None:
        return None if value is None else r.text(value)

    for row in rows:
        rec, totals = row.record, row.record.totals
        values = {
            **run, "attempt_id": row.id, "task_id": text(row.task_id), "epoch": row.epoch, "try": row.try_,
            "latest": row.latest, "status": row.status, "reason": rec.reason, "error": text(rec.error),
            "answer": text(rec.answer), "passed": rec.score.passed if rec.score else None,
            "score_value": rec.score.value if rec.score else None,
            "patch_chars": None if rec.patch is None else len(rec.patch),
            "prompt_tokens": totals.usage.prompt_tokens, "completion_tokens": totals.usage.completion_tokens,
            "total_tokens": totals.usage.total_tokens, "steps": totals.steps, "tool_calls": totals.tool_calls,
            "supersteps": totals.supersteps, "wall_clock_s": totals.wall_clock_s,
            "model_time_s": totals.model_time_s, "sandbox_time_s": totals.sandbox_time_s,
            "overhead_s": totals.overhead_s, "first_test_step": totals.first_test_step,
            "submit_step": totals.submit_step, "t_start": _us(row.t_start), "t_end": _us(row.t_end),
            "duration_s": row.t_end - row.t_start, "metadata": r.dumps(rec.metadata, sort_keys=True),
        }
        for name, column in cols.items():
            column.append(values[name])
    return cols


def _event_table(batch: list[tuple[Any, ...]], by_id: dict[int, TryRow], run_id: str | None,
                 store: RunStore) -> pa.Table:
    import pyarrow as pa

    r = store.redactor
    schema = events_schema()
    cols: dict[str, list[Any]] = {name: [] for name in schema.names}
    nodes: dict[str, str] = {}  # node names repeat: redact each once
    for attempt_id, seq, type_, node, t0, t1, *fields, payload in batch:
        extra = dict(zip(EVENT_FIELDS, fields))
        owner = by_id[attempt_id]
        prompt, completion = _int(extra["prompt_tokens"]), _int(extra["completion_tokens"])
        if node is not None and node not in nodes:
            nodes[node] = r.text(node)
        error = _str(extra["error"])
        command = _str(extra["command"])
        values = {
            "run_id": run_id, "attempt_id": attempt_id, "task_id": owner.task_id, "epoch": owner.epoch,
            "try": owner.try_, "latest": owner.latest, "seq": seq, "type": type_,
            "node": None if node is None else nodes[node], "t_start": _us(t0), "t_end": _us(t1),
            "duration_s": t1 - t0, "offset_s": t0 - owner.t_start, "prompt_tokens": prompt,
            "completion_tokens": completion,
            "tokens": None if prompt is None and completion is None else (prompt or 0) + (completion or 0),
            "latency_s": _float(extra["latency_s"]), "command": None if command is None else r.text(command),
            "exit_code": _int(extra["exit_code"]), "kind": _str(extra["kind"]),
            "cancelled": None if extra["cancelled"] is None else bool(extra["cancelled"]),
            "error": None if error is None else r.text(error), "tool": _str(extra["tool"]),
            "source": _str(extra["source"]), "payload": r.json_text(payload),
        }
        for name, column in cols.items():
            column.append(values[name])
    return pa.Table.from_pydict(cols, schema=schema)


def write_parquet(store: RunStore, out_dir: Path, *, row_group_rows: int = ROW_GROUP_ROWS,
                  row_group_bytes: int = ROW_GROUP_BYTES) -> list[Path]:
    """Write `attempts.parquet` and `events.parquet` into `out_dir` (made if missing); the paths written.
    An events row group closes at `row_group_rows` rows or `row_group_bytes` of payload text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = tries(store)
    attempts_path, events_path = out_dir / ATTEMPTS_NAME, out_dir / EVENTS_NAME
    tmp = attempts_path.with_name(f".{ATTEMPTS_NAME}.tmp")
    pq.write_table(pa.Table.from_pydict(attempt_rows(store, rows), schema=attempts_schema()), tmp,
                   compression="zstd")
    os.replace(tmp, attempts_path)

    by_id = {row.id: row for row in rows}
    run_id = run_columns(store)["run_id"]
    tmp = events_path.with_name(f".{EVENTS_NAME}.tmp")
    pending: list[tuple[Any, ...]] = []
    pending_bytes = 0
    try:
        with pq.ParquetWriter(tmp, events_schema(), compression="zstd") as writer:
            for batch in event_batches(store, batch_size=min(1000, row_group_rows)):
                pending += batch
                pending_bytes += sum(len(row[-1]) for row in batch)
                if len(pending) >= row_group_rows or pending_bytes >= row_group_bytes:
                    writer.write_table(_event_table(pending, by_id, run_id, store))
                    pending, pending_bytes = [], 0
            if pending:
                writer.write_table(_event_table(pending, by_id, run_id, store))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, events_path)
    return [attempts_path, events_path]
