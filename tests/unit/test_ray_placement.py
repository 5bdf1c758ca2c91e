"""The Ray executor's pure parts: the `run.executor` / `run.ray` config, what one attempt holds, room per
node, how workers spread, which failures are losses, when a lost attempt is placed again, the lost try's
record, and the executor chosen by name. No cluster: the integration lane runs one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import ray.exceptions

from agentbench.config.loader import ConfigError, load_experiment
from agentbench.config.schema import ExperimentConfig
from agentbench.protocols import Task
from agentbench.runner.executors import make_executor
from agentbench.runner.executors.base import ExecContext, lost_attempt
from agentbench.runner.executors.placement import (MIB, Slots, actor_options, attempt_resources, describe_nodes,
                                                   is_loss, node_slots, place_again, spread)


def cfg(**run) -> ExperimentConfig:
    sandbox = run.pop("sandbox", {})
    return ExperimentConfig.model_validate({"run": run, "sandbox": sandbox})


def test_the_executor_is_local_unless_named(tmp_path):
    assert ExperimentConfig().run.executor == "local" and ExperimentConfig().run.ray.address is None
    path = tmp_path / "exp.yaml"
    path.write_text("run:\n  executor: ray\n  ray:\n    address: 10.0.0.1:6379\n    num_cpus: 0.5\n"
                    "    memory_mb: 2048\n    resources: {docker: 1, big_disk: 1}\n    max_node_retries: 1\n")
    loaded = load_experiment(path)
    assert loaded.run.executor == "ray" and loaded.run.ray.address == "10.0.0.1:6379"
    assert loaded.run.ray.resources == {"docker": 1, "big_disk": 1} and loaded.run.ray.max_node_retries == 1


@pytest.mark.parametrize("text, key", [("run:\n  executor: dask\n", "run.executor"),
                                       ("run:\n  ray:\n    resources: {CPU: 2}\n", "run.ray.resources"),
                                       ("run:\n  ray:\n    adress: x\n", "run.ray.adress"),
                                       ("run:\n  ray:\n    num_cpus: -1\n", "run.ray.num_cpus")])
def test_bad_ray_settings_name_the_file_and_key(tmp_path, text, key):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert str(path) in str(err.value) and key in str(err.value)


def test_an_attempt_holds_a_cpu_and_docker_unless_the_sandbox_is_local():
    assert attempt_resources(cfg()) == {"CPU": 1.0, "docker": 1.0}
    assert attempt_resources(cfg(sandbox={"backend": "local"})) == {"CPU": 1.0}
    custom = cfg(ray={"num_cpus": 0.25, "memory_mb": 512, "resources": {"gpu_box": 1}})
    assert attempt_resources(custom) == {"CPU": 0.25, "memory": 512.0 * MIB, "gpu_box": 1.0}
    assert actor_options(custom) == {"num_cpus": 0.25, "max_restarts": 0, "max_task_retries": 0,
                                     "memory": 512 * MIB, "resources": {"gpu_box": 1.0}}
    assert "resources" not in actor_options(cfg(sandbox={"backend": "local"}))
    assert attempt_resources(cfg(ray={"num_cpus": 0, "resources": {}})) == {}


def test_room_per_node_is_its_scarcest_resource():
    need = {"CPU": 1.0, "docker": 1.0}
    assert node_slots({"Alive": True, "Resources": {"CPU": 8.0, "docker": 3.0}}, need) == 3
    assert node_slots({"Alive": True, "Resources": {"CPU": 8.0}}, need) == 0  # no engine advertised
    assert node_slots({"Alive": False, "Resources": {"CPU": 8.0, "docker": 3.0}}, need) == 0
    assert node_slots({"Alive": True, "Resources": {"CPU": 0.75}}, {"CPU": 0.25}) == 3
    nodes = [{"Alive": True, "NodeID": "abc", "NodeManagerAddress": "10.0.0.2",
              "Resources": {"CPU": 2.0, "memory": 1024.0 * MIB, "node:10.0.0.2": 1.0}}]
    assert describe_nodes(nodes) == "abc (10.0.0.2): CPU 2, memory 1024 MiB"


def test_workers_spread_round_robin_within_room():
    assert spread({"a": 2, "b": 2}, 3) == ["a", "b", "a"]
    assert spread({"a": 1, "b": 3}, 4) == ["a", "b", "b", "b"]
    assert spread({"a": 1}, 5) == ["a"]
    assert spread({}, 2) == []


def test_slots_move_to_the_node_with_room():
    slots = Slots({"a": 2, "b": 1})
    for node in ("a", "a", "b"):
        slots.take(node)
    assert slots.pick() is None
    slots.release("b")
    assert slots.pick(prefer="b") == "b"
    slots.out.add("b")  # its node died
    assert slots.pick(prefer="b") is None
    slots.release("a")
    assert slots.pick(prefer="b") == "a"


def test_losses_are_ray_s_dead_worker_and_node_errors():
    assert is_loss(ray.exceptions.ActorDiedError()) and is_loss(ray.exceptions.NodeDiedError("x"))
    assert is_loss(ray.exceptions.WorkerCrashedError()) and is_loss(ray.exceptions.ActorUnavailableError("x", None))
    assert not is_loss(ValueError("a bug")) and not is_loss(RuntimeError("ActorDiedError"))
    assert [place_again(n, 2) for n in (1, 2, 3)] == [True, True, False]
    assert not place_again(1, 0)


def test_the_lost_try_is_an_error_with_reason_node_lost():
    task = Task(id="t1", kind="qa", prompt="?", metadata={"level": 2})
    result = lost_attempt(task, 3, 100.0, "ActorDiedError: the actor died", "node-1")
    record = result.record
    assert (record.status, record.reason, record.epoch) == ("error", "node_lost", 3)
    assert record.metadata == {"level": 2, "node": "node-1"} and "ActorDiedError" in record.error
    assert [e.type for e in result.events] == ["attempt_start", "error", "attempt_end"]
    assert result.events[1].reason == "node_lost" and result.t_start == 100.0 <= result.t_end


def test_a_refused_key_stops_the_run_and_counts_pass_through():
    stored: list[tuple[str, bool]] = []

    async def ready() -> None:
        pass

    ctx = ExecContext(cfg=ExperimentConfig(), factory=lambda c: None, base_dir=Path("."), run_dir=Path("r"),
                      run_uid="u", chat=None, store=lambda r, counts: stored.append((r.record.task_id, counts)),
                      set_meta=lambda k, v: None, note=lambda t: None, ready=ready, engine_wait_s=1.0)
    task = Task(id="t", kind="qa", prompt="?")
    lost = lost_attempt(task, 0, 1.0, "gone", None)
    ctx.stored(lost, counts=False)
    assert stored == [("t", False)] and ctx.stop == []
    refused = lost.model_copy(update={"record": lost.record.model_copy(update={"reason": "auth", "error": "401"})})
    ctx.stored(refused)
    assert len(ctx.stop) == 1 and "refused" in ctx.stop[0]
    asyncio.run(ctx.ready())


def test_the_executor_is_chosen_by_name():
    assert make_executor("local").name == "local" and make_executor("ray").name == "ray"
