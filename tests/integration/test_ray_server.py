"""The embedded vLLM placed by `model.server.placement: ray` on the worker node of a real two-node Ray
cluster (head without the resource, worker with it): it serves there, the supervisor samples its /metrics
from the driver and restarts it there when its process is killed."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest

from agentbench.config.schema import ModelConfig
from agentbench.models import embedded
from agentbench.models.ray_server import RayServer
from agentbench.models.supervisor import ServerSupervisor


@pytest.fixture(scope="module")
def two_nodes():
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1, resources={"model_node": 1})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster, worker
    ray.shutdown()
    cluster.shutdown()


async def _chat(base_url: str) -> str:
    async with httpx.AsyncClient(timeout=120) as client:
        resp = await client.post(base_url + "/chat/completions", json={
            "model": ModelConfig().name, "max_tokens": 4, "temperature": 0,
            "messages": [{"role": "user", "content": "Say hi."}]})
        resp.raise_for_status()
        return resp.json()["choices"][0]["message"]["content"]


async def test_a_server_on_the_worker_node_is_sampled_and_restarted_from_the_driver(two_nodes, tmp_path):
    cluster, worker = two_nodes
    if not embedded.is_ready():
        pytest.fail("the embedded model is not set up: run `make setup` (agentbench model setup)")
    cfg = ModelConfig()
    spec = embedded.vllm_server_spec(cfg, embedded.venv_python(), str(embedded.model_dir()))
    server = RayServer(spec, tmp_path / "server.log", resources={"CPU": 1, "model_node": 1})
    async with server:
        assert server.node["node_id"] == worker.node_id  # Ray placed it where the resource is
        assert await _chat(server.base_url)
        notes: list[str] = []
        sup = ServerSupervisor(server.root_url, server, interval_s=0.5, max_restarts=1, note=notes.append)
        await sup.start()
        assert sup.sampling  # vLLM's /metrics, scraped over the network from the driver
        done = asyncio.Event()
        watch = asyncio.create_task(sup.watch(done))
        old = await server.pid()
        os.killpg(old, signal.SIGKILL)  # the server's process group, on the worker node
        await asyncio.wait_for(_until(lambda: not sup.up.is_set()), 10)
        await asyncio.wait_for(sup.up.wait(), 600)
        new = await server.pid()
        assert new is not None and new != old
        assert await _chat(server.base_url)  # the same URL serves again
        done.set()
        await asyncio.wait_for(watch, 30)
        await sup.finish()
    assert [d["restarted"] for d in sup.deaths] == [True] and sup.deaths[0]["exit_code"] == -signal.SIGKILL
    assert "vllm" in sup.deaths[0]["log_tail"].lower() or sup.deaths[0]["log_tail"]  # read through the actor
    assert sup.segments and sup.samples


async def test_no_node_with_the_resources_is_a_clear_error(two_nodes, tmp_path):
    from agentbench.models.server import ServerSpec, ServerStartError

    spec = ServerSpec(argv=["python3", "-m", "http.server", "{port}"], health_path="/", startup_timeout_s=5)
    server = RayServer(spec, tmp_path / "server.log", resources={"CPU": 1, "GPU": 8})
    with pytest.raises(ServerStartError, match="ray_resources"):
        await asyncio.wait_for(server.start(), 60)
    await server.aclose()


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.05)
