"""The exports of a run with a real model (the embedded vLLM server, the planning graph, the local
sandbox, 2 epochs): the Inspect samples carry the real conversation, prompt and token counts of the store,
and the Parquet events the per-call tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from inspect_ai.log import read_eval_log

from agentbench.store import RunStore
from agentbench.suites.loader import load_suite

from .conftest import ROOT, run_cli

IDS = ["gm-l1-001", "gm-l2-001"]


@pytest.fixture(scope="module")
def model_run(tmp_path_factory, embedded_url) -> Path:
    out = tmp_path_factory.mktemp("export-model") / "run"
    run_cli("run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet",
            "--set", "model.provider=openai", "--set", f"model.base_url={embedded_url}",
            "--set", f"suite.ids=[{', '.join(IDS)}]", "--set", "sandbox.backend=local", "--set", "run.epochs=2",
            "--set", "limits.max_steps=3", "--set", "run.concurrency=4",
            "--set", "model.max_tokens=128")
    return out


def test_inspect_samples_carry_the_conversation_and_tokens(model_run):
    proc = run_cli("export", "inspect", str(model_run))
    path = Path(proc.stdout.strip().split(": ", 1)[1])
    log = read_eval_log(str(path), resolve_attachments=True)
    store = RunStore.in_dir(model_run)
    identity = store.meta("model_identity")
    assert log.eval.model == f"openai/{identity['served_model_name']}"
    prompts = {t.id: t.prompt for t in load_suite("gaia-mini")[1] if t.id in IDS}
    summary = json.loads((model_run / "summary.json").read_text())
    assert len(log.samples) == 4 and {s.epoch for s in log.samples} == {1, 2}
    for s in log.samples:
        attempt_id, record = store.find_attempt(s.id, s.epoch - 1)
        events = list(store.events(attempt_id))
        calls = [e for e in events if e.type == "model_call"]
        assert s.input == prompts[s.id]  # the prompt the runner gave the graph, found in the first call
        (usage,) = s.model_usage.values()
        assert (usage.input_tokens, usage.output_tokens) == (record.totals.usage.prompt_tokens,
                                                             record.totals.usage.completion_tokens) != (0, 0)
        model_events = [e for e in s.events if e.event == "model"]
        assert len(model_events) == len(calls)
        assert [(e.output.usage.input_tokens, e.output.usage.output_tokens) for e in model_events] == [
            (c.payload["prompt_tokens"], c.payload["completion_tokens"]) for c in calls]
        assert [len(e.input) for e in model_events] == [len(c.payload["messages"]) for c in calls]
        last = calls[-1].payload
        assert [m.text for m in s.messages[:len(last["messages"])]] == [m["content"] for m in last["messages"]]
        if last.get("reply"):
            assert s.messages[-1].role == "assistant" and s.messages[-1].text == last["reply"]["content"]
            assert s.output.completion == last["reply"]["content"]
        assert s.scores["agentbench"].value == ("C" if record.status == "solved" else "I")
        assert s.scores["agentbench"].answer == record.answer
    accuracy = log.results.scores[0].metrics["accuracy"].value
    assert accuracy == pytest.approx(summary["completion_rate"])
    assert sum(u.total_tokens for u in log.stats.model_usage.values()) == summary["tokens_total"] > 0


def test_parquet_events_carry_the_per_call_tokens(model_run):
    run_cli("export", "parquet", str(model_run))
    attempts = pq.read_table(model_run / "exports" / "parquet" / "attempts.parquet").to_pylist()
    columns = ["attempt_id", "type", "prompt_tokens", "completion_tokens", "latency_s"]
    events = pq.read_table(model_run / "exports" / "parquet" / "events.parquet", columns=columns).to_pylist()
    identity = RunStore.in_dir(model_run).meta("model_identity")
    for a in attempts:
        calls = [e for e in events if e["attempt_id"] == a["attempt_id"] and e["type"] == "model_call"]
        assert len(calls) >= a["steps"] > 0 and all(e["latency_s"] > 0 for e in calls)
        assert sum(e["prompt_tokens"] for e in calls) == a["prompt_tokens"]
        assert sum(e["completion_tokens"] for e in calls) == a["completion_tokens"]
        assert a["model"] == identity["served_model_name"] and a["model_provider"] == "openai"
