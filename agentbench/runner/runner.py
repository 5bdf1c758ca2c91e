"""The runner: the one place that wires config, suite, model endpoint, sandbox, graph, scorer, tracer
and store together, then runs every (task, epoch) not yet finished, `run.concurrency` at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import platform
import time
import uuid
from importlib import metadata as importlib_metadata
from pathlib import Path

import httpx

from agentbench.config.loader import ConfigError, dump_config
from agentbench.config.schema import ExperimentConfig, SandboxConfig, available_cpus
from agentbench.models.client import ChatSettings, RetryInfo, RetryPolicy, build_chat_model, retrying_client
from agentbench.models.endpoint import Endpoint, auth_message, open_endpoint, preflight, resolve_api_key
from agentbench.models.server import ManagedServer
from agentbench.models.supervisor import ServerDied, ServerSupervisor
from agentbench.protocols import AttemptSink, GraphFactory, Outcome, Sandbox, SandboxProvider, Score, Scorer, Task
from agentbench.redact import Redactor, masked_fields
from agentbench.runner.episode import AttemptDeps, AttemptResult, current_tracer, environment_error, run_attempt
from agentbench.runner.graph_loader import load_graph_factory
from agentbench.runner.progress import NullProgress, ProgressSink
from agentbench.runner.resume import describe_changes, suite_changes, suite_meta
from agentbench.sandbox.base import run_shielded
from agentbench.scoring.gaia import GaiaScorer
from agentbench.scoring.swebench import SweBenchScorer, validate_instance
from agentbench.store import RunStore
from agentbench.suites.errors import unsafe_id_reason
from agentbench.suites.filters import filter_tasks
from agentbench.suites.registry import load_suite


class RunError(RuntimeError):
    pass


ENGINE_WAIT_ENV = "AGENTBENCH_ENGINE_WAIT_S"  # how long a run waits for a Docker engine that stopped answering
ENGINE_WAIT_S = 120.0


def new_run_dir(cfg: ExperimentConfig, out: Path | None) -> Path:
    """The run folder; the run `name` becomes part of a folder name, so ConfigError when it is not a safe one."""
    unsafe = unsafe_id_reason(cfg.name)
    if unsafe:
        raise ConfigError(f"name: {unsafe}; a run name becomes a folder name (runs/NAME-TIMESTAMP)")
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
    """`auto` and `docker`: the Docker sandbox (images built on first use); no engine answering is a RunError,
    never a silent fall back to the host. `local` only when named, with a warning line (once per run: this
    is called once per run) that it does not isolate."""
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
    return DockerSandboxProvider(client, docker_cfg, lambda name: ensure_image(client, name, log=log),
                                 labels={"agentbench.run": run_id} if run_id else None,
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
        if not ok:
            broken[task.id] = reason
            note(f"environment of {task.id} is broken: {reason}")

    note(f"checking {len(tasks)} SWE-bench environment(s) ({mode}) ...")
    await asyncio.gather(*(one(t) for t in tasks))
    return broken


def _engine_answers() -> bool:
    from agentbench.sandbox.engine import engine_client

    client = engine_client(timeout=2)
    return client is not None and (client.close() or True)


def _record_retry(info: RetryInfo) -> None:
    tracer = current_tracer.get()
    if tracer is not None:
        tracer.record("retry", time.time(), attempt=info.attempt, reason=info.reason, wait_s=info.wait_s)


class Runner:
    def __init__(self, cfg: ExperimentConfig, run_dir: Path, *, progress: ProgressSink | None = None,
                 base_dir: Path | None = None, allow_changed_suite: bool = False,
                 engine_wait_s: float | None = None, sinks: list[AttemptSink] | None = None) -> None:
        self.cfg = cfg
        self.sinks: list[AttemptSink] = list(sinks or [])  # told of every stored try (tracing.otlp_endpoint adds one)
        self.run_dir = Path(run_dir)
        self.progress = progress or NullProgress()
        self.base_dir = base_dir or Path.cwd()
        self.allow_changed_suite = allow_changed_suite
        self.engine_wait_s = (float(os.environ.get(ENGINE_WAIT_ENV, ENGINE_WAIT_S)) if engine_wait_s is None
                              else engine_wait_s)
        self.endpoint: Endpoint | None = None  # the live endpoint while the run goes (for observers)

    def prepare(self) -> tuple[list[Task], GraphFactory, RunStore]:
        cfg = self.cfg
        mirror = Path(cfg.suite.repo_mirror).expanduser() if cfg.suite.repo_mirror else None
        suite_dir, tasks = load_suite(cfg.suite.name, repo_mirror=mirror)
        tasks = filter_tasks(tasks, cfg.suite.ids, cfg.suite.levels, cfg.suite.limit)
        factory = load_graph_factory(cfg.graph, self.base_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        redactor = Redactor.from_config(cfg)  # the run's secrets: masked in all it writes; cfg keeps them
        store = RunStore.in_dir(self.run_dir, redactor=redactor)
        stored = store.meta("config")
        resolved = redactor.config(cfg)
        if masked := masked_fields(cfg.model_dump(mode="json")):
            store.close()
            raise RunError(f"{self.run_dir}: the stored config has {', '.join(masked)} masked (secrets are not "
                           "stored); resume with the experiment file that holds them")
        if stored is not None and stored != resolved:
            store.close()
            raise RunError(f"{self.run_dir} holds a run with a different config; resume it without changes "
                           "or choose another --out")
        suite = suite_meta(cfg.suite.name, suite_dir, tasks)
        if stored is not None:
            self._check_suite(store, suite, tasks)
        if stored is None:
            store.set_meta("run_id", self.run_dir.name)
            store.set_meta("run_uid", uuid.uuid4().hex)  # labels this run's containers
            store.set_meta("config", resolved)
            store.set_meta("suite", suite)
            store.set_meta("versions", versions())
            store.set_meta("host", {"cpus": available_cpus(), "concurrency": cfg.run.concurrency})
            store.set_meta("started_at", time.time())
            (self.run_dir / "config.yaml").write_text(dump_config(cfg, redactor))
        return tasks, factory, store

    def _check_suite(self, store: RunStore, suite: dict, tasks: list[Task]) -> None:
        """On resume: the suite's tasks must be those the run started with (ids, and content where hashes
        were stored), unless the user allowed a changed suite (then the change is recorded)."""
        stored = store.meta("suite") or {}
        changes = suite_changes(stored, tasks)
        if any(changes.values()):
            if not self.allow_changed_suite:
                store.close()
                raise RunError(f"{self.run_dir}: the suite {self.cfg.suite.name!r} changed since this run started "
                               f"({describe_changes(changes)}); finished attempts would mix two suites. Restore "
                               "it, or pass --allow-changed-suite with --resume to go on with the suite as it is now")
            self.progress.note(f"the suite changed since the run started ({describe_changes(changes)}); "
                               "going on with it as it is now (--allow-changed-suite)")
            store.set_meta("suite_changes", store.meta("suite_changes", []) + [{"at": time.time(), **changes}])
            store.set_meta("suite", suite)
        elif "hashes" not in stored:  # a run from before hashes were stored: from now on they are
            store.set_meta("suite", {**stored, "hashes": suite["hashes"]})

    async def _preflight(self, endpoint: Endpoint) -> None:
        """Before any attempt: an endpoint that refuses the key (401/403) stops the run here, not after
        turning every attempt into `error`. Any other answer (or none) lets the run go on."""
        status = await preflight(endpoint.base_url, endpoint.api_key)
        if status in (401, 403):
            raise RunError(auth_message(endpoint.base_url, self.cfg.model.api_key_env, f"HTTP {status} to GET /models"))

    async def run(self) -> RunStore:
        if self.cfg.model.api_key_env:  # a missing key fails before anything is written
            resolve_api_key(self.cfg.model)
        tasks, factory, store = self.prepare()
        if self.cfg.tracing.otlp_endpoint:
            from agentbench.export.otel_live import live_sink

            self.sinks.append(live_sink(self.cfg, store, note=self.progress.note))
        done = store.finished_keys()
        todo = [(t, e) for e in range(self.cfg.run.epochs) for t in tasks if (t.id, e) not in done]
        total = len(tasks) * self.cfg.run.epochs
        if done:
            self.progress.note(f"resuming {self.run_dir}: {total - len(todo)} of {total} attempts finished, "
                               f"{len(todo)} to run")
        self.progress.start(total, total - len(todo))
        t0 = time.time()
        try:
            if todo:
                if getattr(factory, "uses_model", True):
                    async with open_endpoint(self.cfg.model, self.run_dir) as endpoint:
                        self.endpoint = endpoint
                        try:
                            await self._preflight(endpoint)
                            await self._run_with(endpoint, todo, factory, store)
                        finally:
                            self.endpoint = None
                else:
                    await self._run_with(None, todo, factory, store)
        finally:
            for sink in self.sinks:
                sink.close()
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
            self._stored(store, environment_error(task, epoch, broken[task.id]))
        todo = [item for item in todo if item[0].id not in broken]
        deps = AttemptDeps(make_model=make_model, sandboxes=sandboxes, factory=factory,
                           scorer=scorer, limits=cfg.limits, params=cfg.graph_params,
                           command_timeout_s=cfg.sandbox.command_timeout_s, seed=cfg.run.seed)
        queue: asyncio.Queue[tuple[Task, int]] = asyncio.Queue()
        for item in todo:
            queue.put_nowait(item)

        stop: list[str] = []  # why the run stops early: no new attempt starts once it holds a reason
        engine_up = asyncio.Event()  # cleared while the Docker engine does not answer
        engine_up.set()
        engine_check = asyncio.Lock()
        base_url = endpoint.base_url if endpoint is not None else ""

        async def worker() -> None:
            while not stop:
                if supervisor is not None:
                    await supervisor.up.wait()  # no new attempt while the server restarts
                await engine_up.wait()  # nor while the Docker engine is away
                if stop:
                    return
                try:
                    task, epoch = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                result = await run_attempt(task, epoch, deps)
                self._stored(store, result)
                if result.record.reason == "auth" and not stop:  # every later attempt would be refused too
                    stop.append(auth_message(base_url, cfg.model.api_key_env, result.record.error or "HTTP 401"))
                elif result.record.reason == "sandbox" and sandboxes.name == "docker":
                    await self._wait_for_engine(engine_up, engine_check, stop)

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
        else:
            if stop:
                raise RunError(stop[0])
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

    def _stored(self, store: RunStore, result: AttemptResult) -> None:
        """The one place a finished try is written (the driver is the store's only writer), then the sinks."""
        attempt_id = store.add_attempt(result.record, result.events, result.t_start, result.t_end)
        for sink in self.sinks:
            sink.attempt_stored(attempt_id, result.record, result.events, result.t_start, result.t_end)
        self.progress.advance(result.record)

    async def _wait_for_engine(self, engine_up: asyncio.Event, check: asyncio.Lock, stop: list[str]) -> None:
        """After a sandbox error on Docker: if the engine no longer answers, start no attempt until it does
        (up to `engine_wait_s`), then go on; past that the run stops with the reason in `stop`."""
        async with check:
            if stop or await asyncio.to_thread(_engine_answers):
                return  # an ordinary sandbox error, or another worker already waited the engine back
            engine_up.clear()
            self.progress.note(f"the Docker engine stopped answering; no new attempt starts until it is back "
                               f"(waiting up to {self.engine_wait_s:.0f} s)")
            deadline = time.monotonic() + self.engine_wait_s
            try:
                while time.monotonic() < deadline:
                    await asyncio.sleep(1.0)
                    if await asyncio.to_thread(_engine_answers):
                        self.progress.note("the Docker engine answers again: the run goes on (attempts it cut off "
                                           "are `error`; --resume reruns them)")
                        return
                stop.append(f"the Docker engine stopped answering and was not back within {self.engine_wait_s:.0f} s "
                            f"({ENGINE_WAIT_ENV}); the run stopped, finished attempts are kept: start the engine and "
                            f"run `agentbench run --resume {self.run_dir}`")
            finally:
                engine_up.set()
