"""What `--resume` checks besides the config: that the suite's tasks are the ones the run started with, and
that the graph's source is the one it started with.

The first run stores the task ids and one content hash per task in the `suite` meta; a resume compares the
tasks it loads with them (`suite_changes`). It also stores the graph's identity (`graph` meta,
runner/graph_identity.py); a resume compares the source hashes (`graph_changes`). Pure apart from reading
attachments to hash them.

The to-do list of a run or a resume (`todo_items`) is the (task, epoch) pairs not yet finished (of some
tasks only, for a call that runs part of the run: `Runner(only=...)`); tasks x epochs is bounded first
(`attempts_problem`, MAX_ATTEMPTS), so no config can fill memory with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from pathlib import Path

from agentbench.config.schema import MAX_ATTEMPTS
from agentbench.protocols import Task
from agentbench.runner.graph_identity import GraphIdentity


def attempts_problem(n_tasks: int, epochs: int, limit: int = MAX_ATTEMPTS) -> str | None:
    """Why a run of `n_tasks` x `epochs` attempts is refused (more than `limit`), naming the fields; None
    when it is not. Checked before anything is written, so the to-do list stays bounded."""
    if n_tasks * epochs <= limit:
        return None
    return (f"run.epochs: {epochs} epochs x {n_tasks:,} tasks is {n_tasks * epochs:,} attempts, more than the "
            f"{limit:,} one run may hold; lower run.epochs or select fewer tasks (suite.limit, suite.ids, "
            "suite.levels), or split the run")


def todo_items(tasks: list[Task], epochs: int, done: set[tuple[str, int]],
               only: Collection[str] | None = None) -> list[tuple[Task, int]]:
    """The (task, epoch) pairs not in `done`, epoch by epoch in suite order (every task's first attempt
    before any task's second); with `only`, of those task ids alone (a duel runs a run's tasks one by one)."""
    return [(t, e) for e in range(epochs) for t in tasks
            if (t.id, e) not in done and (only is None or t.id in only)]


def task_hash(task: Task) -> str:
    """What a task asks and how it is judged, hashed: its fields, with attachments by name and content
    rather than by where the suite lies (a moved checkout is the same suite) and a SWE-bench repo by its
    commits (not its `source`). A task without `swe` hashes as it did before Task.swe (#23): the swe-only
    fields Task had then enter as such a task had them, so a run started then resumes."""
    data = task.model_dump(mode="json", exclude={"swe"})
    data["inputs"]["files"] = [{"name": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()
                                if p.is_file() else None} for p in map(Path, task.inputs.files)]
    if task.swe is None:
        data["inputs"]["base_commit"], data["sandbox"]["recipe"] = None, None
        data["expected"].update(fail_to_pass=[], pass_to_pass=[])
    else:
        data["swe"] = task.swe.model_dump(mode="json", exclude={"source"})
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def suite_meta(name: str, suite_dir: Path, tasks: list[Task]) -> dict:
    """The `suite` meta a run stores: its name and folder, the task ids and their content hashes."""
    return {"name": name, "path": str(suite_dir), "tasks": [t.id for t in tasks],
            "hashes": {t.id: task_hash(t) for t in tasks}}


def suite_changes(stored: dict, tasks: list[Task]) -> dict[str, list[str]]:
    """What differs between the suite a run started with (its `suite` meta) and the tasks loaded now:
    ids `added`, `removed`, and ids whose content hash `changed` (when the run stored hashes)."""
    before, now, hashes = set(stored.get("tasks") or []), {t.id for t in tasks}, stored.get("hashes") or {}
    return {"added": sorted(now - before), "removed": sorted(before - now),
            "changed": sorted(t.id for t in tasks if t.id in hashes and hashes[t.id] != task_hash(t))}


def describe_changes(changes: dict[str, list[str]]) -> str:
    """`added: a, b; changed: c` (at most five ids each)."""
    return "; ".join(f"{what}: {', '.join(ids[:5])}" + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
                     for what, ids in changes.items() if ids)


def graph_changes(stored: dict, now: GraphIdentity) -> str | None:
    """How the graph's source differs from the identity the run stored (its `graph` meta): `changed: a.py;
    added: b.py`, or the two hashes when per-file hashes are missing; None when the source hash is the same."""
    if stored.get("source_hash") == now.source_hash:
        return None
    before, after = stored.get("files"), now.files
    if before is None or after is None:
        return f"source {stored.get('source_hash')} → {now.source_hash}"
    return describe_changes({"changed": sorted(n for n in before.keys() & after.keys() if before[n] != after[n]),
                             "added": sorted(after.keys() - before.keys()),
                             "removed": sorted(before.keys() - after.keys())}) or "source hash differs"
