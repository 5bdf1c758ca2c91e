"""summary.json: the run's metrics (agentbench.metrics) with its identity (run, suite, graph, model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentbench.metrics import per_task, summarize
from agentbench.store import RunStore

SUMMARY_NAME = "summary.json"


def build_summary(store: RunStore) -> dict[str, Any]:
    config = store.meta("config") or {}
    identity = store.meta("model_identity") or {}
    attempts = store.attempts()
    metrics = summarize(attempts, run_wall_clock_s=store.meta("wall_clock_s", 0.0))
    server = store.meta("server_metrics") or []
    server_delta: dict[str, float] = {}
    for part in server:
        for key, value in part.get("delta", {}).items():
            server_delta[key] = server_delta.get(key, 0.0) + value
    return {
        "run_id": store.meta("run_id"),
        "suite": (store.meta("suite") or {}).get("name"),
        "graph": config.get("graph"),
        "model": identity.get("served_model_name") or (config.get("model") or {}).get("name"),
        "model_identity": identity,
        **metrics.model_dump(mode="json"),
        "server_metrics": server_delta or None,
        "per_task": [t.model_dump(mode="json") for t in per_task(attempts)],
        "errors": [{"task_id": a.task_id, "epoch": a.epoch, "error": a.error} for a in attempts if a.status == "error"],
        "versions": store.meta("versions"),
    }


def write_summary(run_dir: Path, store: RunStore) -> dict[str, Any]:
    summary = build_summary(store)
    (Path(run_dir) / SUMMARY_NAME).write_text(json.dumps(summary, indent=2, default=str))
    return summary
