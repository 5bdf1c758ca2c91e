"""The run's chat model, built where attempts run from serialisable `ChatSettings`: one retrying HTTP client
per run, a shallow copy of the model per attempt (its seed), each transport retry a `retry` event of the
attempt running it."""

from __future__ import annotations

import time
from typing import Any, Callable

import httpx

from agentbench.config.schema import ExperimentConfig
from agentbench.models.client import ChatSettings, RetryInfo, RetryPolicy, build_chat_model, retrying_client
from agentbench.runner.episode import current_tracer
from agentbench.tracing.tracer import trace_headers


def record_retry(info: RetryInfo) -> None:
    """A model request retried by the transport becomes a `retry` event of the attempt running it."""
    tracer = current_tracer.get()
    if tracer is not None:
        tracer.record("retry", time.time(), attempt=info.attempt, reason=info.reason, wait_s=info.wait_s)


def model_maker(chat: ChatSettings | None, cfg: ExperimentConfig
                ) -> tuple[Callable[[int], Any], httpx.AsyncClient | None]:
    """(seed -> the run's chat model with that seed, the HTTP client to close at the end); a graph without a
    model gets None. A shallow copy per attempt shares the HTTP clients and keeps the type (bind_tools
    works), at a fraction of building a new ChatOpenAI. Call it inside the event loop that runs attempts."""
    if chat is None:
        return (lambda seed: None), None
    policy = RetryPolicy(retries=cfg.model.retries, backoff_max_s=cfg.model.backoff_max_s)
    http = retrying_client(policy, cfg.model.timeout_s, on_retry=record_retry,
                           headers=trace_headers if cfg.tracing.otlp_endpoint else None)
    base = build_chat_model(chat, policy, http_client=http)
    return (lambda seed: base.model_copy(update={"seed": seed})), http
