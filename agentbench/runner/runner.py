"""The runner: the one place that wires config, suite, model endpoint, sandbox, graph, scorer, tracer
and store together, then runs every (task, epoch) not yet finished (of the tasks `only` names, when given:
a duel runs its arms task by task in one run folder each) through the executor `run.executor` names
(runner/executors/: here, or on a Ray cluster), writing every try that comes back (`_stored`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import platform
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from importlib import metadata as importlib_metadata
from pathlib import Path

from agentbench.config.diff import config_diff
from agentbench.config.loader import ConfigError, dump_config
from agentbench.config.schema import ExperimentConfig, available_cpus
from agentbench.models.client import ChatSettings
from agentbench.models.endpoint import Endpoint, auth_message, open_endpoint, preflight, resolve_api_key
from agentbench.models.supervisor import ServerDied, ServerSupervisor
from agentbench.protocols import AttemptSink, GraphFactory, Task
from agentbench.redact import Redactor, masked_fields
from agentbench.runner.episode import AttemptResult
from agentbench.runner.executors import make_executor
from agentbench.runner.executors.base import ExecContext, Executor
from agentbench.runner.errors import RunError
from agentbench.runner.executors.local import ENGINE_WAIT_ENV, ENGINE_WAIT_S
from agentbench.runner.graph_identity import GraphIdentity, graph_identity
from agentbench.runner.graph_loader import load_graph_factory
from agentbench.runner.progress import NullProgress, ProgressSink
from agentbench.runner.resume import (attempts_problem, describe_changes, graph_changes, suite_changes, suite_meta,
                                      todo_items)
from agentbench.sandbox.base import run_shielded
from agentbench.store import RunStore
from agentbench.suites.errors import unsafe_id_reason
from agentbench.suites.filters import filter_tasks
from agentbench.suites.loader import load_suite


def first_leaf(group: BaseExceptionGroup) -> BaseException:
    """The first exception of a (nested) group, as it was raised."""
    first = group.exceptions[0]
    return first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def with_defaults(stored: dict) -> dict | None:
    """A stored config as today's schema reads it (sections and fields added since at their defaults), so a
    run started before they existed resumes; None when today's schema does not accept it."""
    try:
        return ExperimentConfig.model_validate(stored).model_dump(mode="json")
    except ValueError:
        return None


def new_run_dir(cfg: ExperimentConfig, out: Path | None) -> Path:
    """The run folder; the run `name` becomes part of a folder name, so ConfigError when it is not a safe one."""
    unsafe = unsafe_id_reason(cfg.name)
    if unsafe:
        raise ConfigError(f"name: {unsafe}; a run name becomes a folder name (runs/NAME-TIMESTAMP)")
    if out is not None:
        return Path(out)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.name}-{stamp}"


def open_run_endpoint(cfg: ExperimentConfig, log_dir: Path, opener=open_endpoint):
    """The model endpoint a run's config describes, as `opener` (default `open_endpoint`) opens it: an async
    context manager; a managed server logs to `log_dir / server.log`."""
    return opener(cfg.model, log_dir, ray_address=cfg.run.ray.address, ray_runtime_env=cfg.run.ray.runtime_env,
                  tracing=cfg.tracing, redactor=Redactor.from_config(cfg))


def describe_model(cfg: ExperimentConfig) -> str:
    """What the run's model endpoint is, in a few words, for progress notes (no URL, so no userinfo)."""
    if cfg.model.provider == "openai":
        return f"{cfg.model.name} (an OpenAI-compatible endpoint)"
    return f"{cfg.model.name} (a managed {cfg.model.provider} server; starting it can take minutes)"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("agentbench", "langgraph", "langchain-core", "langchain-openai", "openai"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


class Runner:
    def __init__(self, cfg: ExperimentConfig, run_dir: Path, *, progress: ProgressSink | None = None,
                 base_dir: Path | None = None, allow_changed_suite: bool = False, allow_changed_graph: bool = False,
                 engine_wait_s: float | None = None, sinks: list[AttemptSink] | None = None,
                 executor: Executor | None = None,
                 endpoint: Endpoint | Callable[[], Awaitable[Endpoint]] | None = None,
                 only: Collection[str] | None = None) -> None:
        self.cfg = cfg
        self.only = None if only is None else frozenset(only)  # this call runs these tasks only (a duel's one task)
        self.shared_endpoint = endpoint  # an open endpoint, or an async getter of one: its owner opens and closes it
        self.executor = executor or make_executor(cfg.run.executor)  # where attempts run (run.executor)
        self.sinks: list[AttemptSink] = list(sinks or [])  # told of every stored try (tracing.otlp_endpoint adds one)
        self.run_dir = Path(run_dir)
        self.progress = progress or NullProgress()
        self.base_dir = base_dir or Path.cwd()
        self.allow_changed_suite = allow_changed_suite
        self.allow_changed_graph = allow_changed_graph
        self.engine_wait_s = (float(os.environ.get(ENGINE_WAIT_ENV, ENGINE_WAIT_S)) if engine_wait_s is None
                              else engine_wait_s)
        self.endpoint: Endpoint | None = None  # the live endpoint while the run goes (for observers)

    def prepare(self) -> tuple[list[Task], GraphFactory, RunStore]:
        cfg = self.cfg
        mirror = Path(cfg.suite.repo_mirror).expanduser() if cfg.suite.repo_mirror else None
        suite_dir, tasks = load_suite(cfg.suite.name, repo_mirror=mirror)
        tasks = filter_tasks(tasks, cfg.suite.ids, cfg.suite.levels, cfg.suite.limit)
        if too_many := attempts_problem(len(tasks), cfg.run.epochs):  # before anything is built or written
            raise ConfigError(too_many)
        factory = load_graph_factory(cfg.graph, self.base_dir)
        graph = graph_identity(cfg.graph, self.base_dir, cfg.graph_params)  # its source's hash, git state
        self.run_dir.mkdir(parents=True, exist_ok=True)
        redactor = Redactor.from_config(cfg)  # the run's secrets: masked in all it writes; cfg keeps them
        store = RunStore.in_dir(self.run_dir, redactor=redactor)
        stored = store.meta("config")
        resolved = redactor.config(cfg)
        if masked := masked_fields(cfg.model_dump(mode="json")):
            store.close()
            raise RunError(f"{self.run_dir}: the stored config has {', '.join(masked)} masked (secrets are not "
                           "stored); resume with the experiment file that holds them")
        if stored is not None and stored != resolved and with_defaults(stored) == resolved:
            store.set_meta("config", resolved)  # a run from before a section was added: the new defaults
            stored = resolved
        if stored is not None and stored != resolved:
            store.close()
            changed = config_diff(stored, resolved)
            shown = "; ".join(f"{key}: {old!r} (stored) → {new!r}" for key, (old, new) in list(changed.items())[:6])
            raise RunError(f"{self.run_dir}: the experiment differs from the stored config ({shown}"
                           f"{'; ...' if len(changed) > 6 else ''}); resume without changes (set those keys back, "
                           "e.g. with --set) or choose another --out")
        suite = suite_meta(cfg.suite.name, suite_dir, tasks)
        if stored is not None:
            self._check_suite(store, suite, tasks)
            done = store.finished_keys()
            if any((t.id, e) not in done for t in tasks for e in range(cfg.run.epochs)):  # else nothing would mix
                self._check_graph(store, graph)
        if stored is None:
            store.set_meta("run_id", self.run_dir.name)
            store.set_meta("run_uid", uuid.uuid4().hex)  # labels this run's containers
            store.set_meta("config", resolved)
            store.set_meta("suite", suite)
            store.set_meta("graph", graph.model_dump(mode="json"))
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
            self._accept_change(store, "suite", self.cfg.suite.name, describe_changes(changes), "suites",
                                self.allow_changed_suite, "suite_changes", changes)
            store.set_meta("suite", suite)
        elif "hashes" not in stored:  # a run from before hashes were stored: from now on they are
            store.set_meta("suite", {**stored, "hashes": suite["hashes"]})

    def _accept_change(self, store: RunStore, what: str, name: str, detail: str, mixed: str, allowed: bool,
                       log_key: str, entry: dict) -> None:
        """On resume, the suite or the graph changed since the run started: a RunError naming the change and
        the flag that allows it, or (allowed: `--allow-changed-suite` / `--allow-changed-graph`) a note and
        the change appended to the `log_key` meta."""
        flag = f"--allow-changed-{what}"
        if not allowed:
            store.close()
            raise RunError(f"{self.run_dir}: the {what} {name!r} changed since this run started ({detail}); finished "
                           f"attempts would mix two {mixed}. Restore it, or pass {flag} with --resume to go on with "
                           f"the {what} as it is now")
        self.progress.note(f"the {what} changed since the run started ({detail}); going on with it as it is now "
                           f"({flag})")
        store.set_meta(log_key, store.meta(log_key, []) + [{"at": time.time(), **entry}])

    def _check_graph(self, store: RunStore, graph: GraphIdentity) -> None:
        """On resume: the graph's source must hash as when the run started, unless the user allowed a changed
        graph (then the change is recorded in `graph_changes` and the new identity kept)."""
        stored = store.meta("graph")
        change = None if stored is None else graph_changes(stored, graph)
        if change is not None:
            self._accept_change(store, "graph", graph.ref, f"{change} in {graph.source}", "agents",
                                self.allow_changed_graph, "graph_changes",
                                {"change": change, "from": stored.get("source_hash"), "to": graph.source_hash,
                                 "git_commit": graph.git_commit, "git_dirty": graph.git_dirty})
        if stored is None or change is not None:  # a run from before identities were stored: from now on it is
            store.set_meta("graph", graph.model_dump(mode="json"))

    async def _preflight(self, endpoint: Endpoint) -> None:
        """Before any attempt: an endpoint that refuses the key (401/403) stops the run here, not after
        turning every attempt into `error`. Any other answer (or none) lets the run go on."""
        status = await preflight(endpoint.base_url, endpoint.api_key)
        if status in (401, 403):
            raise RunError(auth_message(endpoint.base_url, self.cfg.model.api_key_env, f"HTTP {status} to GET /models"))

    @asynccontextmanager
    async def _endpoint(self) -> AsyncIterator[Endpoint]:
        """The endpoint given to the runner (a sweep's shared server), or one opened and closed for this run."""
        if self.shared_endpoint is not None:
            given = self.shared_endpoint
            yield given if isinstance(given, Endpoint) else await given()
            return
        async with open_run_endpoint(self.cfg, self.run_dir) as endpoint:
            yield endpoint

    async def run(self) -> RunStore:
        if self.cfg.model.api_key_env:  # a missing key fails before anything is written
            resolve_api_key(self.cfg.model)
        tasks, factory, store = self.prepare()
        if self.cfg.tracing.otlp_endpoint:
            from agentbench.export.otel_live import live_sink

            self.sinks.append(live_sink(self.cfg, store, note=self.progress.note))
        done = store.finished_keys()
        todo = todo_items(tasks, self.cfg.run.epochs, done, self.only)
        total = (len(tasks) if self.only is None else sum(t.id in self.only for t in tasks)) * self.cfg.run.epochs
        if done and (self.only is None or total > len(todo)):
            self.progress.note(f"resuming {self.run_dir}: {total - len(todo)} of {total} attempts finished, "
                               f"{len(todo)} to run")
        self.progress.start(total, total - len(todo))
        t0 = time.time()
        self._attempts_began: float | None = None
        try:
            if todo:
                if getattr(factory, "uses_model", True):
                    if self.shared_endpoint is None:
                        self.progress.note(f"model server: opening {describe_model(self.cfg)} ...")
                    async with self._endpoint() as endpoint:
                        self.endpoint = endpoint
                        self.progress.note(f"model server: ready ({time.time() - t0:.0f}s)" if self.shared_endpoint
                                           is None else "model server: shared with other runs (sweep cells, duel runs)")
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
            t1 = time.time()
            began = self._attempts_began if self._attempts_began is not None else t1
            store.set_meta("phases", store.meta("phases", []) + [{"setup_s": began - t0, "attempts_s": t1 - began}])
            store.set_meta("wall_clock_s", store.meta("wall_clock_s", 0.0) + t1 - t0)
            store.set_meta("finished_at", time.time())
        return store

    async def _run_with(self, endpoint: Endpoint | None, todo: list[tuple[Task, int]], factory: GraphFactory,
                        store: RunStore) -> None:
        """The model server's supervisor (sampling, restarts) around the executor, which prepares the
        sandboxes and runs the attempts where `run.executor` says, every try coming back to `_stored`."""
        cfg = self.cfg
        supervisor: ServerSupervisor | None = None
        chat: ChatSettings | None = None
        if endpoint is not None:
            store.set_meta("model_identity", endpoint.identity.model_dump())
            managed = endpoint.server if hasattr(endpoint.server, "wait_exit") else None  # ManagedServer, RayServer
            supervisor = ServerSupervisor(endpoint.root_url, managed, interval_s=cfg.model.server.metrics_interval_s,
                                          max_restarts=cfg.model.server.max_restarts, note=self.progress.note)
            await supervisor.start()
            chat = ChatSettings(base_url=endpoint.base_url, model=endpoint.model,
                                api_key=endpoint.api_key.get_secret_value() if endpoint.api_key else None,
                                temperature=cfg.model.temperature, top_p=cfg.model.top_p,
                                max_tokens=cfg.model.max_tokens, timeout_s=cfg.model.timeout_s,
                                streaming=cfg.model.streaming)
        else:
            store.set_meta("model_identity", {"provider": "none", "served_model_name": "(graph uses no model)"})
        store.set_meta("executor", self.executor.name)

        async def ready() -> None:
            if supervisor is not None:
                await supervisor.up.wait()

        ctx = ExecContext(cfg=cfg, factory=factory, base_dir=Path(self.base_dir).resolve(), run_dir=self.run_dir,
                          run_uid=store.meta("run_uid"), chat=chat,
                          store=lambda result, counts: self._stored(store, result, counts=counts),
                          set_meta=store.set_meta, note=self.progress.note, ready=ready,
                          engine_wait_s=self.engine_wait_s, begin_attempts=self._begin_attempts)
        executor_done = asyncio.Event()

        async def execute() -> None:
            try:
                await self.executor.run(todo, ctx)
            finally:
                executor_done.set()

        try:
            async with asyncio.TaskGroup() as group:  # the supervisor giving up cancels the attempts
                group.create_task(execute())
                if supervisor is not None:
                    group.create_task(supervisor.watch(executor_done))
        except* ServerDied as group_error:
            raise RunError(str(group_error.exceptions[0])) from None
        except* RunError as group_error:  # the executor's (maybe from inside its own task group): as raised
            raise first_leaf(group_error) from None
        else:
            if ctx.stop:
                raise RunError(ctx.stop[0])
        finally:
            if supervisor is not None:
                await run_shielded(supervisor.finish())
                store.set_meta("server_metrics", store.meta("server_metrics", []) + supervisor.segments)
                store.set_meta("server_metrics_samples", store.meta("server_metrics_samples", []) + supervisor.samples)
                if supervisor.deaths:
                    store.set_meta("server_restarts", store.meta("server_restarts", []) + supervisor.deaths)

    def _begin_attempts(self) -> None:
        """The executor's word that setup is over: the run's wall-clock is split here (setup / attempts)."""
        self._attempts_began = time.time()
        self.progress.note("setup done: attempts start")

    def _stored(self, store: RunStore, result: AttemptResult, *, counts: bool = True) -> None:
        """The one place a try is written (the driver is the store's only writer), then the sinks.
        `counts=False`: a try a newer one of the same attempt supersedes (a lost node's): not progress."""
        attempt_id = store.add_attempt(result.record, result.events, result.t_start, result.t_end)
        for sink in self.sinks:
            sink.attempt_stored(attempt_id, result.record, result.events, result.t_start, result.t_end)
        if counts:
            self.progress.advance(result.record)
