"""A graph that binds tools against a server that parses no tool calls: the first refusal stops the run.

The server is an OpenAI-compatible stub on loopback that answers every chat request carrying `tools` as vLLM
does when started without `--enable-auto-tool-choice --tool-call-parser` (HTTP 400 and vLLM's text), and
requests without tools normally. The real runner, our `react` graph (bind_tools), the local sandbox."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentbench.config.loader import load_experiment
from agentbench.runner.errors import RunError
from agentbench.runner.runner import Runner
from agentbench.store import RunStore
from agentbench.testing.openai_stub import OpenAIStub

from .conftest import ROOT

VLLM_REFUSAL = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
IDS = ["gm-l1-001", "gm-l1-002", "gm-l1-003", "gm-l2-001"]


class NoToolParserStub(OpenAIStub):
    """Answers a chat request with `tools` (tool_choice absent or auto) with vLLM's 400; counts them."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def _respond(self, writer: asyncio.StreamWriter, method: str, path: str, body: bytes) -> None:
        if path.endswith("/chat/completions"):
            req = json.loads(body)
            if req.get("tools") and req.get("tool_choice", "auto") == "auto":
                self.requests += 1
                self.refused += 1
                error = {"error": {"message": VLLM_REFUSAL, "type": "BadRequestError", "param": None, "code": 400}}
                return self._send(writer, 400, json.dumps(error).encode())
        return await super()._respond(writer, method, path, body)


async def run(stub: NoToolParserStub, run_dir, graph: str, concurrency: int = 1):
    cfg = load_experiment(ROOT / "experiments" / "demo.yaml", [
        f"graph={graph}", "model.provider=openai", f"model.base_url={stub.base_url}", "model.retries=3",
        "model.backoff_max_s=0.05", f"suite.ids=[{', '.join(IDS)}]", f"run.concurrency={concurrency}",
        "sandbox.backend=local"])
    return await Runner(cfg, run_dir, base_dir=ROOT).run()


async def test_the_first_refused_tool_call_stops_the_run_with_one_message(tmp_path):
    stub = NoToolParserStub()
    await stub.start()
    try:
        with pytest.raises(RunError) as err:
            await run(stub, tmp_path / "run", "react")
    finally:
        await stub.stop()
    message = str(err.value)
    assert "refused the tool call" in message and VLLM_REFUSAL in message
    assert stub.base_url in message and "--enable-auto-tool-choice --tool-call-parser" in message
    assert stub.refused == 1 and stub.requests == 1  # a 400 is not retried; no later attempt started
    store = RunStore.in_dir(tmp_path / "run")
    try:
        (attempt,) = store.attempts()
        assert (attempt.task_id, attempt.status, attempt.reason) == (IDS[0], "error", "tool_calls")
        assert VLLM_REFUSAL in attempt.error
    finally:
        store.close()


async def test_concurrent_attempts_stop_with_the_same_single_message(tmp_path):
    """Attempts already in flight when the first refusal lands end as they end; none starts after it, and
    the run still stops with one message, not one per attempt."""
    stub = NoToolParserStub()
    await stub.start()
    try:
        with pytest.raises(RunError) as err:
            await run(stub, tmp_path / "run", "react", concurrency=2)
    finally:
        await stub.stop()
    assert str(err.value).count("refused the tool call") == 1
    store = RunStore.in_dir(tmp_path / "run")
    try:
        statuses = {(a.status, a.reason) for a in store.attempts()}
        assert statuses == {("error", "tool_calls")} and 1 <= len(store.attempts()) <= 2 < len(IDS)
    finally:
        store.close()


async def test_a_graph_without_tools_runs_on_the_same_server(tmp_path):
    stub = NoToolParserStub()
    await stub.start()
    try:
        store = await run(stub, tmp_path / "run", "tests/integration/graphs/one_shot.py:build_graph")
    finally:
        await stub.stop()
    assert [a.status for a in store.attempts()] != [] and stub.refused == 0
    assert all(a.reason != "tool_calls" for a in store.attempts())
    store.close()
