"""The main job end to end through the CLI: the embedded vLLM server started by agentbench, the
planning graph, the local sandbox, the run store. Assertions are on the stored traces."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from agentbench.store import RunStore

from .conftest import ROOT, run_cli

SECRET = "sk-planted-secret-0123456789abcdef"
SUMMARY_KEYS = {"run_id", "suite", "graph", "model", "attempts", "solved", "failed", "limit", "error",
                "completion_rate", "completion_ci95", "steps_per_solved", "tokens_total", "tokens_per_success",
                "wall_clock_s", "model_time_s", "sandbox_time_s", "overhead_s", "completion_tokens_per_s"}


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "embedded"
    run_cli("run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet",
            "--set", "suite.ids=[gm-l1-001, gm-l2-001, gm-l3-001]", "--set", "run.concurrency=3",
            "--set", "limits.max_steps=4", "--set", "model.max_tokens=128",
            "--set", "model.api_key_env=AGENTBENCH_TEST_KEY",
            env={"AGENTBENCH_TEST_KEY": SECRET, "OPENAI_API_KEY": SECRET})
    return out


def test_run_folder_and_summary(embedded_run):
    for name in ("run.sqlite", "config.yaml", "server.log", "summary.json"):
        assert (embedded_run / name).exists(), name
    summary = json.loads((embedded_run / "summary.json").read_text())
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["attempts"] == 3
    assert summary["solved"] + summary["failed"] + summary["limit"] + summary["error"] == 3
    assert summary["model_identity"]["server"] == "vllm" and summary["model_identity"]["server_version"]
    assert summary["model_identity"]["weights_hash"]
    assert "--enforce-eager" in summary["model_identity"]["engine_args"]
    load = summary["client_load"]  # 3 attempts at concurrency 3 overlap; each waits on the model part of the time
    assert 1.0 < load["attempts_in_flight_mean"] <= 3.0
    assert 0.0 < load["model_calls_in_flight_mean"] <= load["attempts_in_flight_mean"]


def test_statuses_valid_and_traces_ordered(embedded_run):
    store = RunStore.in_dir(embedded_run)
    rows = store.attempt_rows()
    assert len(rows) == 3
    for row in rows:
        assert row["status"] in {"solved", "failed", "limit", "error"}
        events = list(store.events(row["id"]))
        assert [e.seq for e in events] == list(range(len(events)))
        assert events[0].type == "attempt_start" and events[-1].type == "attempt_end"
        assert events[-1].payload["status"] == row["status"]
        types = [e.type for e in events]
        assert "model_call" in types, types
        opened: dict[str, int] = {}
        for e in events:
            assert e.t_end >= e.t_start
            if e.type == "node_start":
                opened[e.node] = opened.get(e.node, 0) + 1
            if e.type == "node_end":
                assert opened.get(e.node, 0) > 0, f"node_end {e.node} before its start"
                opened[e.node] -= 1
            if e.type == "model_call":
                p = e.payload
                assert p["prompt_tokens"] > 0 and p["completion_tokens"] > 0 and p["latency_s"] > 0
                assert p["messages"] and "content" in p["reply"]
                assert e.node is not None
            if e.type == "sandbox_exec":
                assert {"command", "exit_code", "duration_s", "stdout", "truncated"} <= e.payload.keys()
        if row["status"] in ("solved", "failed"):
            assert "score" in types and types.index("score") < len(types) - 1


def test_token_totals_equal_server_usage(embedded_run):
    store = RunStore.in_dir(embedded_run)
    traced_prompt = traced_completion = 0
    for row in store.attempt_rows():
        for e in store.events(row["id"]):
            if e.type == "model_call":
                traced_prompt += e.payload["prompt_tokens"]
                traced_completion += e.payload["completion_tokens"]
    server = store.meta("server_metrics")[-1]["delta"]
    assert traced_prompt == int(server["prompt_tokens"])
    assert traced_completion == int(server["generation_tokens"])
    summary = json.loads((embedded_run / "summary.json").read_text())
    assert summary["tokens_total"] == traced_prompt + traced_completion


def test_secret_reaches_no_file(embedded_run):
    config = (embedded_run / "config.yaml").read_text()
    assert "AGENTBENCH_TEST_KEY" in config  # the variable's name is recorded ...
    for path in embedded_run.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"secret found in {path}"
    db = sqlite3.connect(embedded_run / "run.sqlite")  # ... and not inside any stored text either
    for (payload,) in db.execute("SELECT payload FROM event"):
        assert SECRET not in payload


def test_report_and_show(embedded_run):
    out = run_cli("report", str(embedded_run)).stdout
    assert "completion" in out and "gm-l1-001" in out
    shown = run_cli("show", str(embedded_run), "gm-l2-001").stdout
    assert "model" in shown and "attempt" in shown
