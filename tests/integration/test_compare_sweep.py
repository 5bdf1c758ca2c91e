"""`agentbench compare` and `agentbench sweep` on real runs: the CLI, the local sandbox, real SQLite stores.
The oracle and null graphs need no model server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from agentbench.store import RunStore
from agentbench.suites.filters import filter_tasks
from agentbench.suites.loader import load_suite

from .conftest import ROOT, run_cli

DEMO = str(ROOT / "experiments" / "demo.yaml")
LOCAL = ["--quiet", "--set", "sandbox.backend=local", "--set", "run.concurrency=4"]
SLOW_ORACLE = "tests/integration/graphs/slow_oracle.py:build_graph"

CLI = "from agentbench.cli import app\napp(prog_name='agentbench')"


def agentbench(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"agentbench {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """oracle and null on the first 5 gaia-mini tasks; null without the 5th task; slow_oracle with an
    injected infrastructure fault on the 2nd."""
    root = tmp_path_factory.mktemp("runs")
    ids = [t.id for t in filter_tasks(load_suite("gaia-mini")[1], limit=5)]
    made = {"ids": ids}
    for name, extra in (("oracle", ["--set", "graph=oracle", "--set", "suite.limit=5"]),
                        ("null", ["--set", "graph=null", "--set", "suite.limit=5"]),
                        ("null4", ["--set", "graph=null", "--set", f"suite.ids=[{', '.join(ids[:4])}]"]),
                        ("faulty", ["--set", f"graph={SLOW_ORACLE}", "--set", "graph_params.sleep_s=0",
                                    "--set", "suite.limit=5"])):
        made[name] = root / name
        run_cli("run", DEMO, "--out", str(made[name]), *LOCAL, *extra,
                env={"AGENTBENCH_TEST_FAIL": ids[1]} if name == "faulty" else None)
    return made


def test_oracle_vs_null(runs, tmp_path):
    out = tmp_path / "cmp.json"
    proc = agentbench("compare", str(runs["oracle"]), str(runs["null"]), "--json", str(out))
    result = json.loads(out.read_text())
    assert json.loads((runs["oracle"] / "compare.json").read_text()) == result
    (c,) = result["comparisons"]
    rate = c["metrics"][0]
    assert rate["metric"] == "completion_rate"
    assert (rate["a"], rate["b"], rate["diff"]) == (1.0, 0.0, -1.0)  # -100 points
    assert rate["p_value"] == pytest.approx(2 * 0.5 ** 5)  # 5 discordant pairs, all one way: 0.0625
    assert rate["significant"] is False  # 5 tasks cannot tell at alpha = 0.05
    assert c["mcnemar"] == {"both_solved": 0, "only_a": 5, "only_b": 0, "neither": 0, "p_value": 0.0625}
    assert sorted(f["task_id"] for f in c["flipped"]) == runs["ids"]
    assert all(f["change"] == "lost" for f in c["flipped"])
    assert c["unpaired"] == []
    assert c["config_diff"] == {"graph": ["oracle", "null"]}
    first = runs["ids"][0]
    assert f"agentbench show {runs['oracle']} {first} --epoch 0" in proc.stdout
    assert f"agentbench show {runs['null']} {first} --epoch 0" in proc.stdout
    assert "-100.0 pts" in proc.stdout and "McNemar p = 0.0625" in proc.stdout and "not significant" in proc.stdout
    # the baseline's report.html now holds the comparison, linking to both traces
    page = (runs["oracle"] / "report.html").read_text()
    assert 'class="agentbench-compare"' in page and "report.html#attempt-" in page
    # the trace commands it prints work
    show = run_cli("show", str(runs["null"]), first, "--epoch", "0")
    assert "failed" in show.stdout


def test_a_task_missing_from_one_run_is_reported_apart(runs, tmp_path):
    agentbench("compare", str(runs["oracle"]), str(runs["null4"]), "--json", str(tmp_path / "c.json"))
    (c,) = json.loads((tmp_path / "c.json").read_text())["comparisons"]
    assert c["pairs"] == 4
    assert c["metrics"][0]["p_value"] == pytest.approx(2 * 0.5 ** 4)
    assert [(u["task_id"], u["reason"], u["a_status"], u["b_status"]) for u in c["unpaired"]] == [
        (runs["ids"][4], "only in A", "solved", None)]


def test_an_error_attempt_is_reported_apart(runs, tmp_path):
    proc = agentbench("compare", str(runs["oracle"]), str(runs["faulty"]), "--json", str(tmp_path / "c.json"))
    (c,) = json.loads((tmp_path / "c.json").read_text())["comparisons"]
    assert c["pairs"] == 4 and c["flipped"] == []
    assert [(u["task_id"], u["reason"]) for u in c["unpaired"]] == [(runs["ids"][1], "error in B")]
    assert c["metrics"][0]["diff"] == 0.0 and c["metrics"][0]["p_value"] == 1.0
    assert "reported apart" in proc.stdout


def test_compare_names_a_missing_or_unreadable_run(runs, tmp_path):
    proc = agentbench("compare", str(runs["oracle"]), str(tmp_path / "nope"), check=False)
    assert proc.returncode == 2 and f"{tmp_path / 'nope'}: no such run folder" in proc.stderr.replace("\n", "")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.sqlite").write_bytes(b"garbage" * 1000)
    proc = agentbench("compare", str(runs["oracle"]), str(tmp_path / "bad"), check=False)
    assert proc.returncode == 2 and "unreadable run store" in proc.stderr
    proc = agentbench("compare", str(runs["oracle"]), check=False)
    assert proc.returncode == 2 and "at least two run folders" in proc.stderr


def _tries(run_dir) -> list[tuple]:
    store = RunStore.in_dir(run_dir)
    try:
        return [(r["task_id"], r["epoch"], r["try"], r["t_start"]) for r in store.attempt_rows()]
    finally:
        store.close()


def test_sweep_runs_every_cell_then_resumes(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", DEMO, "--grid", "graph=oracle,null", "--set", "suite.limit=3", "--set", "sandbox.backend=local",
            "--out", str(out), "--quiet"]
    proc = agentbench(*args)
    result = json.loads((out / "sweep.json").read_text())
    assert [c["name"] for c in result["cells"]] == ["graph-oracle", "graph-null"]
    assert [c["completion_rate"] for c in result["cells"]] == [1.0, 0.0]
    assert all(c["attempts"] == 3 and c["errors"] == 0 for c in result["cells"])
    main = next(e for e in result["effects"] if e["kind"] == "main" and e["metric"] == "completion_rate")
    assert (main["factors"], main["levels"], main["baselines"]) == (["graph"], ["null"], ["oracle"])
    assert main["estimate"] == -1.0
    assert "graph-oracle" in result["pareto"]["tokens_per_success"]
    assert "graph-null" not in result["pareto"]["tokens_per_success"]  # solved nothing: no price per success
    assert "graph=null (vs oracle)" in proc.stdout
    for cell in ("graph-oracle", "graph-null"):  # each cell is a normal run folder
        assert (out / cell / "summary.json").exists() and (out / cell / "config.yaml").exists()
        assert (out / cell / "report.html").exists()  # each cell is a whole run: compare links to its traces
    before = {cell: _tries(out / cell) for cell in ("graph-oracle", "graph-null")}
    assert all(len(rows) == 3 for rows in before.values())

    # the same command again: nothing is redone
    agentbench(*args)
    assert {cell: _tries(out / cell) for cell in before} == before
    assert json.loads((out / "sweep.json").read_text())["effects"] == result["effects"]

    # an unfinished sweep (a cell lost) resumes: only that cell runs
    shutil.rmtree(out / "graph-null")
    agentbench(*args)
    assert _tries(out / "graph-oracle") == before["graph-oracle"]
    assert len(_tries(out / "graph-null")) == 3

    # another grid into the same folder is refused
    other = agentbench(*args[:3], "graph=oracle,react", *args[4:], check=False)
    assert other.returncode == 2 and "holds a different sweep" in other.stderr


def test_sweep_rejects_a_bad_grid_before_running(tmp_path):
    proc = agentbench("sweep", DEMO, "--grid", "graph=oracle,null", "--grid", "run.epochs=1,zero",
                      "--set", "sandbox.backend=local", "--out", str(tmp_path / "s"), check=False)
    assert proc.returncode == 2 and "run.epochs" in proc.stderr
    assert not (tmp_path / "s").exists()
