"""Pure decisions of the Ray executor: what one attempt holds, how many attempts a node takes, how the
attempt workers spread over the nodes, which failures mean the node (or worker) was lost, and whether a
lost attempt is placed again. No Ray import: Ray's exceptions are recognised by name."""

from __future__ import annotations

import collections
import math
from typing import Any

from agentbench.config.schema import ExperimentConfig

MIB = 1024 * 1024
DOCKER_RESOURCE = "docker"
WORKER_LABEL = "agentbench.worker"  # the attempt worker whose containers these are (with agentbench.run)

# Ray's ways of saying the process that ran an attempt (or its node) is gone; the attempt did not finish.
LOSSES = frozenset({"RayActorError", "ActorDiedError", "ActorUnavailableError", "NodeDiedError",
                    "WorkerCrashedError", "OwnerDiedError", "ObjectLostError", "LocalRayletDiedError",
                    "ObjectFetchTimedOutError", "ReferenceCountingAssertionError"})


def custom_resources(cfg: ExperimentConfig) -> dict[str, float]:
    """`run.ray.resources`, or by default {docker: 1} when attempts run in Docker ({} for the local sandbox)."""
    if cfg.run.ray.resources is not None:
        return dict(cfg.run.ray.resources)
    return {} if cfg.sandbox.backend == "local" else {DOCKER_RESOURCE: 1.0}


def attempt_resources(cfg: ExperimentConfig) -> dict[str, float]:
    """What one attempt holds on its node, in the keys of `ray.nodes()` Resources (memory in bytes)."""
    need = {"CPU": float(cfg.run.ray.num_cpus)}
    if cfg.run.ray.memory_mb:
        need["memory"] = float(cfg.run.ray.memory_mb * MIB)
    need.update(custom_resources(cfg))
    return {k: v for k, v in need.items() if v > 0}


def actor_options(cfg: ExperimentConfig) -> dict[str, Any]:
    """Ray actor options of one attempt worker (never restarted by Ray: the executor places attempts again)."""
    options: dict[str, Any] = {"num_cpus": cfg.run.ray.num_cpus, "max_restarts": 0, "max_task_retries": 0}
    if cfg.run.ray.memory_mb:
        options["memory"] = cfg.run.ray.memory_mb * MIB
    if custom := {k: v for k, v in custom_resources(cfg).items() if v > 0}:
        options["resources"] = custom
    return options


def node_slots(node: dict[str, Any], need: dict[str, float]) -> int:
    """How many attempts at once a node (a `ray.nodes()` row) holds: 0 when it is dead or lacks a resource."""
    if not node.get("Alive"):
        return 0
    have = node.get("Resources") or {}
    counts = [math.floor(have.get(k, 0.0) / v + 1e-9) for k, v in need.items() if v > 0]
    return min(counts) if counts else 1_000_000


def spread(slots: dict[str, int], count: int) -> list[str]:
    """`count` workers over the nodes, round robin while a node has room (in the order given): node ids."""
    left = dict(slots)
    out: list[str] = []
    while len(out) < count and any(n > 0 for n in left.values()):
        for node, room in left.items():
            if room > 0 and len(out) < count:
                out.append(node)
                left[node] = room - 1
    return out


def is_loss(exc: BaseException) -> bool:
    """Whether Ray raised this because the attempt's worker process or its node is gone."""
    return any(cls.__name__ in LOSSES for cls in type(exc).__mro__)


def place_again(losses: int, max_node_retries: int) -> bool:
    """After the `losses`-th loss of an attempt: is it placed again (as a new try)?"""
    return losses <= max_node_retries


def describe_nodes(nodes: list[dict[str, Any]]) -> str:
    """`id (host): CPU 2, docker 2; ...` of the alive nodes, for errors."""
    rows = []
    for node in nodes:
        if not node.get("Alive"):
            continue
        res = {k: v for k, v in (node.get("Resources") or {}).items()
               if not k.startswith("node:") and k != "object_store_memory"}
        text = ", ".join(f"{k} {v / MIB:.0f} MiB" if k == "memory" else f"{k} {v:g}" for k, v in sorted(res.items()))
        rows.append(f"{str(node.get('NodeID', '?'))[:12]} ({node.get('NodeManagerAddress', '?')}): {text}")
    return "; ".join(rows) or "no alive node"


class Slots:
    """Attempt slots per node (its room), those in use, and the nodes that get no more attempts (dead,
    failed to prepare or to start a worker, or their engine stopped answering)."""

    def __init__(self, room: dict[str, int]) -> None:
        self.room = dict(room)
        self.used: collections.Counter[str] = collections.Counter()
        self.out: set[str] = set()

    def pick(self, prefer: str | None = None) -> str | None:
        """A node with a free slot: `prefer` if it has one, else the one with the most."""
        free = [n for n, r in self.room.items() if n not in self.out and self.used[n] < r]
        return prefer if prefer in free else max(free, key=lambda n: self.room[n] - self.used[n], default=None)

    def take(self, node: str) -> None:
        self.used[node] += 1

    def release(self, node: str) -> None:
        self.used[node] -= 1
