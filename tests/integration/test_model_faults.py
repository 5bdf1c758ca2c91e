"""Model-server faults through the whole runner: a fault-injecting OpenAI-compatible stub on loopback.
5xx and 429 are retried with backoff; a server that keeps failing makes the attempt `error` (never
`failed`) and the run goes on."""

from __future__ import annotations

from agentbench.config.loader import load_experiment
from agentbench.runner.runner import Runner
from agentbench.suites.registry import load_suite
from agentbench.testing.openai_stub import OpenAIStub

from .conftest import ROOT

IDS = ["gm-l1-001", "gm-l1-002"]


def answering_stub(faults: list[int]) -> OpenAIStub:
    _, tasks = load_suite("gaia-mini")
    answers = {t.prompt: t.expected.answer for t in tasks}

    def reply(messages: list[dict]) -> str:
        user = next(m["content"] for m in messages if m["role"] == "user")
        return f"FINAL ANSWER: {answers.get(user, 'unknown')}"

    return OpenAIStub(reply=reply, faults=faults)


def config(stub: OpenAIStub | None, retries: int, url: str | None = None):
    return load_experiment(ROOT / "experiments" / "demo.yaml", [
        "graph=tests/integration/graphs/one_shot.py:build_graph", "model.provider=openai",
        f"model.base_url={url or stub.base_url}", f"model.retries={retries}", "model.backoff_max_s=0.05",
        f"suite.ids=[{', '.join(IDS)}]", "run.concurrency=1", "sandbox.backend=local"])


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
