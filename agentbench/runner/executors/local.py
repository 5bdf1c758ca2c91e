"""`run.executor: local`: every attempt in this process, `run.concurrency` asyncio workers over one queue.

The sandbox provider, the scorer and the chat model are built once, here; the provider builds the images
the tasks need and the SWE-bench environments are checked before the first attempt. No new attempt
starts while the managed model server restarts (`ctx.ready`), nor while the Docker engine does not answer
(after a sandbox error; up to `ctx.engine_wait_s`, then the run stops naming --resume); a refused key stops
the run.
"""

from __future__ import annotations

import asyncio
import time

from agentbench.protocols import SandboxProvider
from agentbench.runner.episode import AttemptDeps, run_attempt
from agentbench.runner.executors.base import ExecContext, Item, store_broken
from agentbench.runner.executors.deps import attempt_deps, run_sandboxes
from agentbench.runner.model_wiring import model_maker
from agentbench.sandbox.base import run_shielded
from agentbench.sandbox.engine import engine_answers
from agentbench.scoring.dispatch import KindScorer
from agentbench.scoring.env_checks import check_environments, swe_tasks_to_check

ENGINE_WAIT_ENV = "AGENTBENCH_ENGINE_WAIT_S"  # how long a run waits for a Docker engine that stopped answering
ENGINE_WAIT_S = 120.0


class LocalExecutor:
    name = "local"

    async def run(self, todo: list[Item], ctx: ExecContext) -> None:
        cfg = ctx.cfg
        sandboxes = run_sandboxes(cfg, log=ctx.note, run_id=ctx.run_uid)
        ctx.set_meta("sandbox_backend", sandboxes.name)
        make_model, http = model_maker(ctx.chat, cfg)
        try:
            scorer = self.make_scorer(sandboxes)
            tasks = [t for t, _ in todo]
            ctx.note(f"sandboxes: preparing {sandboxes.name} sandboxes for {len({t.id for t in tasks})} task(s) ...")
            # build the images the run needs, and check that each environment runs its tests, before any
            # attempt starts: a task whose environment is broken is `error` for every epoch, never `failed`
            broken = await asyncio.to_thread(sandboxes.prepare, tasks) or {}
            broken.update(await check_environments(scorer.swe, swe_tasks_to_check(tasks, broken), cfg.run.env_check,
                                                   cfg.run.concurrency, ctx.note))
            todo = store_broken(todo, broken, ctx)
            deps = attempt_deps(cfg, ctx.factory, sandboxes, scorer, make_model)
            ctx.begin_attempts()
            await self._workers(todo, deps, ctx, docker=sandboxes.name == "docker")
        finally:
            await run_shielded(sandboxes.aclose())  # containers still being removed
            if http is not None:
                await http.aclose()

    def make_scorer(self, sandboxes: SandboxProvider) -> KindScorer:
        """The run's scorer (`agentbench grade` takes each attempt's outcome from a predictions file instead)."""
        return KindScorer(sandboxes)

    async def _workers(self, todo: list[Item], deps: AttemptDeps, ctx: ExecContext, docker: bool) -> None:
        queue: asyncio.Queue[Item] = asyncio.Queue()
        for item in todo:
            queue.put_nowait(item)
        engine_up = asyncio.Event()  # cleared while the Docker engine does not answer
        engine_up.set()
        engine_check = asyncio.Lock()
        stop = ctx.stop

        async def worker() -> None:
            while not stop:
                await ctx.ready()  # no new attempt while the server restarts
                await engine_up.wait()  # nor while the Docker engine is away
                if stop:
                    return
                try:
                    task, epoch = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                result = await run_attempt(task, epoch, deps)
                ctx.stored(result)
                if result.record.reason == "sandbox" and docker and not stop:
                    await wait_for_engine(ctx, engine_up, engine_check)

        async with asyncio.TaskGroup() as workers:  # one worker failing cancels the others
            for _ in range(min(ctx.cfg.run.concurrency, len(todo))):
                workers.create_task(worker())


async def wait_for_engine(ctx: ExecContext, engine_up: asyncio.Event, check: asyncio.Lock) -> None:
    """After a sandbox error on Docker: if the engine no longer answers, start no attempt until it does
    (up to `ctx.engine_wait_s`), then go on; past that the run stops with the reason in `ctx.stop`."""
    async with check:
        if ctx.stop or await asyncio.to_thread(engine_answers):
            return  # an ordinary sandbox error, or another worker already waited the engine back
        engine_up.clear()
        ctx.note(f"the Docker engine stopped answering; no new attempt starts until it is back "
                 f"(waiting up to {ctx.engine_wait_s:.0f} s)")
        deadline = time.monotonic() + ctx.engine_wait_s
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                if await asyncio.to_thread(engine_answers):
                    ctx.note("the Docker engine answers again: the run goes on (attempts it cut off "
                             "are `error`; --resume reruns them)")
                    return
            ctx.stop.append(f"the Docker engine stopped answering and was not back within {ctx.engine_wait_s:.0f} s "
                            f"({ENGINE_WAIT_ENV}); the run stopped, finished attempts are kept: start the engine and "
                            f"run `agentbench run --resume {ctx.run_dir}`")
        finally:
            engine_up.set()
