import json

from agentbench.events import AttemptStart, ErrorEvent, ModelCall, NodeEnd, SandboxExec
from agentbench.protocols import AttemptRecord, AttemptTotals, Usage
from agentbench.store import RunStore


def rec(task, epoch, status, tokens=10):
    return AttemptRecord(task_id=task, epoch=epoch, status=status,
                         totals=AttemptTotals(usage=Usage(prompt_tokens=tokens, completion_tokens=1)))


def ev(seq, type_="model_call"):
    at = {"seq": seq, "t_start": 1.0 + seq, "t_end": 1.5 + seq}
    if type_ == "model_call":
        return ModelCall(**at, node="act", span_id=f"{seq:016x}")
    return SandboxExec(**at, command=f"echo {seq}", exit_code=seq)


def test_typed_events_round_trip_with_the_fields_they_were_given(tmp_path):
    store = RunStore.in_dir(tmp_path)
    events = [ev(0), ev(1, "sandbox_exec"), NodeEnd(seq=2, t_start=0.5, t_end=3.0, node="act", cancelled=True)]
    aid = store.add_attempt(rec("a", 0, "solved"), events, 1.0, 3.0)
    back = list(store.events(aid))
    assert back == events and [type(e) for e in back] == [ModelCall, SandboxExec, NodeEnd]
    assert back[1].command == "echo 1" and back[1].exit_code == 1 and back[2].cancelled is True
    stored = [json.loads(p) for (p,) in store._db.execute("SELECT payload FROM event ORDER BY seq")]
    assert stored == [{"span_id": "0000000000000000"}, {"command": "echo 1", "exit_code": 1}, {"cancelled": True}]


def test_rows_of_older_versions_read_with_defaults_extras_and_the_renamed_worker(tmp_path):
    store = RunStore.in_dir(tmp_path)
    aid = store.add_attempt(rec("a", 0, "error"), [AttemptStart(seq=0, t_start=1.0, t_end=1.0)], 1.0, 2.0)
    rows = [(1, "model_call", "act", '{"prompt_tokens": 3, "from_the_future": [1]}'),
            (2, "error", None, '{"source": "infra", "reason": "node_lost", "error": "gone", "node": "10.0.0.7"}')]
    store._db.executemany("INSERT INTO event VALUES (?, ?, ?, ?, 1.0, 2.0, ?)",
                          [(aid, seq, type_, node, payload) for seq, type_, node, payload in rows])
    start, call, lost = store.events(aid)
    assert isinstance(call, ModelCall) and call.prompt_tokens == 3 and call.messages == [] and call.reply is None
    assert call.payload == {"prompt_tokens": 3, "from_the_future": [1]}  # an unknown key is kept, not an error
    assert isinstance(lost, ErrorEvent) and (lost.node, lost.worker, lost.source) == (None, "10.0.0.7", "infra")


def test_attempts_and_events_round_trip(tmp_path):
    store = RunStore.in_dir(tmp_path)
    aid = store.add_attempt(rec("a", 0, "solved"), [ev(0), ev(1, "sandbox_exec")], 1.0, 2.0)
    assert [e.seq for e in store.events(aid)] == [0, 1]
    assert list(store.events(aid))[1].type == "sandbox_exec"
    assert store.attempts()[0].status == "solved"
    store.set_meta("config", {"x": 1})
    assert store.meta("config") == {"x": 1} and store.meta("missing", 5) == 5
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_error_tries_are_kept_but_latest_wins(tmp_path):
    store = RunStore.in_dir(tmp_path)
    store.add_attempt(rec("a", 0, "error"), [], 0, 1)
    store.add_attempt(rec("b", 0, "failed"), [], 0, 1)
    assert store.finished_keys() == {("b", 0)}
    store.add_attempt(rec("a", 0, "solved"), [], 1, 2)
    assert store.finished_keys() == {("a", 0), ("b", 0)}
    assert [(a.task_id, a.status) for a in store.attempts()] == [("a", "solved"), ("b", "failed")]
    assert [t[:3] for t in store.all_tries()] == [("a", 0, 0), ("b", 0, 0), ("a", 0, 1)]


def test_failed_write_leaves_nothing(tmp_path):
    store = RunStore.in_dir(tmp_path)
    bad = [ev(0), ev(0)]  # duplicate (attempt, seq) violates the primary key
    try:
        store.add_attempt(rec("a", 0, "solved"), bad, 0, 1)
    except Exception:
        pass
    assert store.attempts() == [] and store._db.execute("SELECT COUNT(*) FROM event").fetchone()[0] == 0


def test_reopen_sees_data(tmp_path):
    RunStore.in_dir(tmp_path).add_attempt(rec("a", 0, "limit"), [ev(0)], 0, 1)
    again = RunStore.in_dir(tmp_path)
    assert again.attempts()[0].status == "limit"


def test_spans_come_from_the_newest_tries_only(tmp_path):
    store = RunStore.in_dir(tmp_path)
    store.add_attempt(rec("a", 0, "error"), [ev(0)], 0.0, 1.0)  # superseded by the retry below
    store.add_attempt(rec("a", 0, "solved"), [ev(5), ev(6, "sandbox_exec")], 5.0, 8.0)
    store.add_attempt(rec("b", 0, "failed"), [ev(2)], 2.0, 4.0)
    assert sorted(store.spans()) == [(2.0, 4.0), (5.0, 8.0)]
    assert sorted(store.spans("model_call")) == [(3.0, 3.5), (6.0, 6.5)]
    assert store.spans("sandbox_exec") == [(7.0, 7.5)]
