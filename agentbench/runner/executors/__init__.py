"""How attempts are placed (`run.executor`): `local` (asyncio workers in this process, local.py) or `ray`
(actors on the nodes of a Ray cluster, ray.py; their side in ray_worker.py). The contract is in base.py;
the assembly of what an attempt needs, wherever it runs, in deps.py; the Ray executor's pure decisions in
placement.py."""

from __future__ import annotations

from agentbench.runner.executors.base import Executor


def make_executor(name: str) -> Executor:
    if name == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            from agentbench.runner.errors import RunError

            raise RunError("run.executor: ray needs Ray: pip install 'agentbench[ray]' (on the driver and on "
                           "every node)") from None
        from agentbench.runner.executors.ray import RayExecutor

        return RayExecutor()
    from agentbench.runner.executors.local import LocalExecutor

    return LocalExecutor()
