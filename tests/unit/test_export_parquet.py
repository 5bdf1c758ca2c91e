"""The Parquet export on a small real store: fixed typed schemas, every try with `latest` marking the
newest, events streamed into several row groups with their payload fields as columns, and no secret."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq

from agentbench.export.parquet import attempts_schema, events_schema, write_parquet
from agentbench.redact import MASK

from .export_store import SECRET, make_store, open_export_store


def _sql(path, query):
    with sqlite3.connect(path) as db:
        return db.execute(query).fetchall()


def test_tables_hold_every_try_and_event(tmp_path):
    make_store(tmp_path / "run").close()
    store = open_export_store(tmp_path / "run")
    attempts_path, events_path = write_parquet(store, tmp_path / "out", row_group_rows=7)
    attempts, events = pq.read_table(attempts_path), pq.read_table(events_path)
    assert attempts.schema.equals(attempts_schema()) and events.schema.equals(events_schema())
    db = tmp_path / "run" / "run.sqlite"

    rows = attempts.to_pylist()
    assert len(rows) == _sql(db, "SELECT COUNT(*) FROM attempt")[0][0] == 5
    latest = [r for r in rows if r["latest"]]
    assert sorted((r["task_id"], r["epoch"], r["status"]) for r in latest) == sorted(
        _sql(db, "SELECT task_id, epoch, status FROM latest_attempt"))
    (older,) = [r for r in rows if not r["latest"]]
    assert (older["task_id"], older["epoch"], older["try"], older["status"]) == ("t2", 0, 0, "error")
    ok = next(r for r in rows if r["status"] == "solved")
    assert (ok["prompt_tokens"], ok["completion_tokens"], ok["total_tokens"], ok["steps"]) == (50, 10, 60, 3)
    assert ok["passed"] is True and ok["score_value"] == 1.0 and ok["model"] == "tiny"
    assert ok["model_provider"] == "openai" and ok["run_id"] == "unit-run" and ok["suite"] == "unit_suite"
    assert ok["t_start"].timestamp() == _sql(db, "SELECT t_start FROM attempt WHERE status = 'solved'")[0][0]
    assert json.loads(ok["metadata"]) == {"level": 1} and ok["answer"] == "1"
    limited = next(r for r in latest if r["status"] == "limit")
    assert limited["reason"] == "steps" and limited["passed"] is None and limited["first_test_step"] is None

    assert pq.ParquetFile(events_path).metadata.num_row_groups >= 4  # 40 events, groups of at most 7
    evs = events.to_pylist()
    assert len(evs) == _sql(db, "SELECT COUNT(*) FROM event")[0][0]
    by_type: dict[str, int] = {}
    for e in evs:
        by_type[e["type"]] = by_type.get(e["type"], 0) + 1
    assert by_type == dict(_sql(db, "SELECT type, COUNT(*) FROM event GROUP BY type"))
    calls = [e for e in evs if e["type"] == "model_call" and e["task_id"] == "t1" and e["epoch"] == 0]
    assert sum(e["prompt_tokens"] for e in calls) == 50 and all(e["tokens"] == e["prompt_tokens"] +
                                                                e["completion_tokens"] for e in calls)
    assert all(e["latency_s"] == 1.0 and e["node"] == "act" and e["command"] is None for e in calls)
    cmd = next(e for e in evs if e["type"] == "sandbox_exec")
    assert (cmd["command"], cmd["exit_code"], cmd["kind"]) == ("ls", 0, "bash")
    assert json.loads(cmd["payload"])["stdout"] == f"a.txt {MASK}"
    assert abs(cmd["duration_s"] - 0.2) < 1e-6 and cmd["offset_s"] > 0
    cancelled = [e for e in evs if e["cancelled"]]
    assert len(cancelled) == 1 and cancelled[0]["type"] == "model_call"
    err = next(e for e in evs if e["type"] == "error" and e["task_id"] == "t2" and e["epoch"] == 1)
    assert err["source"] == "model" and err["error"].startswith("APIConnectionError") and err["latest"]
    assert {(e["attempt_id"], e["latest"]) for e in evs if e["try"] == 0 and e["task_id"] == "t2"
            and e["epoch"] == 0} == {(older["attempt_id"], False)}

    planted = "SELECT COUNT(*) FROM event WHERE instr(payload, ?) > 0"
    with sqlite3.connect(db) as con:
        assert con.execute(planted, (SECRET,)).fetchone()[0] > 0  # the store holds it: the export masks it
    blob = attempts_path.read_bytes() + events_path.read_bytes()
    assert SECRET.encode() not in blob
    for table in (attempts, events):
        for column in table.column_names:
            assert not any(isinstance(v, str) and SECRET in v for v in table.column(column).to_pylist())


def test_empty_store_writes_the_schemas(tmp_path):
    from agentbench.store import RunStore

    store = RunStore.in_dir(tmp_path)
    attempts_path, events_path = write_parquet(store, tmp_path / "out")
    assert pq.read_table(attempts_path).num_rows == 0 and pq.read_schema(events_path).equals(events_schema())
    assert not list((tmp_path / "out").glob(".*.tmp"))


def _documented(section: str) -> list[tuple[str, str]]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "exports.md").read_text()
    part = text.split(f"### {section}")[1].split("\n### ")[0].split("\n## ")[0]
    return re.findall(r"^\| `([a-z_]+)` \| ([A-Za-z0-9\[\], =_]+) \|", part, flags=re.M)


def test_docs_list_every_column_with_its_type():
    for section, schema in (("attempts.parquet", attempts_schema()), ("events.parquet", events_schema())):
        assert _documented(section) == [(f.name, str(f.type)) for f in schema]
