"""Running a sweep with successive elimination (`agentbench sweep --eliminate`): within each server group
(`analysis.sweep.server_groups`: the cells that share one model server), the arms run the tasks of one
seeded order interleaved, and an arm decided worse than the group's best is dropped
(`analysis.elimination`; the statistics and their guarantee are there).

Each arm is still an ordinary run folder, run by `Runner(only=...)` a block of tasks at a time: every live
arm runs the next `run.concurrency` tasks of the order (the fewest among the group's arms), at its usual
parallelism, then the block's tasks are fed to the elimination one by one, in order. So the decisions are
taken after each task; an arm dropped inside a block has spent up to concurrency − 1 attempts past its drop
(recorded as spent). The group stops when one arm is left (or the tasks run out); a dropped arm's folder is
a partial run that `agentbench run --resume` can complete. A group of one arm runs every task.

Groups run one after another, so servers are never interleaved (an arm is compared only within its group).
The state of every group is rebuilt from the run folders when the sweep is run again (the finished tasks
are not rerun, so the same decisions come back) and written to `elimination.json` in the sweep folder
after each block.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentbench.analysis.elimination import EliminationState
from agentbench.analysis.results import Cell, EliminationPlan, SweepError
from agentbench.analysis.sweep import server_groups
from agentbench.config.schema import ExperimentConfig
from agentbench.models.endpoint import open_endpoint
from agentbench.runner.duel import task_order
from agentbench.runner.progress import ProgressSink
from agentbench.runner.runner import Runner
from agentbench.runner.sweep_cells import Opener, SharedEndpoint
from agentbench.store import RunStore
from agentbench.suites.filters import filter_tasks
from agentbench.suites.loader import load_suite

STATE_NAME = "elimination.json"


def cell_task_ids(cfg: ExperimentConfig) -> list[str]:
    """The task ids a cell runs: its suite after its filters, as `Runner.prepare` reads them."""
    mirror = Path(cfg.suite.repo_mirror).expanduser() if cfg.suite.repo_mirror else None
    return [t.id for t in filter_tasks(load_suite(cfg.suite.name, repo_mirror=mirror)[1], cfg.suite.ids,
                                       cfg.suite.levels, cfg.suite.limit)]


def elimination_plan(configs: Sequence[ExperimentConfig], alpha: float, seed: int) -> EliminationPlan:
    """The plan's elimination settings: the tasks (every cell must run the same ones) in the order of `seed`,
    the duel's (`runner.duel.task_order`: the suite order shuffled). SweepError when the cells' tasks differ."""
    if not 0.0 < alpha < 1.0:
        raise SweepError(f"--eliminate-alpha must be in (0, 1), got {alpha}")
    ids = [cell_task_ids(cfg) for cfg in configs]
    if any(set(i) != set(ids[0]) for i in ids):
        raise SweepError("--eliminate compares the cells task by task, so every cell must run the same tasks; the "
                         "grid changes the suite or its filters (suite.*): move that factor to --set or drop "
                         "--eliminate")
    return EliminationPlan(alpha=alpha, seed=seed, task_order=task_order(ids[0], seed))


def outcome(rows: list[dict[str, Any]], task_id: str) -> float | None:
    """An arm's outcome on a task: the share of its scored (not `error`) epochs solved; None when none is."""
    scored = [r["status"] == "solved" for r in rows if r["task_id"] == task_id and r["status"] != "error"]
    return sum(scored) / len(scored) if scored else None


def write_states(sweep_dir: Path, states: Sequence[EliminationState | None]) -> None:
    (Path(sweep_dir) / STATE_NAME).write_text(json.dumps(
        {"groups": [None if s is None else s.model_dump(mode="json") for s in states]}, indent=1))


async def run_eliminating(cells: Sequence[tuple[Cell, ExperimentConfig]], sweep_dir: Path, plan: EliminationPlan,
                          *, progress: Callable[[ExperimentConfig], ProgressSink],
                          decided: Callable[[int, EliminationState, list[str]], Any] = lambda g, state, dropped: None,
                          finished: Callable[[Path, RunStore], Any] = lambda run_dir, store: None,
                          opener: Opener = open_endpoint,
                          **runner_args: Any) -> tuple[list[list[str]], list[EliminationState | None]]:
    """Run the cells with successive elimination, group by server group; `decided(group, state, arms dropped
    by this task)` after each task fed, `finished(run folder, store)` once per arm when its group is over.
    Returns the groups (cell names) and each group's final state (None for a group of one arm)."""
    groups = server_groups([cfg for _, cfg in cells])
    states: list[EliminationState | None] = []
    for g, group in enumerate(groups):
        arms = {cells[i][0].name: cells[i][1] for i in group}
        shared = SharedEndpoint(cells[group[0]][1], sweep_dir, opener)

        async def run(name: str, only: list[str] | None) -> list[dict[str, Any]]:
            store = await Runner(arms[name], Path(sweep_dir) / name, progress=progress(arms[name]), endpoint=shared,
                                 only=only, **runner_args).run()
            try:
                return store.attempt_rows()
            finally:
                store.close()

        try:
            if len(arms) == 1:
                await run(next(iter(arms)), None)
                states.append(None)
            else:
                state = EliminationState(arms=list(arms), alpha=plan.alpha, budget=len(plan.task_order))
                block = min(cfg.run.concurrency for cfg in arms.values())
                while not state.done:
                    tasks = plan.task_order[len(state.tasks):len(state.tasks) + block]
                    rows = {name: await run(name, tasks) for name in state.live}
                    for task in tasks:
                        if state.done:
                            break
                        before = set(state.live)
                        state = state.add(task, {name: outcome(rows[name], task) for name in state.live})
                        decided(g, state, [a for a in state.arms if a in before and a not in state.live])
                    write_states(sweep_dir, [*states, state])
                states.append(state)
        finally:
            await shared.aclose()
        for name in arms:
            store = RunStore.in_dir(Path(sweep_dir) / name)
            try:
                finished(Path(sweep_dir) / name, store)
            finally:
                store.close()
    write_states(sweep_dir, states)
    return [[cells[i][0].name for i in group] for group in groups], states
