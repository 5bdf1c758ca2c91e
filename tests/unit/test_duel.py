"""`agentbench duel` (runner/duel.py, cli_duel.py, analysis/duel.py): A and B interleaved task by task in a
seeded random order, stopped by the confidence sequence. Real run folders on the local sandbox with the
model-free graphs: A = `null` (solves nothing), B = `oracle` (solves everything) on gaia-mini (25 tasks).
With every d = +1 the betting CS excludes 0 after the 9th pair."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentbench.analysis.compare import compare_runs
from agentbench.analysis.duel import (DuelRecord, DuelStep, attempts_line, decision_line, fixed_design, pair_lines,
                                      tokens_line)
from agentbench.analysis.html import compare_html_section
from agentbench.analysis.io import load_run, read_duel
from agentbench.cli import app
from agentbench.config.loader import load_experiment
from agentbench.protocols import AttemptRecord, AttemptTotals, Usage
from agentbench.runner.progress import NullProgress
from agentbench.runner.duel import DuelError, Tick, epoch_differences, run_duel, task_order, tokens_difference
from agentbench.runner.resume import todo_items
from agentbench.runner.runner import Runner
from agentbench.stats_sequential import run_duel as sequence_of
from agentbench.store import RunStore
from agentbench.suites.loader import load_suite

BASE = ["suite.name=gaia-mini", "sandbox.backend=local", "run.concurrency=1", "name=duel"]
TASKS = 25
STOP = sequence_of([1.0] * TASKS, budget=TASKS).tasks_used  # pairs the CS needs when B always wins


def configs(a: str = "null", b: str = "oracle", *sets: str):
    return (load_experiment(None, [*BASE, *sets, f"graph={a}"]), load_experiment(None, [*BASE, *sets, f"graph={b}"]))


def duel(tmp_path: Path, *, budget: int | None = None, seed: int = 7, on_tick=lambda tick: None, **kw) -> DuelRecord:
    record = DuelRecord(order_seed=seed, a=["graph=null"], b=["graph=oracle"], **kw)
    return asyncio.run(run_duel(configs(), tmp_path / "duel", record, budget=budget, on_tick=on_tick))


def tries(run_dir: Path) -> list[tuple[str, int, int, str]]:
    store = RunStore.in_dir(run_dir)
    try:
        return store.all_tries()
    finally:
        store.close()


def test_it_stops_early_with_b_better_and_leaves_two_run_folders_compare_reads(tmp_path):
    ticks: list[Tick] = []
    record = duel(tmp_path, on_tick=ticks.append)
    assert STOP < TASKS
    assert record.decision == "b_better" and record.tasks_used == STOP and record.tasks_budget == TASKS
    assert [t.task_id for t in ticks] == record.order[:STOP] and all(t.ran and t.differences == [1] for t in ticks)
    ids = [t.id for t in Runner(configs()[0], tmp_path / "probe").prepare()[0]]
    assert record.order == task_order(ids, 7) and sorted(record.order) == sorted(ids) and record.order != ids
    # every task of the order ran in both folders, one try each, nothing else
    for arm in ("a", "b"):
        assert sorted(t[0] for t in tries(tmp_path / "duel" / arm)) == sorted(record.order[:STOP])
    assert record.attempts_spent == 2 * STOP and record.attempts_budget == 2 * TASKS
    last = record.sequence[-1]
    assert last.lower > 0 and record.sequence[-2].lower <= 0
    assert [s.task_id for s in record.sequence] == record.order[:STOP]
    assert record.fixed_n is not None and record.fixed_n.basis == "estimate" and record.fixed_n.effect == 1.0

    stored = json.loads((tmp_path / "duel" / "duel.json").read_text())
    for key in ("decision", "tasks_used", "tasks_budget", "order_seed", "alpha", "margin", "sequence"):
        assert key in stored
    assert stored["decision"] == "b_better" and stored["order_seed"] == 7 and len(stored["sequence"]) == STOP

    result = compare_runs([load_run(tmp_path / "duel" / "a"), load_run(tmp_path / "duel" / "b")], n_resamples=50)
    c = result.comparisons[0]
    assert c.pairs == STOP and c.metrics[0].diff == 1.0 and c.duel == read_duel(tmp_path / "duel")
    assert any("stopped early" in w for w in c.warnings) and c.mde is not None
    page = compare_html_section(result)
    assert 'aria-label="plot-duel"' in page and decision_line(record) in page.replace("&#x27;", "'")
    # the folders are ordinary runs: B against A the other way round is no duel pair
    reverse = compare_runs([load_run(tmp_path / "duel" / "b"), load_run(tmp_path / "duel" / "a")], n_resamples=50)
    assert reverse.comparisons[0].duel is None and 'plot-duel' not in compare_html_section(reverse)


def test_run_concurrency_runs_blocks_and_counts_the_tasks_run_past_the_decision(tmp_path):
    """concurrency 4: A and B each run 4 tasks per Runner call; the sequence is still fed task by task, in
    order, so it decides at the same pair, and the tasks of that block after it count as spent."""
    calls: list[tuple[str, int]] = []

    class Counting(NullProgress):
        def __init__(self, arm: str) -> None:
            self.arm = arm

        def start(self, total: int, already_done: int) -> None:
            calls.append((self.arm, total - already_done))

    cfgs = tuple(c.model_copy(update={"run": c.run.model_copy(update={"concurrency": 4})}) for c in configs())
    record = asyncio.run(run_duel(cfgs, tmp_path / "duel", DuelRecord(order_seed=7), progress=Counting))
    serial = sequence_of([1.0] * TASKS, budget=TASKS)  # what task by task gives (the first test runs it)
    assert [(s.n, s.lower, s.upper) for s in record.sequence] == [(s.n, s.lower, s.upper) for s in serial.steps]
    assert record.decision == "b_better" and record.tasks_used == STOP
    covered = -(-STOP // 4) * 4  # the block holding the decision ran whole
    assert calls == [(arm, 4) for _ in range(covered // 4) for arm in ("a", "b")]
    assert record.attempts_spent == 2 * covered and covered > STOP
    for arm in ("a", "b"):
        assert sorted(t[0] for t in tries(tmp_path / "duel" / arm)) == sorted(record.order[:covered])
    small = asyncio.run(run_duel(cfgs, tmp_path / "small", DuelRecord(order_seed=7), budget=6))
    assert small.decision == "undecided" and small.attempts_spent == 2 * 6  # a block never passes the budget
    assert len(tries(tmp_path / "small" / "a")) == 6


class Interrupted(Exception):
    pass


def test_rerunning_resumes_from_the_stored_attempts_in_the_same_order(tmp_path):
    def stop_after(n):
        def on_tick(tick: Tick) -> None:
            if tick.index == n:
                raise Interrupted
        return on_tick

    with pytest.raises(Interrupted):
        duel(tmp_path, on_tick=stop_after(4))
    half = read_duel(tmp_path / "duel")
    assert half.decision is None and half.tasks_used == 4 and len(tries(tmp_path / "duel" / "a")) == 4

    ticks: list[Tick] = []
    record = duel(tmp_path, on_tick=ticks.append)
    assert [t.ran for t in ticks] == [False] * 4 + [True] * (STOP - 4)  # rebuilt, then on
    assert record.decision == "b_better" and record.tasks_used == STOP
    assert record.sequence[:4] == half.sequence
    for arm in ("a", "b"):
        assert all(t[2] == 0 for t in tries(tmp_path / "duel" / arm)) and len(tries(tmp_path / "duel" / arm)) == STOP

    again: list[Tick] = []  # a decided duel run again reads everything, runs nothing, decides the same
    assert duel(tmp_path, on_tick=again.append).sequence == record.sequence and not any(t.ran for t in again)


def test_a_small_budget_ends_undecided(tmp_path):
    record = duel(tmp_path, budget=STOP - 4)
    assert record.decision == "undecided" and record.tasks_used == STOP - 4 == record.tasks_budget
    assert record.sequence[-1].lower <= 0 and record.fixed_n is None
    assert decision_line(record).startswith(f"undecided after {STOP - 4} of {STOP - 4} tasks (the budget is spent)")
    assert len(tries(tmp_path / "duel" / "b")) == STOP - 4
    # the budget can grow on a rerun (the sequence is valid at every step); the settings cannot change
    assert duel(tmp_path).decision == "b_better"
    with pytest.raises(DuelError, match="--alpha 0.05"):
        duel(tmp_path, alpha=0.1)
    with pytest.raises(DuelError, match="--budget 99"):
        duel(tmp_path / "other", budget=99)


def test_two_runs_that_agree_end_with_no_difference_inside_the_margin(tmp_path):
    expected = sequence_of([0.0] * TASKS, budget=TASKS, margin=0.3)
    assert expected.decision == "no_difference" and expected.tasks_used < TASKS
    record = asyncio.run(run_duel(configs("null", "null"), tmp_path / "d", DuelRecord(order_seed=1, margin=0.3)))
    assert record.decision == "no_difference" and record.tasks_used == expected.tasks_used
    assert -0.3 < record.sequence[-1].lower <= record.sequence[-1].upper < 0.3
    assert record.fixed_n is not None and record.fixed_n.basis == "margin" and record.fixed_n.effect == 0.3


def test_runs_that_select_different_tasks_cannot_duel(tmp_path):
    cfg_a, _ = configs()
    cfg_b = load_experiment(None, [*BASE, "graph=oracle", "suite.limit=3"])
    with pytest.raises(DuelError, match="not the same ones"):
        asyncio.run(run_duel((cfg_a, cfg_b), tmp_path / "d", DuelRecord(order_seed=0)))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    with pytest.raises(DuelError, match="holds no duel"):
        asyncio.run(run_duel(configs(), tmp_path / "busy", DuelRecord(order_seed=0)))


def test_runner_only_runs_those_tasks_and_a_plain_resume_finishes_the_run(tmp_path):
    cfg = load_experiment(None, [*BASE, "graph=oracle", "suite.limit=4"])
    ids = [t.id for t in Runner(cfg, tmp_path / "probe").prepare()[0]]
    asyncio.run(Runner(cfg, tmp_path / "run", only=[ids[2]]).run()).close()
    assert [t[0] for t in tries(tmp_path / "run")] == [ids[2]]
    store = asyncio.run(Runner(cfg, tmp_path / "run").run())  # the stored config is the run's: it resumes
    try:
        assert sorted(a.task_id for a in store.attempts()) == sorted(ids) and len(store.all_tries()) == 4
    finally:
        store.close()


def record(status: str, task: str = "t", epoch: int = 0) -> AttemptRecord:
    return AttemptRecord(task_id=task, epoch=epoch, status=status)


def test_epoch_differences_leave_out_what_either_run_did_not_score():
    a = [record("solved"), record("failed"), record("error"), None, record("limit")]
    b = [record("failed"), record("solved"), record("solved"), record("solved"), record("solved")]
    assert epoch_differences(a, b) == [-1, 1, 1]
    assert epoch_differences([record("error")], [record("solved")]) == []


def spent(status: str, tokens: int) -> AttemptRecord:
    usage = Usage(prompt_tokens=tokens - tokens // 4, completion_tokens=tokens // 4)
    return AttemptRecord(task_id="t", epoch=0, status=status, totals=AttemptTotals(usage=usage))


def test_tokens_difference_is_over_solved_epochs_both_scored_and_clipped_at_the_limit():
    a = [spent("solved", 1_000), spent("solved", 3_000), spent("failed", 9_000), spent("solved", 500)]
    b = [spent("solved", 800), spent("failed", 100), spent("solved", 2_000), spent("error", 10)]
    # both scored epochs 0-2; A solved 0 and 1 (mean 2,000), B solved 0 and 2 (mean 1,400)
    assert tokens_difference(a, b, 60_000) == pytest.approx(1_400 - 2_000)
    assert tokens_difference([spent("solved", 90_000)], [spent("solved", 100)], 60_000) == 100 - 60_000
    assert tokens_difference([spent("failed", 10)], [spent("solved", 100)], 60_000) is None
    assert tokens_difference([None], [spent("solved", 100)], 60_000) is None


def test_the_duel_reports_tokens_per_success_on_the_tasks_both_solve(tmp_path):
    """oracle vs oracle: both solve every task; the model-free oracle spends no tokens, so every difference is
    0 and the CS holds 0. null vs oracle (the first test): no task both solved, the line says so."""
    record = asyncio.run(run_duel(configs("oracle", "oracle"), tmp_path / "d", DuelRecord(order_seed=1, margin=0.3),
                                  budget=6))
    tokens = record.tokens
    assert tokens is not None and tokens.scale == 60_000 and len(tokens.sequence) == record.tasks_used == 6
    assert [s.task_id for s in tokens.sequence] == [s.task_id for s in record.sequence]
    assert all(s.difference == 0 and s.lower <= 0 <= s.upper for s in tokens.sequence)
    assert tokens_line(record).startswith("tokens per success on the 6 tasks both solved: B − A = +0, 95% CS [")
    assert read_duel(tmp_path / "d").tokens == tokens
    assert tokens_line(duel(tmp_path)) == "tokens per success: no task that both runs solved"


def test_todo_items_with_only_keeps_the_epoch_order():
    tasks = load_suite("gaia-mini")[1][:3]
    todo = todo_items(tasks, 2, {(tasks[1].id, 0)}, only={tasks[1].id, tasks[2].id})
    assert [(t.id, e) for t, e in todo] == [(tasks[2].id, 0), (tasks[1].id, 1), (tasks[2].id, 1)]
    assert len(todo_items(tasks, 1, set())) == 3


def steps(*ds: float) -> list[DuelStep]:
    state = sequence_of(list(ds), budget=100)
    return [DuelStep(**s.model_dump(), task_id=f"t{i}", difference=d) for i, (s, d) in enumerate(zip(state.steps, ds))]


def test_the_fixed_n_design_and_the_lines():
    decided = DuelRecord(order_seed=0, decision="b_better", tasks_used=3, tasks_budget=40, attempts_spent=6,
                         attempts_budget=80, sequence=steps(1, 0, 1))
    fixed = fixed_design(decided, [0, 1, 2], [1, 0, 1])
    assert fixed is not None and fixed.effect == pytest.approx(2 / 3) and fixed.attempts == 2 * fixed.tasks
    nodiff = decided.model_copy(update={"decision": "no_difference", "margin": 0.1})
    assert fixed_design(nodiff, [0, 1, 2], [1, 0, -1]).effect == 0.1
    assert fixed_design(decided.model_copy(update={"decision": "undecided"}), [0], [1]) is None
    with_fixed = decided.model_copy(update={"fixed_n": fixed})
    line = attempts_line(with_fixed)
    assert line.startswith("attempts (both runs): 6 of 80 spent (74 saved, 92%)")
    assert f"needs {fixed.tasks} tasks = {fixed.attempts} attempts" in line
    assert decision_line(nodiff).endswith("(no difference beyond ±10 pts)")
    assert decision_line(decided.model_copy(update={"decision": None})).startswith("going on after 3 of 40 tasks")
    assert pair_lines(0.123, None, 0.05) == ["minimum detectable effect of this pair: ±12.3 pts (paired test at alpha "
                                              "0.05, power 0.8)"]
    assert pair_lines(None, decided, 0.05)[0] == decision_line(decided)


def test_the_command_writes_the_comparison_and_ends_with_the_decision(tmp_path):
    out = tmp_path / "d"
    args = ["duel", str(tmp_path / "none.yaml"), *[x for s in BASE for x in ("--set", s)], "--a", "graph=null",
            "--b", "graph=oracle", "--out", str(out), "--resamples", "50"]
    (tmp_path / "none.yaml").write_text("{}\n")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(f"decided after {STOP} of {TASKS} tasks: B − A = +100 pts, 95% CS [+")
    assert lines[-1].endswith("(B better)") and lines[-2].startswith(f"attempts (both runs): {2 * STOP} of")
    assert f"task {STOP}/{TASKS} " in result.output and " → b_better" in result.output
    page = (out / "a" / "report.html").read_text()
    assert 'class="agentbench-compare"' in page and 'aria-label="plot-duel"' in page
    assert json.loads((out / "a" / "compare.json").read_text())["comparisons"][0]["duel"]["decision"] == "b_better"
    assert (out / "b" / "report.html").is_file()
    rerun = CliRunner().invoke(app, args)  # the same command: everything read back, nothing run
    assert rerun.exit_code == 0 and rerun.output.count("(stored)") == STOP
    assert lines[-1] == rerun.output.strip().splitlines()[-1]
