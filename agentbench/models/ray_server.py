"""A managed model server placed on a Ray cluster node (`model.server.placement: ray`).

`RayServer` has the `ManagedServer` interface the endpoint and the supervisor use (`root_url`, `base_url`,
`start`, `stop`, `wait_exit`, `exit_code`, `log_tail`), so metrics sampling and restarts work unchanged when
the server is not on the driver's node. The process itself is a `ManagedServer` inside one Ray actor,
`ServerActor`, that Ray places on a node with the resources `model.server.ray_resources` asks for. With
`distributed_executor_backend: mp` the actor holds the GPUs (`{GPU: tensor_parallel_size}`, one node) and
the server inherits them (Ray sets CUDA_VISIBLE_DEVICES); with `ray`, vLLM places its own GPU workers
through placement groups on this cluster (the server gets RAY_ADDRESS), so the actor asks for no GPU. The server listens on that node's IP, so every
worker node reaches it; its log stays on that node (`log_tail` reads it through the actor).

Failures: the server process dying is seen through `wait_exit` (an actor call that returns its exit code)
and restarted by the supervisor on the same node and port (the actor lives on). The actor or its node
dying ends `wait_exit` with `NODE_LOST_EXIT`; a restart then places a new actor, which may land on another
node — and a new address the run's clients do not know: `start` refuses that with a `ServerStartError`
(the run stops, finished attempts are kept, `--resume` starts a fresh server).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from agentbench.models.server import ServerSpec, ServerStartError

NODE_LOST_EXIT = -1001  # wait_exit's code when the actor (or its node) is gone, not the process


def placed_spec(spec: ServerSpec, host: str) -> ServerSpec:
    """The spec with the server listening on `host` (the node's IP) instead of loopback (pure)."""
    argv = list(spec.argv)
    for i, arg in enumerate(argv[:-1]):
        if arg == "--host":
            argv[i + 1] = host
    return spec.model_copy(update={"argv": argv, "host": host})


def uses_ray_backend(argv: list[str]) -> bool:
    """vLLM places its own tensor/pipeline-parallel workers on the cluster (pure)."""
    return any(a == "--distributed-executor-backend" and b == "ray" for a, b in zip(argv, argv[1:])) or \
        "--distributed-executor-backend=ray" in argv


def actor_options(resources: dict[str, float]) -> dict[str, Any]:
    """Ray actor options from `model.server.ray_resources` (pure): CPU and GPU are Ray's own keywords, any
    other key a custom resource. The actor is never restarted by Ray: the supervisor decides."""
    res = dict(resources)
    options: dict[str, Any] = {"num_cpus": res.pop("CPU", 1), "max_restarts": 0, "max_concurrency": 8}
    if "GPU" in res:
        options["num_gpus"] = res.pop("GPU")
    if "memory_mb" in res:
        options["memory"] = int(res.pop("memory_mb") * 1024 * 1024)
    if res:
        options["resources"] = res
    return options


def fits(nodes: list[dict[str, Any]], resources: dict[str, float]) -> bool:
    """Whether some alive node (`ray.nodes()` rows) offers all of `resources` in total (pure)."""
    wanted = {("memory" if k == "memory_mb" else k): (v * 1024 * 1024 if k == "memory_mb" else v)
              for k, v in resources.items()}
    return any(node.get("Alive") and all(node.get("Resources", {}).get(k, 0) >= v for k, v in wanted.items())
               for node in nodes)


class ServerActor:
    """Runs on the chosen node (wrapped by `ray.remote` in `RayServer.start`): one ManagedServer there."""

    def __init__(self, spec_json: str, log_path: str) -> None:
        import ray

        from agentbench.models.server import ManagedServer

        self.node_ip = ray.util.get_node_ip_address()
        self.node_id = ray.get_runtime_context().get_node_id()
        spec = placed_spec(ServerSpec.model_validate_json(spec_json), self.node_ip)
        if uses_ray_backend(spec.argv) and "RAY_ADDRESS" not in spec.env:  # vLLM joins this cluster
            spec = spec.model_copy(update={"env": {**spec.env,
                                                   "RAY_ADDRESS": ray.get_runtime_context().gcs_address}})
        self.server = ManagedServer(spec, Path(log_path))

    def where(self) -> dict[str, str]:
        return {"node_ip": self.node_ip, "node_id": self.node_id, "root_url": self.server.root_url}

    async def start(self) -> str:
        await self.server.start()
        return self.server.root_url

    async def stop(self) -> None:
        await self.server.stop()

    async def wait_exit(self) -> int | None:
        return await self.server.wait_exit()

    def exit_code(self) -> int | None:
        return self.server.exit_code()

    def pid(self) -> int | None:
        return self.server.pid

    def log_tail(self, lines: int) -> str:
        return self.server.log_tail(lines)


def _offers(nodes: list[dict[str, Any]]) -> str:
    return "; ".join(", ".join(f"{k}={v:g}" for k, v in sorted(n.get("Resources", {}).items())
                               if k in ("CPU", "GPU") or not k.startswith(("node:", "memory", "object_store")))
                     for n in nodes if n.get("Alive")) or "none alive"


async def _awaited(ref: Any) -> Any:
    return await ref


class RayServer:
    """The driver's handle on a server in a `ServerActor` (see the module docstring)."""

    def __init__(self, spec: ServerSpec, log_path: Path, *, resources: dict[str, float],
                 address: str | None = None, runtime_env: dict[str, Any] | None = None,
                 place_timeout_s: float = 600.0) -> None:
        self.spec = spec
        self.runtime_env = runtime_env  # run.ray.runtime_env: this connection is the attempt workers' too
        self.place_timeout_s = place_timeout_s
        self.log_path = log_path  # on the server's node (and where the driver writes what it fetched)
        self.resources = resources
        self.address = address
        self._actor: Any = None
        self._root_url: str | None = None
        self._exit: int | None = None
        self.node: dict[str, str] = {}

    @property
    def root_url(self) -> str:
        if self._root_url is None:
            raise ServerStartError("the Ray-placed model server has not started")
        return self._root_url

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    def _connect(self) -> None:
        import ray

        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS") or None
            if address is None:  # a cluster started here would lack what attempts need (its `docker` resource)
                raise ServerStartError("model.server.placement: ray places the server on an existing Ray "
                                       "cluster: set run.ray.address or RAY_ADDRESS (start one with `ray start "
                                       "--head`; docs/scaling.md)")
            try:
                ray.init(address=address, include_dashboard=False, logging_level="WARNING",
                         log_to_driver=False, **({"runtime_env": self.runtime_env} if self.runtime_env else {}))
            except (ConnectionError, RuntimeError) as exc:
                raise ServerStartError(f"model.server.placement: ray, but no Ray cluster answers at "
                                       f"{address or '(a local one)'}: {exc}") from exc

    async def start(self) -> None:
        """Start the server (or restart it after its process died, on the same node and port)."""
        import ray

        self._connect()
        if self._actor is not None and self._exit == NODE_LOST_EXIT:
            self._actor = None  # gone with its node
        if self._actor is None:
            if not fits(ray.nodes(), self.resources):
                raise ServerStartError(f"no node of the Ray cluster offers model.server.ray_resources="
                                       f"{self.resources} (nodes: {_offers(ray.nodes())})")
            options = actor_options(self.resources)
            if self.node.get("node_id"):  # a restart: back on the node it served from, if that node can
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(self.node["node_id"], soft=True)
            self._actor = ray.remote(ServerActor).options(**options).remote(self.spec.model_dump_json(),
                                                                            str(self.log_path))
            try:  # bounded: a request that fits a node but finds none free would stay pending
                where = await asyncio.wait_for(_awaited(self._actor.where.remote()), self.place_timeout_s)
            except (ray.exceptions.RayError, asyncio.TimeoutError) as exc:
                ray.kill(self._actor)
                self._actor = None
                why = (f"no node had them free within {self.place_timeout_s:.0f} s"
                       if isinstance(exc, asyncio.TimeoutError) else str(exc))
                raise ServerStartError(f"no Ray node could host the model server (model.server.ray_resources="
                                       f"{self.resources}): {why}") from None
            if self._root_url is not None and where["root_url"] != self._root_url:
                ray.kill(self._actor)
                self._actor = None
                raise ServerStartError(f"the model server's node was lost; a new one would serve at "
                                       f"{where['root_url']} instead of {self._root_url}, which the run's clients "
                                       "do not know: run again with --resume")
            self.node = where
        self._exit = None
        try:
            self._root_url = await self._actor.start.remote()
        except ray.exceptions.RayTaskError as exc:  # the ServerStartError raised inside the actor
            raise ServerStartError(str(exc.cause if getattr(exc, "cause", None) else exc)) from None
        except ray.exceptions.RayError as exc:
            raise ServerStartError(f"the model server's Ray actor died while starting: {exc}") from exc

    async def stop(self) -> None:
        import ray

        actor = self._actor
        if actor is None:
            return
        try:
            await actor.stop.remote()
        except ray.exceptions.RayError:
            pass  # gone with its node
        if self._exit == NODE_LOST_EXIT:
            self._actor = None

    async def aclose(self) -> None:
        """Stop the server and end its actor (the run's end)."""
        import ray

        await self.stop()
        if self._actor is not None:
            ray.kill(self._actor)
            self._actor = None

    async def wait_exit(self) -> int | None:
        import ray

        if self._actor is None:
            return None
        try:
            self._exit = await self._actor.wait_exit.remote()
        except ray.exceptions.RayError:
            self._exit = NODE_LOST_EXIT
        return self._exit

    def exit_code(self) -> int | None:
        return self._exit

    async def pid(self) -> int | None:
        """The server process's pid on its node (None when none runs)."""
        return None if self._actor is None else await self._actor.pid.remote()

    def log_tail(self, lines: int) -> str:
        import ray

        if self._actor is None or self._exit == NODE_LOST_EXIT:
            return f"(the server's node is gone; its log was {self.log_path} there)"
        try:
            return ray.get(self._actor.log_tail.remote(lines), timeout=10)
        except ray.exceptions.RayError as exc:
            return f"(the server's log could not be read: {exc})"

    async def __aenter__(self) -> RayServer:
        try:
            await self.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.shield(self.aclose())
