"""Selecting tasks from a suite: by id, by level, then at most `limit`. Pure; suite order is kept."""

from __future__ import annotations

from collections.abc import Sequence

from agentbench.protocols import Task
from agentbench.suites.errors import SuiteError


def filter_tasks(tasks: Sequence[Task], ids: Sequence[str] = (), levels: Sequence[int] = (),
                 limit: int | None = None) -> list[Task]:
    """Tasks whose id is in `ids` (when given) and whose `metadata["level"]` is in `levels` (when given),
    in suite order, then the first `limit`. SuiteError on unknown ids, a limit below 1, or an empty result."""
    known = {t.id for t in tasks}
    unknown = [i for i in dict.fromkeys(ids) if i not in known]
    if unknown:
        raise SuiteError(f"unknown task id(s): {', '.join(unknown)} (the suite has {len(known)} tasks)")
    if limit is not None and limit < 1:
        raise SuiteError(f"limit must be at least 1, got {limit}")
    wanted_ids, wanted_levels = set(ids), set(levels)
    picked = [t for t in tasks
              if (not wanted_ids or t.id in wanted_ids)
              and (not wanted_levels or t.metadata.get("level") in wanted_levels)]
    if not picked and tasks:
        present = sorted({t.metadata["level"] for t in tasks if "level" in t.metadata})
        raise SuiteError(f"no task matches ids={list(ids)} levels={list(levels)}"
                         f" (levels in the suite: {', '.join(map(str, present)) or 'none'})")
    return picked[:limit] if limit is not None else picked
