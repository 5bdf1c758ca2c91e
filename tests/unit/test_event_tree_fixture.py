"""A run folder written before events were typed (today's main, 5880cac) loads into the typed union, and
every reader of the trace gives the same output on it as the old code did.

The fixture (tests/fixtures/run_main_2026_12/): `run/` is a real run made with that commit by its
`make_run.py` (the prebuilt ReAct agent on six gaia-mini tasks, local sandbox, a scripted model on loopback:
solved with a retry and a tool, failed, steps limit, a failed model call, time limit with cancelled events,
agent_error with a failed tool); `expected/` holds what `capture.py` wrote from it with that commit: the
OTel spans (content on), the Inspect samples, report.html's trace blobs, `agentbench show` and `show --full`.
Here `capture.py` runs with the code under test and each file must be byte-identical. One normalisation:
`show` prints clock times in the local time zone, so both captures run with TZ=UTC (the `outputs` fixture).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from agentbench import events as ev
from agentbench.redact import Redactor
from agentbench.store import RunStore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_main_2026_12"
OUTPUTS = ("otel_spans.json", "inspect_samples.json", "report_traces.jsonl", "show.txt", "show_full.txt")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A copy of the fixture run (opening a store writes its WAL files beside it)."""
    return Path(shutil.copytree(FIXTURE / "run", tmp_path / "run"))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, str]:
    """capture.py's files from a copy of the fixture run, with the code under test, in TZ=UTC."""
    spec = importlib.util.spec_from_file_location("fixture_capture", FIXTURE / "capture.py")
    capture = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(capture)
    copy = shutil.copytree(FIXTURE / "run", tmp_path_factory.mktemp("fixture") / "run")
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        return capture.outputs(Path(copy))
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_the_old_run_folder_loads_into_the_typed_union(run_dir):
    store = RunStore.in_dir(run_dir, redactor=Redactor())
    raw = sqlite3.connect(run_dir / "run.sqlite")
    seen: set[type] = set()
    for row in store.attempt_rows():
        stored = raw.execute("SELECT seq, type, payload FROM event WHERE attempt_id = ? ORDER BY seq",
                             (row["id"],)).fetchall()
        events = list(store.events(row["id"]))
        assert [(e.seq, e.type) for e in events] == [(seq, type_) for seq, type_, _ in stored]
        for event, (_, type_, payload) in zip(events, stored):
            assert type(event) is ev.CLASSES[type_]
            assert event.payload == json.loads(payload)  # every key read into a field, none lost
            assert not event.__pydantic_extra__  # ... and each one a declared field
            seen.add(type(event))
    raw.close()
    assert seen == set(ev.CLASSES.values()) - {ev.Patch}  # every type but patch (a swe run's) is in it
    solved = next(store.events(store.find_attempt("gm-l1-001")[0]))
    assert isinstance(solved, ev.AttemptStart) and solved.task_id == "gm-l1-001" and len(solved.trace_id) == 32
    store.close()


@pytest.mark.parametrize("name", OUTPUTS)
def test_every_reader_gives_the_old_codes_output_byte_for_byte(outputs, name):
    assert outputs[name] == (FIXTURE / "expected" / name).read_text(encoding="utf-8")
