"""Before the first attempt: which SWE-bench tasks' environments cannot be used (`check_environments`), so
their attempts are `error` (reason `environment`) for every epoch, never the agent's failure."""

from __future__ import annotations

import asyncio

from agentbench.protocols import Task
from agentbench.scoring.swebench import SweBenchScorer, validate_instance


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
