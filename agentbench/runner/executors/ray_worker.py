"""The worker side of `run.executor: ray`, run inside Ray worker processes on the cluster's nodes.

`AttemptWorker` is one attempt slot (a Ray actor holding `run.ray` resources): it builds its AttemptDeps
once — the sandbox provider on its node's Docker engine (containers labelled with the run and this worker),
the graph factory, the chat model from `ChatSettings`, the scorer — and runs `run_attempt` per call,
returning the `AttemptResult` to the driver, which stores it. `prepare_node` builds a node's images
before attempts are placed there; `prune_node` removes a lost worker's containers from a node's engine.
The driver wraps these with `ray.remote`; nothing here imports Ray at module level.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentbench.config.schema import ExperimentConfig, SandboxConfig
from agentbench.models.client import ChatSettings
from agentbench.protocols import Task
from agentbench.runner.episode import AttemptDeps, AttemptResult, run_attempt
from agentbench.runner.executors.deps import attempt_deps, run_sandboxes
from agentbench.runner.executors.placement import WORKER_LABEL
from agentbench.runner.graph_loader import load_graph_factory
from agentbench.runner.model_wiring import model_maker
from agentbench.sandbox.engine import engine_answers
from agentbench.sandbox.provider import make_sandbox_provider
from agentbench.scoring.dispatch import KindScorer
from agentbench.scoring.env_checks import check_environments


class WorkerSpec(BaseModel):
    """What an attempt worker is built from (sent to its node by Ray)."""

    config: ExperimentConfig
    chat: ChatSettings | None = None
    base_dir: str
    run_uid: str
    worker_uid: str


def _where() -> dict[str, Any]:
    import ray

    return {"node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(), "pid": os.getpid()}


class AttemptWorker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.where = _where()
        self._deps: AttemptDeps | None = None
        self._http = None
        self.log: list[str] = []

    async def ready(self) -> dict[str, Any]:
        """Build the deps (in this actor's event loop) and say where this worker runs."""
        if self._deps is None:
            cfg = self.spec.config
            sandboxes = run_sandboxes(cfg, log=self.log.append, run_id=self.spec.run_uid,
                                      labels={WORKER_LABEL: self.spec.worker_uid})
            factory = load_graph_factory(cfg.graph, Path(self.spec.base_dir))
            make_model, self._http = model_maker(self.spec.chat, cfg)
            self._deps = attempt_deps(cfg, factory, sandboxes, KindScorer(sandboxes), make_model)
        return self.where

    async def run(self, task: Task, epoch: int) -> AttemptResult:
        await self.ready()
        result = await run_attempt(task, epoch, self._deps)
        result.record.metadata.update(node=self.where["node"], host=self.where["host"])
        return result

    async def check_environments(self, tasks: list[Task], mode: str, concurrency: int) -> tuple[dict[str, str], list[str]]:
        """The SWE-bench environment check (once per run, on one worker): broken task ids, and the notes."""
        await self.ready()
        notes: list[str] = []
        broken = await check_environments(self._deps.scorer.swe, tasks, mode, concurrency, notes.append)
        return broken, notes

    def engine_answers(self) -> bool:
        return engine_answers()

    async def close(self) -> None:
        """Wait for the removals of this worker's containers, close the model's HTTP client."""
        if self._deps is not None:
            await self._deps.sandboxes.aclose()
        if self._http is not None:
            await self._http.aclose()


def prepare_node(sandbox: SandboxConfig, run_uid: str, tasks: list[Task], registry: str | None = None,
                 share: str = "") -> dict[str, Any]:
    """On one node, before attempts are placed there: remove the run's leftovers from this node's engine (a
    killed driver being resumed) and build or find every image the tasks need. With a `registry`, `share`
    `pull` first pulls the recipe images this engine lacks, `push` afterwards pushes them (the first node).
    Task id -> why its sandbox cannot be made under `broken`; what the build said under `log`."""
    log: list[str] = []
    sandboxes = make_sandbox_provider(sandbox, log=log.append, run_id=run_uid)
    tags: list[str] = []
    if registry and sandboxes.name == "docker":
        from agentbench.sandbox.images import image_tag

        tags = [image_tag(name) for name in sorted({t.sandbox.image for t in tasks if t.swe is None})]
        if share == "pull":
            pull_tags(tags, registry, log.append)
    broken = sandboxes.prepare(tasks) or {}
    if tags and share == "push":
        push_tags(tags, registry, log.append)
    return {**_where(), "backend": sandboxes.name, "broken": broken, "log": log}


def pull_tags(tags: list[str], registry: str, log) -> None:
    """Each image tag this engine lacks, pulled from `registry` and tagged locally (a failure: one line,
    and the image is built here instead)."""
    from docker.utils import parse_repository_tag

    from agentbench.sandbox.engine import engine_client
    from agentbench.sandbox.images import image_exists
    from agentbench.sandbox.official_images import RegistryError, pull_image

    client = engine_client()
    for tag in tags:
        if image_exists(client, tag):
            continue
        try:
            ref = pull_image(client, tag, registry, log=lambda line: None)
        except RegistryError as exc:
            log(f"{tag} not pulled ({exc.reason}): building it here")
            continue
        client.api.tag(ref, *parse_repository_tag(tag), force=True)
        log(f"pulled {tag} from {registry}")


def push_tags(tags: list[str], registry: str, log) -> None:
    """Each image tag pushed to `registry` for the other nodes (a failure: one line; they build it)."""
    from agentbench.sandbox.engine import engine_client
    from agentbench.sandbox.official_images import RegistryError, push_image

    client = engine_client()
    for tag in tags:
        try:
            log(f"pushed {push_image(client, tag, registry, tag)} for the other nodes")
        except RegistryError as exc:
            log(f"{tag} not pushed to {registry} ({exc.reason}): the other nodes build it")


def prune_node(labels: dict[str, str]) -> int:
    """Remove the containers (and their volumes) with these labels from this node's engine; -1: no engine."""
    from agentbench.sandbox.docker import prune
    from agentbench.sandbox.engine import engine_client

    client = engine_client(timeout=10)
    if client is None:
        return -1
    try:
        return prune(client, labels)
    finally:
        client.close()
