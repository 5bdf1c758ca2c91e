"""`AttemptRecord.reason` is a code from a closed set, and the one place of the "environment error" fact: the
metrics count it from there, and run folders of older versions (the fact in the error text or in
`metadata["env_error"]`, a code this version does not know) read into that shape in one place
(`store.read_record`)."""

from __future__ import annotations

import json
import typing

import pytest
from pydantic import ValidationError

from agentbench.metrics import environment_errors
from agentbench.protocols import AttemptReason, AttemptRecord, LimitKind, Task
from agentbench.report.summary import build_summary
from agentbench.runner.episode import environment_error
from agentbench.store import RunStore, read_record


def old_row(store: RunStore, task_id: str, record: dict) -> None:
    """A record as an older version wrote it, straight into the table (no validation on the way in)."""
    store._db.execute("INSERT INTO attempt(task_id, epoch, try, status, record, t_start, t_end) VALUES (?,0,0,?,?,0,1)",
                      (task_id, record["status"], json.dumps({"task_id": task_id, "epoch": 0, **record})))


def test_a_reason_is_a_known_code_when_written():
    assert set(typing.get_args(LimitKind)) <= set(typing.get_args(AttemptReason))
    with pytest.raises(ValidationError):
        AttemptRecord(task_id="t", epoch=0, status="error", reason="envirnoment")  # type: ignore[arg-type]
    record = AttemptRecord(task_id="t", epoch=0, status="error", reason="node_lost")
    assert AttemptRecord.model_validate_json(record.model_dump_json()).reason == "node_lost"


def test_an_environment_error_is_said_by_its_reason_alone():
    result = environment_error(Task(id="t", kind="swe", prompt="fix"), 0, "pip exited 1")
    assert result.record.reason == "environment" and result.record.status == "error"
    assert "env_error" not in result.record.metadata
    unprefixed = AttemptRecord(task_id="u", epoch=0, status="error", reason="environment", error="pip exited 1")
    prefixed_infra = AttemptRecord(task_id="v", epoch=0, status="error", reason="infra", error="environment: x")
    assert environment_errors([result.record, unprefixed, prefixed_infra]) == 2  # the text is never parsed


def test_old_run_folders_read_into_todays_shape(tmp_path):
    store = RunStore.in_dir(tmp_path)
    old_row(store, "prefix", {"status": "error", "error": "environment: building sandbox image failed"})
    old_row(store, "flag", {"status": "error", "error": "tests_not_found", "reason": "environment",
                            "metadata": {"level": None, "env_error": True}})
    old_row(store, "flag-only", {"status": "error", "error": "broken", "metadata": {"env_error": True}})
    old_row(store, "future", {"status": "error", "error": "x", "reason": "quota"})
    old_row(store, "model", {"status": "error", "error": "APIError: 502", "reason": "model"})
    old_row(store, "wrong", {"status": "failed", "error": "environment: words an agent wrote"})
    records = {r.task_id: r for r in store.attempts()}
    assert {t: r.reason for t, r in records.items()} == {
        "prefix": "environment", "flag": "environment", "flag-only": "environment", "future": "other",
        "model": "model", "wrong": None}
    assert all("env_error" not in r.metadata for r in records.values())
    assert records["flag"].metadata == {"level": None}
    assert environment_errors(list(records.values())) == 3
    assert build_summary(store, list(records.values()))["environment_errors"] == 3
    assert store.find_attempt("future")[1].reason == "other"


def test_read_record_keeps_todays_records_as_written():
    record = AttemptRecord(task_id="t", epoch=1, status="limit", reason="supersteps", error="supersteps limit",
                           metadata={"level": 2, "limit_graded": False})
    assert read_record(record.model_dump_json()) == record
