"""`run.executor: ray`: attempts as calls on Ray actors placed on the nodes of a cluster.

The driver (this process) connects to `run.ray.address` (else $RAY_ADDRESS, else a local cluster it starts
and stops), finds the alive nodes that hold an attempt's resources (`run.ray.num_cpus`, `memory_mb`,
`resources`: by default `docker: 1`, so only nodes that advertise an engine get attempts), builds the
images on each of them once (`prepare_node`, pinned to the node; a node whose prepare fails gets no
attempts), starts `min(run.concurrency, room)` attempt workers spread over them, checks the SWE-bench
environments once (on one worker) and feeds the workers one attempt at a time. Every result comes back
here and goes through `ctx.stored`: the driver stays the one writer of run.sqlite.

Failures: a worker process or its node dying mid-attempt (Ray raises one of placement.LOSSES) stores an
`error` try with reason `node_lost` and places the attempt again as its next try, at most
`run.ray.max_node_retries` times; the lost worker's containers are removed from the engines of the nodes
that are left; the slot moves to a node with room. A node whose Docker engine stops answering gets no more
attempts (the attempt it cut off is placed again). No node left: the run stops, naming --resume.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import uuid
from typing import Any

from agentbench.runner.errors import RunError
from agentbench.runner.executors.base import ExecContext, Item, lost_attempt, store_broken
from agentbench.runner.executors.placement import (WORKER_LABEL, Slots, actor_options, attempt_resources,
                                                   describe_nodes, is_loss, node_slots, place_again, spread)
from agentbench.runner.executors.ray_cluster import address_hint, connect, loopback_warning
from agentbench.runner.executors.ray_worker import AttemptWorker, WorkerSpec, prepare_node, prune_node
from agentbench.scoring.env_checks import swe_tasks_to_check

CLOSE_TIMEOUT_S = 60.0
NODE_POLL_S = 1.0  # while a worker starts: how often its node's liveness is checked


class _NodeGone(RuntimeError):
    pass


async def _awaited(ref: Any) -> Any:
    return await ref


class RayExecutor:
    name = "ray"

    def __init__(self) -> None:
        self.timings: list[tuple[float, float, float, float]] = []  # (sent, received, attempt start, end)
        self.nodes_used: set[str] = set()
        self._lost_workers: list[str] = []
        self._prunes: list[Any] = []

    async def run(self, todo: list[Item], ctx: ExecContext) -> None:
        import ray

        cfg = ctx.cfg
        target = min(cfg.run.concurrency, len(todo))
        started = connect(ctx, target)  # in the loop's thread: ray.init wants the main thread
        self._ctx = ctx
        self._workers: dict[str, tuple[Any, str]] = {}  # worker uid -> (actor, node)
        try:
            nodes = await self._prepare(todo, ctx)
            self._nodes = Slots(nodes)
            first = [await self._start(n) for n in spread(nodes, target)]
            ready = [w for w in await asyncio.gather(*(self._ready(w) for w in first)) if w is not None]
            if not ready:
                raise RunError(f"no attempt worker could start on the Ray cluster at "
                               f"{address_hint(cfg.run.ray.address)} (run.ray.address)")
            todo = await self._check_environments(todo, ready)
            ctx.begin_attempts()
            self._queue: collections.deque[Item] = collections.deque(todo)
            self._losses: collections.Counter[tuple[str, int]] = collections.Counter()
            self._in_flight = 0  # attempts sent and not back: a loss among them puts one back in the queue
            self._changed = asyncio.Condition()
            async with asyncio.TaskGroup() as group:
                for worker in ready:
                    group.create_task(self._slot(worker))
            if self._queue and not ctx.stop:
                ctx.stop.append(f"no node of the Ray cluster is left to run attempts ({len(self._queue)} not run); "
                                f"finished attempts are kept: bring nodes back and run `agentbench run --resume "
                                f"{ctx.run_dir}`")
        finally:
            await self._close_all()
            if started:
                ray.shutdown()

    async def _prepare(self, todo: list[Item], ctx: ExecContext) -> dict[str, int]:
        """Room per node that holds an attempt's resources and whose images are built (or found)."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        cfg = ctx.cfg
        need = attempt_resources(cfg)
        rows = await asyncio.to_thread(ray.nodes)
        room = {row["NodeID"]: node_slots(row, need) for row in rows}
        room = {n: r for n, r in room.items() if r > 0}
        if not room:
            raise RunError(f"no node of the Ray cluster at {address_hint(cfg.run.ray.address)} (run.ray.address) "
                           f"holds what one attempt needs ({', '.join(f'{k} {v:g}' for k, v in need.items())}; "
                           f"run.ray.num_cpus / memory_mb / resources); nodes: {describe_nodes(rows)}")
        if far := loopback_warning(ctx, rows, room):
            ctx.note(far)
        tasks = list({t.id: t for t, _ in todo}.values())
        remote = ray.remote(prepare_node)
        registry = cfg.run.ray.image_registry

        def prepare(node: str, share: str) -> Any:
            return remote.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
                node, soft=False)).remote(cfg.sandbox, ctx.run_uid, tasks, registry, share)

        first = next(iter(room))
        if registry:  # the first node builds and pushes before the others pull
            refs = {first: prepare(first, "push")}
            with contextlib.suppress(Exception):  # its failure is reported below
                await refs[first]
            refs.update({n: prepare(n, "pull") for n in room if n != first})
        else:
            refs = {n: prepare(n, "") for n in room}
        broken: dict[str, str] = {}
        hosts: dict[str, str] = {}
        for node, ref in refs.items():
            try:
                out = await ref
            except Exception as exc:  # noqa: BLE001 - this node gets no attempts
                ctx.note(f"node {node[:12]} gets no attempts: preparing its sandboxes failed: "
                         f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}")
                room.pop(node)
                continue
            for line in out["log"]:
                ctx.note(f"[{out['host']} {node[:8]}] {line}")
            broken.update(out["broken"])
            hosts[node] = out["host"]
            ctx.set_meta("sandbox_backend", out["backend"])
        ctx.set_meta("ray_nodes", hosts)  # the nodes prepared for attempts: id -> host
        if not room:
            raise RunError("no node of the Ray cluster could prepare the run's sandboxes (see above)")
        self._todo_broken = broken
        return room

    async def _check_environments(self, todo: list[Item], ready: list[str]) -> list[Item]:
        """The SWE-bench environment check, once, on the first worker that stays alive through it."""
        cfg, ctx = self._ctx.cfg, self._ctx
        broken = dict(self._todo_broken)
        check = swe_tasks_to_check([t for t, _ in todo], broken)
        for uid in list(ready) if check and cfg.run.env_check != "off" else []:
            try:
                found, notes = await self._workers[uid][0].check_environments.remote(
                    check, cfg.run.env_check, cfg.run.concurrency)
            except Exception as exc:
                if not is_loss(exc):
                    raise RunError(f"the SWE-bench environment check failed on the Ray cluster: {exc}") from None
                ready.remove(uid)
                self._drop(uid, lost=True)
                continue
            for line in notes:
                ctx.note(line)
            broken.update(found)
            break
        else:
            if check and cfg.run.env_check != "off":
                raise RunError("every attempt worker was lost during the SWE-bench environment check")
        return store_broken(todo, broken, ctx)

    async def _start(self, node: str) -> str:
        """A new attempt worker pinned to `node` (its slot is taken); its uid."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ctx = self._ctx
        uid = uuid.uuid4().hex[:16]
        spec = WorkerSpec(config=ctx.cfg, chat=ctx.chat, base_dir=str(ctx.base_dir), run_uid=ctx.run_uid,
                          worker_uid=uid)
        actor = ray.remote(AttemptWorker).options(
            **actor_options(ctx.cfg), scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(spec)
        self._workers[uid] = (actor, node)
        self._nodes.take(node)
        return uid

    async def _ready(self, uid: str) -> str | None:
        """The worker once it answers (its deps built); None, and its slot freed, when it cannot start."""
        actor, node = self._workers[uid]
        answer = asyncio.ensure_future(_awaited(actor.ready.remote()))
        deadline = time.monotonic() + self._ctx.cfg.run.ray.ready_timeout_s
        try:
            while not (await asyncio.wait({answer}, timeout=NODE_POLL_S))[0]:
                # a worker pinned to a node that died is never placed: Ray would keep it pending
                if not await self._alive(node):
                    raise _NodeGone("its node is gone")
                if time.monotonic() > deadline:
                    raise TimeoutError
            answer.result()
            return uid
        except Exception as exc:  # noqa: BLE001 - a loss, a timeout (no room), or the deps failing to build
            answer.cancel()
            why = "did not start within run.ray.ready_timeout_s" if isinstance(exc, TimeoutError) else \
                (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            self._ctx.note(f"an attempt worker on node {node[:12]} could not start ({why}): the node gets no "
                           f"more attempts")
            self._drop(uid, lost=is_loss(exc) or isinstance(exc, _NodeGone))
            self._nodes.out.add(node)  # the same would happen to every worker there
            return None

    def _drop(self, uid: str, lost: bool) -> None:
        import ray

        actor, node = self._workers.pop(uid)
        self._nodes.release(node)
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - gone with its node
            pass
        if lost:
            self._lost_workers.append(uid)
            self._prunes.append(asyncio.ensure_future(self._prune([uid])))

    async def _slot(self, uid: str | None) -> None:
        """One attempt at a time on one worker; after a loss, on a new worker (on a node with room)."""
        while uid is not None:
            node = self._workers[uid][1]
            outcome = await self._serve(uid)
            if outcome == "done":
                return
            self._drop(uid, lost=outcome == "lost")  # else "retired": this node's engine is gone
            uid = await self._replace(node)

    async def _replace(self, node: str) -> str | None:
        """A new worker after one on `node` ended: on `node` again while Ray says it is alive (a worker
        crash), else on the node with the most room; None when no node has room (or nothing is left to do)."""
        while self._queue and not self._ctx.stop:
            if node not in self._nodes.out and not await self._alive(node):
                self._nodes.out.add(node)
            place = self._nodes.pick(prefer=node)
            if place is None:
                return None
            uid = await self._ready(await self._start(place))  # a worker that cannot start puts its node out
            if uid is not None:
                return uid
            node = place
        return None

    async def _serve(self, uid: str) -> str:
        """Attempts on this worker until the queue is empty (`done`), it is lost (`lost`) or its node retired."""
        ctx = self._ctx
        actor, node = self._workers[uid]
        docker = ctx.cfg.sandbox.backend != "local"
        while not ctx.stop:
            await ctx.ready()  # no new attempt while the model server restarts
            if node in self._nodes.out:
                return "retired"
            if ctx.stop or not await self._work_left():
                break
            task, epoch = self._queue.popleft()
            sent = time.time()
            self._in_flight += 1
            try:
                try:
                    result = await actor.run.remote(task, epoch)
                except Exception as exc:
                    if not is_loss(exc):
                        raise RunError(f"an attempt worker on node {node[:12]} failed ({type(exc).__name__}); is "
                                       f"the same agentbench installed on every node? {exc}") from None
                    self._lost(task, epoch, sent, f"{type(exc).__name__}: {str(exc).strip()[:500]}", node)
                    return "lost"
                self.timings.append((sent, time.time(), result.t_start, result.t_end))
                self.nodes_used.add(node)
                if result.record.reason == "sandbox" and docker and not await self._engine_ok(actor):
                    ctx.note(f"the Docker engine on node {node[:12]} stopped answering: it gets no more attempts")
                    self._nodes.out.add(node)
                    self._again(task, epoch, result)
                    return "retired"
                ctx.stored(result)
            finally:
                self._in_flight -= 1
                async with self._changed:  # an idle worker waits for this: the queue may hold a lost attempt
                    self._changed.notify_all()
        return "done"

    async def _work_left(self) -> bool:
        """True when an attempt is queued. With the queue empty, an idle worker keeps its slot while attempts
        are in flight elsewhere (a lost one comes back to the queue); False once none can come back."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._queue or self._in_flight == 0 or self._ctx.stop)
        return bool(self._queue) and not self._ctx.stop

    async def _engine_ok(self, actor: Any) -> bool:
        try:
            return bool(await asyncio.wait_for(actor.engine_answers.remote(), 30))
        except Exception:  # noqa: BLE001 - lost meanwhile, or no answer: either way, not usable
            return False

    def _lost(self, task, epoch: int, sent: float, detail: str, node: str) -> None:
        self._again(task, epoch, lost_attempt(task, epoch, sent, detail, node))

    def _again(self, task, epoch: int, result) -> None:
        """Store this try; place the attempt again as its next try unless it was placed too often."""
        key = (task.id, epoch)
        self._losses[key] += 1
        again = place_again(self._losses[key], self._ctx.cfg.run.ray.max_node_retries)
        self._ctx.stored(result, counts=not again)
        if again:
            self._queue.appendleft((task, epoch))
            self._ctx.note(f"{task.id} (epoch {epoch}): {result.record.error}; placed again as its next try")
        else:
            self._ctx.note(f"{task.id} (epoch {epoch}) lost its node {self._losses[key]} times "
                           f"(run.ray.max_node_retries): left as `error`; --resume runs it again")

    async def _alive(self, node: str) -> bool:
        import ray

        rows = await asyncio.to_thread(ray.nodes)
        return any(r["NodeID"] == node and r.get("Alive") for r in rows)

    async def _prune(self, workers: list[str] | None) -> None:
        """Remove these lost workers' containers (None: every container of the run) from the engines of the
        nodes still there, one call per node, all under one deadline."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if self._ctx.cfg.sandbox.backend == "local":
            return
        remote = ray.remote(prune_node)
        nodes = [n for n in self._nodes.room if n not in self._nodes.out]
        selectors = [{"agentbench.run": self._ctx.run_uid}] if workers is None else \
            [{"agentbench.run": self._ctx.run_uid, WORKER_LABEL: w} for w in workers]
        refs = [remote.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
            n, soft=False)).remote(labels) for n in nodes for labels in selectors]
        # a node that went too (or hangs): the resume's prepare prunes it
        await asyncio.wait([asyncio.ensure_future(_awaited(r)) for r in refs], timeout=CLOSE_TIMEOUT_S) if refs \
            else None

    async def _close_all(self) -> None:
        """Let every worker finish its container removals, end the workers, and prune after the losses."""
        import ray

        workers = list(self._workers.values())

        async def close(actor: Any) -> None:
            try:
                await asyncio.wait_for(actor.close.remote(), CLOSE_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - lost, or never started
                pass
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - gone with its node
                pass

        await asyncio.gather(*(close(a) for a, _ in workers))
        self._workers.clear()
        await asyncio.gather(*self._prunes, return_exceptions=True)
        if hasattr(self, "_nodes"):
            # every attempt has ended or was cut off (Ctrl-C, the run stopping): no container of the run is
            # still in use, so whatever carries its label on a node left over (also a dying worker's late one)
            await self._prune(None)
