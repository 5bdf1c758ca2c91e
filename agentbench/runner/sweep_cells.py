"""Running a sweep's cells: each cell a normal run folder (`Runner`), and one model endpoint per group of
cells whose server settings match (`analysis.sweep.server_key`), so cells that differ only in client-side
settings (sampling, graph, limits, suite filters, run settings) share one managed server.

A group's endpoint is opened when its first cell needs a model (a graph that uses one, with attempts left
to run: a finished or model-free group starts no server) and closed after its last cell, before the next
group's opens (two vLLM servers never hold one GPU). Each server's log is `server.log` in the sweep
folder: every server the sweep starts appends to it, beginning with its command line. Each cell still
records the model identity and its own server metrics (`Runner` samples the server while the cell runs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import Any

from agentbench.analysis.results import Cell
from agentbench.analysis.sweep import server_groups
from agentbench.config.schema import ExperimentConfig
from agentbench.models.endpoint import Endpoint, open_endpoint
from agentbench.runner.progress import ProgressSink
from agentbench.runner.runner import Runner, open_run_endpoint
from agentbench.store import RunStore

Opener = Callable[..., AbstractAsyncContextManager[Endpoint]]
"""`models.endpoint.open_endpoint`'s signature: (model config, log folder, ray_address=, ray_runtime_env=,
tracing=) -> async context manager of an Endpoint."""


class SharedEndpoint:
    """One group's endpoint: opened by the first call (`await shared()`, what `Runner(endpoint=...)` does when
    its run needs a model), the same one returned after; closed by `aclose`."""

    def __init__(self, cfg: ExperimentConfig, log_dir: Path, opener: Opener = open_endpoint) -> None:
        self.cfg = cfg
        self.log_dir = Path(log_dir)
        self.opener = opener
        self._stack = AsyncExitStack()
        self._endpoint: Endpoint | None = None

    async def __call__(self) -> Endpoint:
        if self._endpoint is None:
            self._endpoint = await self._stack.enter_async_context(
                open_run_endpoint(self.cfg, self.log_dir, self.opener))
        return self._endpoint

    async def aclose(self) -> None:
        self._endpoint = None
        await self._stack.aclose()


async def run_cells(cells: Sequence[tuple[Cell, ExperimentConfig]], sweep_dir: Path, *,
                    progress: Callable[[ExperimentConfig], ProgressSink],
                    started: Callable[[int, Cell, Path], Any] = lambda i, cell, run_dir: None,
                    finished: Callable[[Path, RunStore], Any] = lambda run_dir, store: None,
                    opener: Opener = open_endpoint, **runner_args: Any) -> None:
    """Run every cell into `sweep_dir / cell.name`, group by server group: `started(plan index, cell, run
    folder)` before a cell, `finished(run folder, store)` after it (the store is closed after the call);
    `progress(cfg)` makes each cell's progress sink; `runner_args` go to every `Runner`."""
    for group in server_groups([cfg for _, cfg in cells]):
        shared = SharedEndpoint(cells[group[0]][1], sweep_dir, opener)
        try:
            for i in group:
                cell, cfg = cells[i]
                run_dir = Path(sweep_dir) / cell.name
                started(i, cell, run_dir)
                store = await Runner(cfg, run_dir, progress=progress(cfg), endpoint=shared, **runner_args).run()
                try:
                    finished(run_dir, store)
                finally:
                    store.close()
        finally:
            await shared.aclose()
