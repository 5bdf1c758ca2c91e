"""The pure parts of a Ray-placed model server: its spec on the node's IP, the actor's options."""

from agentbench.models.ray_server import actor_options, fits, placed_spec, uses_ray_backend
from agentbench.models.server import ServerSpec


def test_the_server_listens_on_the_nodes_ip():
    spec = ServerSpec(argv=["python", "-m", "vllm", "--host", "127.0.0.1", "--port", "{port}"])
    placed = placed_spec(spec, "10.0.0.7")
    assert placed.argv == ["python", "-m", "vllm", "--host", "10.0.0.7", "--port", "{port}"]
    assert placed.host == "10.0.0.7" and spec.host == "127.0.0.1"  # the original is untouched


def test_actor_options_map_gpus_memory_and_custom_resources():
    assert actor_options({"GPU": 4, "CPU": 8, "memory_mb": 1024, "model_node": 1}) == {
        "num_cpus": 8, "num_gpus": 4, "memory": 1024 * 1024 * 1024, "resources": {"model_node": 1},
        "max_restarts": 0, "max_concurrency": 8}
    assert actor_options({}) == {"num_cpus": 1, "max_restarts": 0, "max_concurrency": 8}


def test_a_server_fits_only_where_one_alive_node_offers_everything():
    nodes = [{"Alive": True, "Resources": {"CPU": 4, "GPU": 2, "memory": 8 * 2**30}},
             {"Alive": True, "Resources": {"CPU": 16}}, {"Alive": False, "Resources": {"CPU": 64, "GPU": 8}}]
    assert fits(nodes, {"CPU": 2, "GPU": 2, "memory_mb": 4096})
    assert fits(nodes, {"CPU": 16})
    assert not fits(nodes, {"CPU": 8, "GPU": 2})  # no one node has both
    assert not fits(nodes, {"GPU": 8})  # only the dead node


def test_the_ray_backend_is_read_from_the_argv():
    assert uses_ray_backend(["vllm", "--distributed-executor-backend", "ray"])
    assert uses_ray_backend(["vllm", "--distributed-executor-backend=ray"])
    assert not uses_ray_backend(["vllm", "--distributed-executor-backend", "mp"])
    assert not uses_ray_backend(["vllm", "--tensor-parallel-size", "4"])
