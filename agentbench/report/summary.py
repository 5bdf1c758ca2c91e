"""summary.json: the run's metrics (agentbench.metrics) with its identity (run, suite, graph, model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentbench.metrics import client_load, environment_errors, limit_grading, per_task, summarize
from agentbench.protocols import AttemptRecord
from agentbench.store import RunStore

SUMMARY_NAME = "summary.json"


def build_summary(store: RunStore, attempts: list[AttemptRecord] | None = None) -> dict[str, Any]:
    config = store.meta("config") or {}
    identity = store.meta("model_identity") or {}
    attempts = store.attempts() if attempts is None else attempts
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
        "server_generation_tokens_per_s": (server_delta["generation_tokens"] / metrics.wall_clock_s
                                           if server_delta.get("generation_tokens") and metrics.wall_clock_s else None),
        "server_load": server_load(store.meta("server_metrics_samples") or []),
        "server_restarts": sum(1 for d in store.meta("server_restarts") or [] if d.get("restarted", True)),
        "client_load": _client_load(store),
        "per_task": [t.model_dump(mode="json") for t in per_task(attempts)],
        "setup_s": sum(part.get("setup_s", 0.0) for part in store.meta("phases") or []),
        "attempts_s": sum(part.get("attempts_s", 0.0) for part in store.meta("phases") or []),
        "errors": [{"task_id": a.task_id, "epoch": a.epoch, "reason": a.reason, "error": a.error}
                   for a in attempts if a.status == "error"],
        "agent_errors": [{"task_id": a.task_id, "epoch": a.epoch, "error": a.error}
                         for a in attempts if a.status == "failed" and a.reason == "agent_error"],
        "environment_errors": environment_errors(attempts),
        "limit_graded": limit_grading(attempts),
        "versions": store.meta("versions"),
    }


def _client_load(store: RunStore) -> dict[str, float] | None:
    load = client_load(store.spans(), store.spans("model_call"))
    return load.model_dump() if load else None


def server_load(samples: list[dict[str, float]]) -> dict[str, float] | None:
    """Mean and peak of the sampled server gauges (requests running / waiting, KV-cache usage)."""
    if not samples:
        return None
    out: dict[str, float] = {"samples": len(samples)}
    for key, name in (("requests_running", "running"), ("requests_waiting", "waiting"), ("kv_cache_usage", "kv_cache")):
        values = [s[key] for s in samples if key in s]
        if values:
            out[f"{name}_mean"] = sum(values) / len(values)
            out[f"{name}_peak"] = max(values)
    return out


def write_summary(run_dir: Path, store: RunStore, attempts: list[AttemptRecord] | None = None) -> dict[str, Any]:
    """Build summary.json and write it into `run_dir` (the SWE-bench exports are agentbench.export's); the
    summary as written, its secrets masked by the store's redactor (agentbench.redact)."""
    summary = store.redactor.value(build_summary(store, attempts))
    (Path(run_dir) / SUMMARY_NAME).write_text(json.dumps(summary, indent=2, default=str))
    return summary
