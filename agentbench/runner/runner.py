"""The runner: the one place that wires config, suite, model endpoint, sandbox, graph, scorer, tracer
and store together, then runs every (task, epoch) not yet finished, `run.concurrency` at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
import platform
import time
import uuid
from importlib import metadata as importlib_metadata
from pathlib import Path

import httpx

from agentbench.config.loader import dump_config
from agentbench.config.schema import ExperimentConfig, SandboxConfig
from agentbench.models.client import ChatSettings, RetryInfo, RetryPolicy, build_chat_model, retrying_client
from agentbench.models.endpoint import Endpoint, open_endpoint, resolve_api_key
from agentbench.models.server import ManagedServer
from agentbench.models.supervisor import ServerDied, ServerSupervisor
from agentbench.protocols import GraphFactory, Outcome, Sandbox, SandboxProvider, Score, Scorer, Task
from agentbench.runner.episode import AttemptDeps, current_tracer, environment_error, run_attempt
from agentbench.runner.graph_loader import load_graph_factory
from agentbench.runner.progress import NullProgress, ProgressSink
from agentbench.sandbox.base import run_shielded
from agentbench.scoring.gaia import GaiaScorer
from agentbench.scoring.swebench import SweBenchScorer, validate_instance
from agentbench.store import RunStore
from agentbench.suites.filters import filter_tasks
from agentbench.suites.registry import load_suite


class RunError(RuntimeError):
    pass


def new_run_dir(cfg: ExperimentConfig, out: Path | None) -> Path:
    if out is not None:
        return Path(out)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.name}-{stamp}"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("agentbench", "langgraph", "langchain-core", "langchain-openai", "openai"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def make_sandbox_provider(cfg: SandboxConfig, log=print, run_id: str | None = None) -> SandboxProvider:
    """docker where an engine answers (images built on first use), local otherwise or when asked."""
    from agentbench.sandbox.local import LocalSandboxConfig, LocalSandboxProvider

    if cfg.backend in ("auto", "docker"):
        from agentbench.sandbox.engine import engine_client

        client = engine_client()
        if client is not None:
            from agentbench.sandbox.docker import DockerSandboxConfig, DockerSandboxProvider
            from agentbench.sandbox.images import ensure_image
            from agentbench.sandbox.swe_images import EnvSettings, ensure_env_image

            docker_cfg = DockerSandboxConfig(**cfg.docker_settings())
            settings = EnvSettings(**cfg.swe_settings())
            return DockerSandboxProvider(client, docker_cfg, lambda name: ensure_image(client, name, log=log),
                                         labels={"agentbench.run": run_id} if run_id else None,
                                         resolve_env=lambda recipe: ensure_env_image(client, recipe, settings,
                                                                                     log=log))
        if cfg.backend == "docker":
            raise RunError("sandbox.backend: docker, but no Docker engine answers (DOCKER_HOST or the default "
                           "socket); start one (see README: Docker engine) or use sandbox.backend: local")
    return LocalSandboxProvider(LocalSandboxConfig(**cfg.local_settings()))


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
        if not ok:
            broken[task.id] = reason
            note(f"environment of {task.id} is broken: {reason}")

    note(f"checking {len(tasks)} SWE-bench environment(s) ({mode}) ...")
    await asyncio.gather(*(one(t) for t in tasks))
    return broken


def _record_retry(info: RetryInfo) -> None:
    tracer = current_tracer.get()
    if tracer is not None:
        tracer.record("retry", time.time(), attempt=info.attempt, reason=info.reason, wait_s=info.wait_s)


class Runner:
    def __init__(self, cfg: ExperimentConfig, run_dir: Path, *, progress: ProgressSink | None = None,
                 base_dir: Path | None = None) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.progress = progress or NullProgress()
        self.base_dir = base_dir or Path.cwd()
        self.endpoint: Endpoint | None = None  # the live endpoint while the run goes (for observers)

    def prepare(self) -> tuple[list[Task], GraphFactory, RunStore]:
        cfg = self.cfg
        mirror = Path(cfg.suite.repo_mirror).expanduser() if cfg.suite.repo_mirror else None
        suite_dir, tasks = load_suite(cfg.suite.name, repo_mirror=mirror)
        tasks = filter_tasks(tasks, cfg.suite.ids, cfg.suite.levels, cfg.suite.limit)
        factory = load_graph_factory(cfg.graph, self.base_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        store = RunStore.in_dir(self.run_dir)
        stored = store.meta("config")
        resolved = cfg.model_dump(mode="json")
        if stored is not None and stored != resolved:
            store.close()
            raise RunError(f"{self.run_dir} holds a run with a different config; resume it without changes "
                           "or choose another --out")
        if stored is None:
            store.set_meta("run_id", self.run_dir.name)
            store.set_meta("run_uid", uuid.uuid4().hex)  # labels this run's containers
            store.set_meta("config", resolved)
            store.set_meta("suite", {"name": cfg.suite.name, "path": str(suite_dir), "tasks": [t.id for t in tasks]})
            store.set_meta("versions", versions())
            store.set_meta("started_at", time.time())
            (self.run_dir / "config.yaml").write_text(dump_config(cfg))
        return tasks, factory, store

    async def run(self) -> RunStore:
        if self.cfg.model.api_key_env:  # a missing key fails before anything is written
            resolve_api_key(self.cfg.model)
        tasks, factory, store = self.prepare()
        done = store.finished_keys()
        todo = [(t, e) for e in range(self.cfg.run.epochs) for t in tasks if (t.id, e) not in done]
        total = len(tasks) * self.cfg.run.epochs
        self.progress.start(total, total - len(todo))
        t0 = time.time()
        try:
            if todo:
                if getattr(factory, "uses_model", True):
                    async with open_endpoint(self.cfg.model, self.run_dir) as endpoint:
                        self.endpoint = endpoint
                        try:
                            await self._run_with(endpoint, todo, factory, store)
                        finally:
                            self.endpoint = None
                else:
                    await self._run_with(None, todo, factory, store)
        finally:
            self.progress.stop()
            store.set_meta("wall_clock_s", store.meta("wall_clock_s", 0.0) + time.time() - t0)
            store.set_meta("finished_at", time.time())
        return store

    async def _run_with(self, endpoint: Endpoint | None, todo: list[tuple[Task, int]], factory: GraphFactory,
                        store: RunStore) -> None:
        cfg = self.cfg
        http: httpx.AsyncClient | None = None
        supervisor: ServerSupervisor | None = None
        policy = RetryPolicy(retries=cfg.model.retries, backoff_max_s=cfg.model.backoff_max_s)
        if endpoint is not None:
            store.set_meta("model_identity", endpoint.identity.model_dump())
            supervisor = ServerSupervisor(endpoint.root_url, endpoint.server if isinstance(endpoint.server, ManagedServer)
                                          else None, interval_s=cfg.model.server.metrics_interval_s,
                                          max_restarts=cfg.model.server.max_restarts, note=self.progress.note)
            await supervisor.start()
            http = retrying_client(policy, cfg.model.timeout_s, on_retry=_record_retry)
        else:
            store.set_meta("model_identity", {"provider": "none", "served_model_name": "(graph uses no model)"})

        base_model = None
        if endpoint is not None:
            settings = ChatSettings(base_url=endpoint.base_url, model=endpoint.model,
                                    api_key=endpoint.api_key.get_secret_value() if endpoint.api_key else None,
                                    temperature=cfg.model.temperature, top_p=cfg.model.top_p,
                                    max_tokens=cfg.model.max_tokens, timeout_s=cfg.model.timeout_s,
                                    streaming=cfg.model.streaming)
            base_model = build_chat_model(settings, policy, http_client=http)

        def make_model(seed: int):
            """The run's chat model with this attempt's seed: a shallow copy shares the HTTP clients and
            keeps the type (bind_tools works), at a fraction of building a new ChatOpenAI."""
            return None if base_model is None else base_model.model_copy(update={"seed": seed})

        tasks_only = [t for t, _ in todo]
        sandboxes = make_sandbox_provider(cfg.sandbox, log=self.progress.note, run_id=store.meta("run_uid"))
        store.set_meta("sandbox_backend", sandboxes.name)
        scorer = KindScorer(sandboxes)
        # build the images the run needs, and check that each environment runs its tests, before any
        # attempt starts: a task whose environment is broken is `error` for every epoch, never `failed`
        broken = await asyncio.to_thread(sandboxes.prepare, tasks_only) or {}
        broken.update(await check_environments(scorer.swe, [t for t in {t.id: t for t in tasks_only}.values()
                                                             if t.kind == "swe" and t.id not in broken],
                                               cfg.run.env_check, cfg.run.concurrency, self.progress.note))
        for task, epoch in [item for item in todo if item[0].id in broken]:
            result = environment_error(task, epoch, broken[task.id])
            store.add_attempt(result.record, result.events, result.t_start, result.t_end)
            self.progress.advance(result.record)
        todo = [item for item in todo if item[0].id not in broken]
        deps = AttemptDeps(make_model=make_model, sandboxes=sandboxes, factory=factory,
                           scorer=scorer, limits=cfg.limits, params=cfg.graph_params,
                           command_timeout_s=cfg.sandbox.command_timeout_s, seed=cfg.run.seed)
        queue: asyncio.Queue[tuple[Task, int]] = asyncio.Queue()
        for item in todo:
            queue.put_nowait(item)

        async def worker() -> None:
            while True:
                if supervisor is not None:
                    await supervisor.up.wait()  # no new attempt while the server restarts
                try:
                    task, epoch = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                result = await run_attempt(task, epoch, deps)
                store.add_attempt(result.record, result.events, result.t_start, result.t_end)
                self.progress.advance(result.record)

        workers_done = asyncio.Event()

        async def all_workers() -> None:
            try:
                async with asyncio.TaskGroup() as workers:  # one worker failing cancels the others
                    for _ in range(min(cfg.run.concurrency, len(todo))):
                        workers.create_task(worker())
            finally:
                workers_done.set()

        try:
            async with asyncio.TaskGroup() as group:  # the supervisor giving up cancels the workers
                group.create_task(all_workers())
                if supervisor is not None:
                    group.create_task(supervisor.watch(workers_done))
        except* ServerDied as group_error:
            raise RunError(str(group_error.exceptions[0])) from None
        finally:
            await run_shielded(sandboxes.aclose())  # containers still being removed
            if http is not None:
                await http.aclose()
            if supervisor is not None:
                await run_shielded(supervisor.finish())
                store.set_meta("server_metrics", store.meta("server_metrics", []) + supervisor.segments)
                store.set_meta("server_metrics_samples", store.meta("server_metrics_samples", []) + supervisor.samples)
                if supervisor.deaths:
                    store.set_meta("server_restarts", store.meta("server_restarts", []) + supervisor.deaths)
