"""Model-server faults through the whole runner: a fault-injecting OpenAI-compatible stub on loopback.
5xx and 429 are retried with backoff; a server that keeps failing makes the attempt `error` (never
`failed`) and the run goes on. A call the time budget cuts off is model time in the trace; a bug in the
graph's own code is the agent's `failed` (agent_error); a refused key (401) stops the run at once."""

from __future__ import annotations

import pytest

from agentbench.config.loader import load_experiment
from agentbench.runner.errors import RunError
from agentbench.runner.runner import Runner
from agentbench.store import RunStore
from agentbench.suites.loader import load_suite
from agentbench.testing.openai_stub import OpenAIStub

from .conftest import ROOT
from .fault_doubles import FaultStub, answering

IDS = ["gm-l1-001", "gm-l1-002"]


def answering_stub(faults: list[int]) -> OpenAIStub:
    _, tasks = load_suite("gaia-mini")
    answers = {t.prompt: t.expected.answer for t in tasks}

    def reply(messages: list[dict]) -> str:
        user = next(m["content"] for m in messages if m["role"] == "user")
        return f"FINAL ANSWER: {answers.get(user, 'unknown')}"

    return OpenAIStub(reply=reply, faults=faults)


def config(stub: OpenAIStub | None, retries: int, url: str | None = None, *extra: str):
    return load_experiment(ROOT / "experiments" / "demo.yaml", [
        "graph=tests/integration/graphs/one_shot.py:build_graph", "model.provider=openai",
        f"model.base_url={url or stub.base_url}", f"model.retries={retries}", "model.backoff_max_s=0.05",
        f"suite.ids=[{', '.join(IDS)}]", "run.concurrency=1", "sandbox.backend=local", *extra])


async def run_against(stub: OpenAIStub, retries: int, run_dir):
    await stub.start()
    try:
        return await Runner(config(stub, retries=retries), run_dir, base_dir=ROOT).run()
    finally:
        await stub.stop()


async def test_transient_faults_are_retried_and_traced(tmp_path):
    stub = answering_stub([500, 503, 429])
    store = await run_against(stub, 4, tmp_path / "run")
    attempts = {a.task_id: a for a in store.attempts()}
    assert [attempts[i].status for i in IDS] == ["solved", "solved"]
    rows = {r["task_id"]: r["id"] for r in store.attempt_rows()}
    retries = [e for e in store.events(rows[IDS[0]]) if e.type == "retry"]
    assert [r.payload["reason"] for r in retries] == ["HTTP 500", "HTTP 503", "HTTP 429"]
    assert stub.requests == 5


async def test_persistent_faults_are_errors_and_the_run_goes_on(tmp_path):
    stub = answering_stub([500, 500, 500])
    store = await run_against(stub, 2, tmp_path / "run")
    attempts = {a.task_id: a for a in store.attempts()}
    assert attempts[IDS[0]].status == "error" and "500" in attempts[IDS[0]].error
    assert attempts[IDS[1]].status == "solved"


async def test_unreachable_server_is_error_not_failed(tmp_path):
    store = await Runner(config(None, retries=1, url="http://127.0.0.1:9/v1"), tmp_path / "run", base_dir=ROOT).run()
    assert {a.status for a in store.attempts()} == {"error"}
    assert all("Connection" in (a.error or "") for a in store.attempts())


async def test_context_overflow_is_a_token_limit_not_an_error(tmp_path):
    overflow = (400, "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.")
    stub = answering_stub([overflow])
    store = await run_against(stub, 2, tmp_path / "run")
    attempts = {a.task_id: a for a in store.attempts()}
    assert attempts[IDS[0]].status == "limit" and "context" in attempts[IDS[0]].error
    assert attempts[IDS[1]].status == "solved"
    assert stub.requests == 2  # a 400 is not retried


async def test_other_client_errors_are_errors(tmp_path):
    stub = answering_stub([(400, "unknown parameter: foo")])
    store = await run_against(stub, 2, tmp_path / "run")
    assert {a.task_id: a.status for a in store.attempts()} == {IDS[0]: "error", IDS[1]: "solved"}


async def test_each_attempt_samples_with_its_own_seed(tmp_path):
    stub = answering_stub([])
    await stub.start()
    try:
        cfg = config(stub, retries=0).model_copy(update={"run": config(stub, 0).run.model_copy(update={"epochs": 2})})
        store = await Runner(cfg, tmp_path / "run", base_dir=ROOT).run()
    finally:
        await stub.stop()
    assert len(store.attempts()) == 4
    assert len(stub.seeds) == 4 and len(set(stub.seeds)) == 4 and None not in stub.seeds


def trace(store: RunStore, task_id: str) -> list:
    rows = {r["task_id"]: r["id"] for r in store.attempt_rows()}
    return list(store.events(rows[task_id]))


async def test_a_call_stalled_until_the_time_limit_is_model_time_not_overhead(tmp_path):
    stub = FaultStub(stall_all=True)  # a stream that sends one chunk, then nothing
    await stub.start()
    try:
        cfg = config(stub, 0, None, "limits.timeout_s=3", "model.timeout_s=60", f"suite.ids=[{IDS[0]}]")
        store = await Runner(cfg, tmp_path / "run", base_dir=ROOT).run()
    finally:
        await stub.stop()
    (record,) = store.attempts()
    assert (record.status, record.reason) == ("limit", "time")
    totals = record.totals
    assert totals.model_time_s >= 2.5 and totals.model_time_s == pytest.approx(3.0, abs=0.5)
    assert totals.overhead_s < 0.5, totals  # not "framework overhead"
    assert totals.model_calls == 0  # a cut-off call is not a completed step
    (cut,) = [e for e in trace(store, IDS[0]) if e.type == "model_call"]
    assert cut.payload["cancelled"] is True and cut.payload["completion_tokens"] == 0
    assert cut.t_end - cut.t_start == pytest.approx(totals.model_time_s)
    store.close()


async def test_a_stalled_stream_is_cut_by_the_request_timeout_and_is_an_error(tmp_path):
    stub = FaultStub(reply=answering, stall=1)  # the first request stalls, the rest answer
    await stub.start()
    try:
        cfg = config(stub, 2, None, "model.timeout_s=1", "limits.timeout_s=60")
        store = await Runner(cfg, tmp_path / "run", base_dir=ROOT).run()
    finally:
        await stub.stop()
    attempts = {a.task_id: a for a in store.attempts()}
    assert (attempts[IDS[0]].status, attempts[IDS[0]].reason) == ("error", "model")
    assert "Timeout" in attempts[IDS[0]].error
    assert attempts[IDS[1]].status == "solved"
    assert 0.9 < attempts[IDS[0]].totals.model_time_s < 5
    store.close()


async def test_a_bug_in_the_graph_is_the_agents_failed_not_an_error(tmp_path):
    stub = FaultStub(reply=answering)
    await stub.start()
    try:
        cfg = config(stub, 0, None, "graph=tests/integration/graphs/agent_bug.py:build_graph")
        store = await Runner(cfg, tmp_path / "run", base_dir=ROOT).run()
    finally:
        await stub.stop()
    for record in store.attempts():
        assert (record.status, record.reason) == ("failed", "agent_error"), record
        assert record.error.startswith("agent error: KeyError") and record.totals.model_calls == 1
    (error,) = [e for e in trace(store, IDS[0]) if e.type == "error"]
    assert error.payload["source"] == "agent" and "agent_bug.py" in error.payload["traceback"]
    assert 'state["plan"]' in error.payload["traceback"]
    store.close()


async def test_a_refused_key_stops_the_run_before_any_attempt(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTBENCH_TEST_KEY", "wrong")
    stub = FaultStub(reply=answering, key="right")
    await stub.start()
    try:
        cfg = config(stub, 3, None, "model.api_key_env=AGENTBENCH_TEST_KEY")
        with pytest.raises(RunError) as err:
            await Runner(cfg, tmp_path / "run", base_dir=ROOT).run()
    finally:
        await stub.stop()
    assert stub.base_url in str(err.value) and "model.api_key_env is AGENTBENCH_TEST_KEY" in str(err.value)
    assert "401" in str(err.value) and "wrong" not in str(err.value)  # never the key itself
    assert stub.models_requests == 1 and stub.chat_requests == 0
    store = RunStore.in_dir(tmp_path / "run")
    assert store.all_tries() == []
    store.close()


async def test_a_key_revoked_mid_run_stops_the_run_instead_of_erroring_every_attempt(tmp_path):
    stub = FaultStub(reply=answering, refuse_after=1)
    await stub.start()
    ids = ["gm-l1-001", "gm-l1-002", "gm-l1-003", "gm-l2-001"]
    try:
        cfg = config(stub, 3, None, f"suite.ids=[{', '.join(ids)}]")
        with pytest.raises(RunError, match=r"refused the request .*401.*model.api_key_env is not set"):
            await Runner(cfg, tmp_path / "run", base_dir=ROOT).run()
    finally:
        await stub.stop()
    store = RunStore.in_dir(tmp_path / "run")
    statuses = [(a.task_id, a.status, a.reason) for a in store.attempts()]
    assert statuses == [(ids[0], "solved", None), (ids[1], "error", "auth")]  # the rest never started
    assert stub.chat_requests == 2  # a 401 is not retried
    store.close()
