"""What an attempt needs, built where it runs: the sandbox provider on this machine's (or this Ray node's)
Docker engine, the scorer, the chat model from serialisable `ChatSettings`. The local executor builds them
once per run in the driver; each Ray attempt worker builds them once in its own process."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import httpx

from agentbench.config.schema import ExperimentConfig, SandboxConfig
from agentbench.models.client import ChatSettings, RetryInfo, RetryPolicy, build_chat_model, retrying_client
from agentbench.protocols import Outcome, Sandbox, SandboxProvider, Score, Scorer, Task
from agentbench.runner.episode import current_tracer
from agentbench.scoring.gaia import GaiaScorer
from agentbench.scoring.swebench import SweBenchScorer, validate_instance
from agentbench.tracing.tracer import trace_headers


class RunError(RuntimeError):
    pass


def make_sandbox_provider(cfg: SandboxConfig, log=print, run_id: str | None = None,
                          labels: dict[str, str] | None = None) -> SandboxProvider:
    """`auto` and `docker`: the Docker sandbox (images built on first use); no engine answering is a RunError,
    never a silent fall back to the host. `local` only when named, with a warning line (once per run: this
    is called once per run) that it does not isolate. Docker containers carry `agentbench.run=run_id` and
    `labels` (a Ray attempt worker adds its own, so the containers of a lost worker can be found)."""
    if cfg.backend == "local":
        from agentbench.sandbox.local import LocalSandboxConfig, LocalSandboxProvider

        return LocalSandboxProvider(LocalSandboxConfig(**cfg.local_settings()), warn=lambda m: log(f"warning: {m}"))
    from agentbench.sandbox.engine import INSTALL_HINT, engine_address, engine_client

    client = engine_client()
    if client is None:
        raise RunError(f"sandbox.backend: {cfg.backend} runs every attempt in a Docker container, but no Docker "
                       f"engine answers at {engine_address()}. Start one (`sudo dockerd &`, `sudo systemctl start "
                       f"docker`, or `sandboxes/ensure_engine.sh` as root, which also installs it; or point "
                       f"DOCKER_HOST at one; if it is missing, {INSTALL_HINT}), or set sandbox.backend: local, "
                       f"which runs the agent's commands on this host as you, with your files and network: it "
                       f"does NOT isolate")
    from agentbench.sandbox.docker import DockerSandboxConfig, DockerSandboxProvider
    from agentbench.sandbox.images import ensure_image
    from agentbench.sandbox.swe_images import EnvSettings, ensure_env_image

    try:
        docker_cfg = DockerSandboxConfig(**cfg.docker_settings())
    except ValueError as exc:  # pydantic's ValidationError is one
        errors = getattr(exc, "errors", None)
        detail = "; ".join(e["msg"].removeprefix("Value error, ") for e in errors()) if errors else str(exc)
        raise RunError(f"the sandbox section does not make a docker sandbox: {detail}") from None
    settings = EnvSettings(**cfg.swe_settings())
    all_labels = {**({"agentbench.run": run_id} if run_id else {}), **(labels or {})}
    return DockerSandboxProvider(client, docker_cfg, lambda name: ensure_image(client, name, log=log),
                                 labels=all_labels or None,
                                 resolve_env=lambda recipe: ensure_env_image(client, recipe, settings, log=log))


class KindScorer:
    """Dispatches on the task's kind: GAIA matching for qa, SWE-bench grading (in a fresh sandbox) for swe."""

    def __init__(self, sandboxes: SandboxProvider) -> None:
        self.swe = SweBenchScorer(sandboxes)
        self._by_kind: dict[str, Scorer] = {"qa": GaiaScorer(), "swe": self.swe}

    async def collect(self, task: Task, sandbox: Sandbox) -> Outcome:
        return await self._by_kind[task.kind].collect(task, sandbox)

    async def score(self, task: Task, outcome: Outcome) -> Score:
        return await self._by_kind[task.kind].score(task, outcome)


async def check_environments(scorer: SweBenchScorer, tasks: list[Task], mode: str, concurrency: int,
                             note=print) -> dict[str, str]:
    """task id -> why its environment cannot be used. `tests`: the tests run on the bare environment;
    `full`: also the gold patch resolves and the empty patch does not; `off`: no check."""
    if mode == "off" or not tasks:
        return {}
    gate = asyncio.Semaphore(max(1, concurrency))
    broken: dict[str, str] = {}

    async def one(task: Task) -> None:
        async with gate:
            if mode == "full":
                result = await validate_instance(scorer, task)
                ok, reason = result.ok, result.detail or "the instance does not validate"
            else:
                check = await scorer.check_environment(task)
                ok, reason = check.ok, check.reason
        if not ok:  # the attempts' error: why, then the end of the log that showed it (EnvCheck.explained)
            env = await scorer.check_environment(task)  # the verdict just made (cached)
            broken[task.id] = (reason + (f"\n{env.log_tail}" if env.log_tail else "")) if mode == "full" \
                else env.explained()
            note(f"environment of {task.id} is broken: {reason}")

    note(f"checking {len(tasks)} SWE-bench environment(s) ({mode}) ...")
    await asyncio.gather(*(one(t) for t in tasks))
    return broken


def swe_tasks_to_check(tasks: list[Task], broken: dict[str, str]) -> list[Task]:
    """The distinct swe tasks whose environment `check_environments` still has to check."""
    return [t for t in {t.id: t for t in tasks}.values() if t.kind == "swe" and t.id not in broken]


def engine_answers() -> bool:
    """Whether this machine's Docker engine answers (within 2 s)."""
    from agentbench.sandbox.engine import engine_client

    client = engine_client(timeout=2)
    return client is not None and (client.close() or True)


def record_retry(info: RetryInfo) -> None:
    """A model request retried by the transport becomes a `retry` event of the attempt running it."""
    tracer = current_tracer.get()
    if tracer is not None:
        tracer.record("retry", time.time(), attempt=info.attempt, reason=info.reason, wait_s=info.wait_s)


def retry_policy(cfg: ExperimentConfig) -> RetryPolicy:
    return RetryPolicy(retries=cfg.model.retries, backoff_max_s=cfg.model.backoff_max_s)


def model_maker(chat: ChatSettings | None, cfg: ExperimentConfig
                ) -> tuple[Callable[[int], Any], httpx.AsyncClient | None]:
    """(seed -> the run's chat model with that seed, the HTTP client to close at the end); a graph without a
    model gets None. A shallow copy per attempt shares the HTTP clients and keeps the type (bind_tools
    works), at a fraction of building a new ChatOpenAI. Call it inside the event loop that runs attempts."""
    if chat is None:
        return (lambda seed: None), None
    policy = retry_policy(cfg)
    http = retrying_client(policy, cfg.model.timeout_s, on_retry=record_retry,
                           headers=trace_headers if cfg.tracing.otlp_endpoint else None)
    base = build_chat_model(chat, policy, http_client=http)
    return (lambda seed: base.model_copy(update={"seed": seed})), http
