"""Which sweep cells can share a model server (`server_key`, `server_groups`: pure over configs), and how
cells are named by their values (`short_keys`, `cell_label`)."""

from __future__ import annotations

import pytest

from agentbench.analysis.sweep import cell_label, server_groups, server_key, short_keys
from agentbench.config.loader import load_experiment

BASE = ["model.provider=embedded", "suite.name=gaia-mini"]


def cfg(*sets: str):
    return load_experiment(None, [*BASE, *sets])


CLIENT_SIDE = [  # sampling, graph, limits, suite filters, run settings: the same server serves them all
    "model.temperature=0.7", "model.top_p=0.9", "model.max_tokens=64", "model.timeout_s=5", "model.retries=0",
    "model.backoff_max_s=1", "model.streaming=false", "graph=react", "graph_params.plan=false",
    "limits.max_steps=2", "limits.max_tokens=100", "limits.timeout_s=10", "suite.limit=3", "suite.ids=[gm-l1-001]",
    "suite.levels=[2]", "run.concurrency=2", "run.epochs=3", "run.seed=7", "run.executor=ray",
    "run.ray.address=10.0.0.1:6379", "sandbox.backend=local", "tracing.export_content=true", "name=other",
]
SERVER_SIDE = [  # what the managed server is started with
    "model.name=other-model", "model.provider=vllm", "model.base_url=http://127.0.0.1:9/v1", "model.api_key_env=KEY",
    "model.server.max_model_len=2048", "model.server.dtype=float32", "model.server.extra_args=[--seed, '1']",
    "model.server.tool_call_parser=hermes", "model.server.env={A: b}", "model.server.port=8123",
    "model.server.model_path=/weights", "model.server.max_restarts=0",
    "tracing.otlp_endpoint=http://127.0.0.1:6006", "model.server.placement=ray",
]


@pytest.mark.parametrize("change", CLIENT_SIDE)
def test_client_side_settings_share_the_server(change):
    assert server_key(cfg(change)) == server_key(cfg())


@pytest.mark.parametrize("change", SERVER_SIDE)
def test_server_settings_start_another(change):
    assert server_key(cfg(change)) != server_key(cfg())


def test_an_api_endpoint_has_no_server_settings():
    api = ["model.provider=openai", "model.base_url=http://127.0.0.1:9/v1"]
    assert server_key(cfg(*api, "model.server.max_model_len=2048", "tracing.otlp_endpoint=http://h:4318")) == \
        server_key(cfg(*api))
    assert server_key(cfg(*api, "model.base_url=http://127.0.0.1:10/v1")) != server_key(cfg(*api))


def test_the_cluster_matters_only_to_a_server_placed_on_it():
    ray = "model.server.placement=ray"
    assert server_key(cfg(ray, "run.ray.address=10.0.0.1:6379")) != server_key(cfg(ray))
    assert server_key(cfg("run.ray.address=10.0.0.1:6379")) == server_key(cfg())


def test_groups_in_order_of_first_appearance():
    configs = [cfg("model.temperature=0.0", "model.server.max_model_len=1024"),
               cfg("model.temperature=0.0", "model.server.max_model_len=2048"),
               cfg("model.temperature=0.7", "model.server.max_model_len=1024"),
               cfg("model.temperature=0.7", "model.server.max_model_len=2048"),
               cfg("graph=oracle", "model.server.max_model_len=1024")]
    assert server_groups(configs) == [[0, 2, 4], [1, 3]]
    assert server_groups([cfg(f"model.temperature={t}") for t in (0.0, 0.3, 0.7)]) == [[0, 1, 2]]
    assert server_groups([]) == []


def test_short_keys_are_the_shortest_tails_no_other_key_shares():
    assert short_keys(["model.temperature", "graph"]) == {"model.temperature": "temperature", "graph": "graph"}
    assert short_keys(["model.name", "suite.name"]) == {"model.name": "model.name", "suite.name": "suite.name"}
    assert short_keys(["model.server.max_model_len", "model.max_tokens"]) == {
        "model.server.max_model_len": "max_model_len", "model.max_tokens": "max_tokens"}
    assert short_keys(["a.b.c", "x.b.c", "c.d"]) == {"a.b.c": "a.b.c", "x.b.c": "x.b.c", "c.d": "d"}
    assert short_keys(["name", "model.name"]) == {"name": "name", "model.name": "model.name"}


def test_a_cell_is_named_by_its_values():
    assert cell_label({"model.temperature": "0.7", "graph": "react"}) == "temperature=0.7 · graph=react"
    short = short_keys(["model.name", "suite.name"])
    assert cell_label({"model.name": "a", "suite.name": "b"}, short) == "model.name=a · suite.name=b"
