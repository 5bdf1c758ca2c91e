"""`agentbench sweep --eliminate` end to end on the local sandbox with the model-free `oracle` and `null`
graphs (runner/sweep_elimination.py): the arms run interleaved, `null` is dropped as soon as its duel with
the best decides, and the sweep folder records when and what it saved; the cells are ordinary run folders
(the dropped one partial), and the same command again takes the same decisions without new attempts."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agentbench.cli import app
from agentbench.runner.duel import task_order
from agentbench.stats_sequential import run_duel
from agentbench.store import RunStore

TASKS = 20


def experiment(tmp_path: Path) -> Path:
    suite = tmp_path / "suite"
    suite.mkdir()
    rows = [{"task_id": f"q-{i:02d}", "Question": f"What is {i}?", "Level": 1, "Final answer": str(i)}
            for i in range(TASKS)]
    (suite / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (suite / "suite.yaml").write_text("name: small\nformat: gaia\n")
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: elim\ngraph: oracle\nsuite: {{name: {suite}}}\nsandbox: {{backend: local}}\n")
    return path


def sweep(exp: Path, out: Path, *extra: str) -> str:
    result = CliRunner().invoke(app, ["sweep", str(exp), "--grid", "graph=oracle,null", "--eliminate", "--quiet",
                                      "--resamples", "50", "--out", str(out), *extra], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def attempts(run_dir: Path) -> int:
    store = RunStore.in_dir(run_dir)
    try:
        return len(store.attempt_rows())
    finally:
        store.close()


def test_a_worse_arm_is_dropped_early_and_the_saving_recorded(tmp_path):
    exp, out = experiment(tmp_path), tmp_path / "sweep"
    text = sweep(exp, out, "--set", "run.concurrency=1")
    at = run_duel([1.0] * TASKS, budget=TASKS, alpha=0.05).tasks_used  # two arms: the whole alpha on one pair
    assert at == 9
    assert f"dropped graph=null after {at} of {TASKS} tasks: worse than graph=oracle" in text
    assert f"attempts: {2 * at} of the full grid's {2 * TASKS} spent, {2 * TASKS - 2 * at} saved" in text
    plan = json.loads((out / "plan.json").read_text())
    order = plan["elimination"]["task_order"]
    assert order == task_order([f"q-{i:02d}" for i in range(TASKS)], 0) != sorted(order)  # the duel's, run.seed 0
    elim = json.loads((out / "sweep.json").read_text())["elimination"]
    arms = {a["name"]: a for a in elim["arms"]}
    null, oracle = arms["graph-null"], arms["graph-oracle"]
    assert (null["dropped_after"], null["dropped_at_task"], null["best_then"]) == (at, order[at - 1], "graph-oracle")
    assert null["cs_vs_best"][0] > 0 and oracle["dropped_after"] is None
    assert (null["attempts_spent"], oracle["attempts_spent"], null["attempts_full"]) == (at, at, TASKS)
    assert (elim["attempts_spent"], elim["attempts_full"], elim["attempts_saved"]) == (2 * at, 2 * TASKS, 2 * (TASKS - at))
    assert elim["rounds"] == [at]
    # the cells are ordinary run folders: the tasks of the order up to the drop, each with its report
    for name in ("graph-null", "graph-oracle"):
        store = RunStore.in_dir(out / name)
        assert sorted(a.task_id for a in store.attempts()) == sorted(order[:at])
        store.close()
        assert (out / name / "report.html").is_file() and (out / name / "summary.json").is_file()
    state = json.loads((out / "elimination.json").read_text())["groups"][0]
    assert state["tasks"] == order[:at] and list(state["dropped"]) == ["graph-null"]

    # the same command again: the decisions come back from the run folders, nothing is rerun
    again = sweep(exp, out, "--set", "run.concurrency=1")
    assert json.loads((out / "sweep.json").read_text())["elimination"] == elim
    assert attempts(out / "graph-null") == attempts(out / "graph-oracle") == at
    assert "saved" in again


def test_arms_run_blocks_of_run_concurrency_tasks_and_decide_task_by_task(tmp_path):
    exp, out = experiment(tmp_path), tmp_path / "sweep"
    sweep(exp, out, "--set", "run.concurrency=4")
    arms = {a["name"]: a for a in json.loads((out / "sweep.json").read_text())["elimination"]["arms"]}
    assert arms["graph-null"]["dropped_after"] == 9  # decided after the 9th task, as with one task at a time
    assert arms["graph-null"]["attempts_spent"] == arms["graph-oracle"]["attempts_spent"] == 12  # 3 blocks of 4


def test_eliminate_refuses_cells_that_run_different_tasks(tmp_path):
    exp = experiment(tmp_path)
    result = CliRunner().invoke(app, ["sweep", str(exp), "--grid", "suite.limit=4,5", "--eliminate", "--out",
                                      str(tmp_path / "s")], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and "every cell must run the same tasks" in " ".join(result.output.split())
    assert not (tmp_path / "s").exists()
