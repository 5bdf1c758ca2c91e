"""Running a duel (`agentbench duel`): two configs of one experiment, A and B, on the same tasks in a seeded
random order, a block of `run.concurrency` tasks at a time (the smaller of A's and B's): all epochs of the
block's tasks for A, at A's usual parallelism, then for B, each in an ordinary run folder (DUEL/a, DUEL/b:
`Runner(only=block)`, so the same seeds per (task, epoch) as any run, and folders that `compare`, `report`
and `run --resume` read as any other); then the block's tasks are fed to the confidence sequence
(`stats_sequential.DuelState`) one by one, in order: each task's paired difference (solved in B − solved
in A, averaged over the epochs both runs scored). The duel stops when the sequence decides or the budget of
task pairs is spent; a task none of whose epochs both runs scored (`error`) is visited but not fed
(`skipped`). A decision inside a block leaves up to concurrency − 1 tasks run past it: they count as spent
(`attempts_spent`), and a block never runs more tasks than the budget still allows. With
`run.concurrency: 1` it is task by task.
duel.json (`analysis.duel.DuelRecord`) is written when the duel starts, after every task it ran, and at the
end (with the fixed-n design it is measured against).

The random order is what the guarantee needs (the tasks fed in an order unrelated to their outcomes); its
seed is in duel.json. Resuming is running the same command again: a task whose attempts both runs finished
is read from their stores, not run again, so the sequence is rebuilt from the stored attempts in the same
order and the duel goes on where it stopped (an `error` attempt is tried again when its task comes up).
Runs whose configs share a server key (`analysis.sweep.server_key`) share one model endpoint
(`runner.sweep_cells.SharedEndpoint`, its log DUEL/server.log), opened when a run first needs a model;
otherwise each run opens its own (log DUEL/a/server.log, DUEL/b/server.log), both held while the duel goes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbench.analysis.duel import ARMS, DuelRecord, DuelStep, TokensRecord, fixed_design
from agentbench.analysis.io import DUEL_NAME, read_duel, write_duel
from agentbench.analysis.sweep import server_key
from agentbench.config.schema import ExperimentConfig
from agentbench.models.endpoint import open_endpoint
from agentbench.protocols import AttemptRecord
from agentbench.redact import Redactor
from agentbench.runner.errors import RunError
from agentbench.runner.progress import NullProgress, ProgressSink
from agentbench.runner.runner import Runner
from agentbench.runner.sweep_cells import Opener, SharedEndpoint
from agentbench.stats_sequential import DuelState, MeanSequence
from agentbench.store import RunStore


class DuelError(RunError):
    """A duel that cannot start or go on as asked (its runs select different tasks, a changed setting)."""


@dataclass(frozen=True)
class Tick:
    """One task of the order taken: its place (1-based) among the tasks visited, the per-epoch differences
    both runs scored (empty: skipped), whether it ran now (False: read from the stores), the record after it."""

    index: int
    task_id: str
    differences: list[int]
    ran: bool
    record: DuelRecord


def task_order(task_ids: Sequence[str], seed: int) -> list[str]:
    """The tasks in the duel's random order: `random.Random(seed).shuffle` of the suite order."""
    order = list(task_ids)
    random.Random(seed).shuffle(order)
    return order


def _both_scored(a: Sequence[AttemptRecord | None],
                 b: Sequence[AttemptRecord | None]) -> list[tuple[AttemptRecord, AttemptRecord]]:
    """The epochs both runs scored (neither missing nor `error`), as (A's record, B's)."""
    return [(x, y) for x, y in zip(a, b, strict=True)
            if x is not None and y is not None and "error" not in (x.status, y.status)]


def epoch_differences(a: Sequence[AttemptRecord | None], b: Sequence[AttemptRecord | None]) -> list[int]:
    """Per epoch both runs scored: solved in B − solved in A."""
    return [int(y.status == "solved") - int(x.status == "solved") for x, y in _both_scored(a, b)]


def tokens_difference(a: Sequence[AttemptRecord | None], b: Sequence[AttemptRecord | None],
                      scale: int) -> float | None:
    """Over the epochs both runs scored: B's mean tokens per solved epoch − A's, each attempt's tokens clipped
    to `scale` (the token limit); None unless both runs solved one of them."""
    both = _both_scored(a, b)
    solved_a = [min(x.totals.usage.total_tokens, scale) for x, _ in both if x.status == "solved"]
    solved_b = [min(y.totals.usage.total_tokens, scale) for _, y in both if y.status == "solved"]
    if not solved_a or not solved_b:
        return None
    return sum(solved_b) / len(solved_b) - sum(solved_a) / len(solved_a)


def claim_duel_dir(duel_dir: Path, record: DuelRecord, redactor: Redactor | None = None) -> DuelRecord:
    """The duel this folder holds, checked against `record`'s settings (alpha, margin, order seed: changing
    them mid-duel would void the guarantee), or a new folder with `record` written. DuelError when the
    folder holds something else or another duel's settings."""
    duel_dir = Path(duel_dir)
    stored = read_duel(duel_dir)
    if stored is None:
        if duel_dir.exists() and any(duel_dir.iterdir()):
            raise DuelError(f"{duel_dir} exists and holds no duel ({DUEL_NAME}); choose another --out")
        duel_dir.mkdir(parents=True, exist_ok=True)
        write_duel(duel_dir, record, redactor)
        return record
    for name, flag in (("alpha", "--alpha"), ("margin", "--margin"), ("order_seed", "--order-seed")):
        if getattr(stored, name) != getattr(record, name):
            raise DuelError(f"{duel_dir}: this duel started with {flag} {getattr(stored, name)} (duel.json), not "
                            f"{getattr(record, name)}; a duel goes on with its settings (or choose another --out)")
    return stored.model_copy(update={"experiment": record.experiment, "sets": record.sets, "a": record.a,
                                     "b": record.b})


def _latest(store: RunStore, task_id: str, epochs: int) -> list[AttemptRecord | None]:
    return [None if (found := store.find_attempt(task_id, e)) is None else found[1] for e in range(epochs)]


def _finished(records: list[AttemptRecord | None]) -> bool:
    return all(r is not None and r.status != "error" for r in records)


def _endpoints(cfgs: dict[str, ExperimentConfig], duel_dir: Path, opener: Opener) -> dict[str, SharedEndpoint]:
    if server_key(cfgs["a"]) == server_key(cfgs["b"]):
        shared = SharedEndpoint(cfgs["a"], duel_dir, opener)
        return {arm: shared for arm in ARMS}
    return {arm: SharedEndpoint(cfgs[arm], duel_dir / arm, opener) for arm in ARMS}


def _tasks(cfgs: dict[str, ExperimentConfig], duel_dir: Path, base_dir: Path | None) -> list[str]:
    """Both runs' task ids (each run folder checked, or created, as a run would: config, suite, graph)."""
    ids = {}
    for arm in ARMS:
        tasks, _, store = Runner(cfgs[arm], duel_dir / arm, base_dir=base_dir).prepare()
        store.close()
        ids[arm] = [t.id for t in tasks]
    if ids["a"] != ids["b"]:
        raise DuelError(f"A selects {len(ids['a'])} tasks and B {len(ids['b'])}, not the same ones: a duel pairs "
                        "them task by task; give A and B the same suite and filters (--set suite...)")
    if cfgs["a"].run.epochs != cfgs["b"].run.epochs:
        raise DuelError(f"A has {cfgs['a'].run.epochs} epochs and B {cfgs['b'].run.epochs}: a duel pairs them "
                        "epoch by epoch; give both the same run.epochs")
    if not ids["a"]:
        raise DuelError("the suite selects no task")
    return ids["a"]


async def run_duel(configs: tuple[ExperimentConfig, ExperimentConfig], duel_dir: Path, record: DuelRecord, *,
                   budget: int | None = None, progress: Callable[[str], ProgressSink] = lambda arm: NullProgress(),
                   on_tick: Callable[[Tick], Any] = lambda tick: None, opener: Opener = open_endpoint,
                   base_dir: Path | None = None) -> DuelRecord:
    """Run (or resume) the duel of configs (A, B) in `duel_dir`, its settings in `record` (alpha, margin,
    order seed, the command's overrides): until decided or `budget` task pairs (default: every task).
    `progress(arm)` makes each call's progress sink; `on_tick` hears of every task taken. The final record."""
    duel_dir = Path(duel_dir)
    cfgs = dict(zip(ARMS, configs, strict=True))
    redactor = Redactor.from_config(configs[0]).merge(Redactor.from_config(configs[1]))
    record = claim_duel_dir(duel_dir, record, redactor)
    ids = _tasks(cfgs, duel_dir, base_dir)
    budget = len(ids) if budget is None else budget
    if not 1 <= budget <= len(ids):
        raise DuelError(f"--budget {budget}: the duel has {len(ids)} tasks; give 1 to {len(ids)}")
    epochs = cfgs["a"].run.epochs
    record = record.model_copy(update={"order": task_order(ids, record.order_seed), "epochs": epochs,
                                       "tasks_budget": budget, "attempts_budget": 2 * epochs * budget,
                                       "decision": None, "fixed_n": None})
    write_duel(duel_dir, record, redactor)
    state = DuelState(alpha=record.alpha, margin=record.margin, budget=budget)
    scale = max(cfgs[arm].limits.max_tokens for arm in ARMS)
    tokens, token_steps = MeanSequence(alpha=record.alpha, scale=scale), []
    steps: list[DuelStep] = []
    skipped: list[str] = []
    codes: list[int] = []
    diffs: list[int] = []
    endpoints = _endpoints(cfgs, duel_dir, opener)
    readers = {arm: RunStore.in_dir(duel_dir / arm) for arm in ARMS}
    width = min(cfgs[arm].run.concurrency for arm in ARMS)
    ran_now: set[str] = set()
    covered = 0  # tasks of the order run (or read) so far: what the duel has spent
    try:
        for index, task_id in enumerate(record.order, 1):
            if state.done:
                break
            if index > covered:  # the next block: as many tasks as can still be fed, run.concurrency at most
                block = record.order[covered:covered + min(width, budget - state.tasks_used)]
                for arm in ARMS:
                    todo = [t for t in block if not _finished(_latest(readers[arm], t, epochs))]
                    if todo:
                        store = await Runner(cfgs[arm], duel_dir / arm, progress=progress(arm),
                                             endpoint=endpoints[arm], only=todo, base_dir=base_dir).run()
                        store.close()
                        ran_now.update(todo)
                covered += len(block)
            got = {arm: _latest(readers[arm], task_id, epochs) for arm in ARMS}
            ran = task_id in ran_now
            pair = epoch_differences(got["a"], got["b"])
            if pair:
                state = state.add(sum(pair) / len(pair))
                steps.append(DuelStep(**state.steps[-1].model_dump(), task_id=task_id,
                                      difference=state.differences[-1]))
                codes += [len(steps)] * len(pair)
                diffs += pair
                if (spent := tokens_difference(got["a"], got["b"], scale)) is not None:
                    tokens = tokens.add(spent)
                    token_steps.append(DuelStep(**tokens.steps[-1].model_dump(), task_id=task_id,
                                                difference=tokens.values[-1]))
            else:
                skipped.append(task_id)
            record = record.model_copy(update={"decision": state.decision, "tasks_used": state.tasks_used,
                                               "skipped": list(skipped), "attempts_spent": 2 * epochs * covered,
                                               "sequence": list(steps),
                                               "tokens": TokensRecord(scale=scale, sequence=list(token_steps))})
            if ran:
                write_duel(duel_dir, record, redactor)
            on_tick(Tick(index=index, task_id=task_id, differences=pair, ran=ran, record=record))
    finally:
        for reader in readers.values():
            reader.close()
        for shared in {id(s): s for s in endpoints.values()}.values():
            await shared.aclose()
    record = record.model_copy(update={"decision": state.decision or "undecided"})  # no task left: undecided
    record = record.model_copy(update={"fixed_n": fixed_design(record, codes, diffs)})
    write_duel(duel_dir, record, redactor)
    return record
