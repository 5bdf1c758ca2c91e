"""Sweep planning (grid, cells, folder claim) and attribution arithmetic (main effects, interactions,
bootstrap intervals, Pareto fronts) on hand-built grids."""

import numpy as np
import pytest

from agentbench.protocols import AttemptRecord, AttemptTotals, Usage
from agentbench.analysis.io import claim_sweep_dir
from agentbench.analysis.results import Cell, CellData, Factor, SweepError
from agentbench.analysis.sweep import (
    analyze,
    cell_metric,
    contrast,
    default_sweep_dir,
    interaction_weights,
    main_effect_weights,
    make_plan,
    parse_grid,
    plan_cells,
    split_levels,
)


def rec(task, status, epoch=0, tokens=0, wall=0.0):
    return AttemptRecord(task_id=task, epoch=epoch, status=status,
                         totals=AttemptTotals(usage=Usage(prompt_tokens=tokens), wall_clock_s=wall))


# ---- grid and plan -------------------------------------------------------------------------------

def test_parse_grid():
    factors = parse_grid(["model.name=a,b", "graph=planning, react", "suite.ids=[x, y],[z]"])
    assert [(f.key, f.levels) for f in factors] == [("model.name", ["a", "b"]), ("graph", ["planning", "react"]),
                                                   ("suite.ids", ["[x, y]", "[z]"])]
    assert split_levels("'a,b',c") == ["'a,b'", "c"]


@pytest.mark.parametrize(("specs", "sets", "message"), [
    ([], [], "at least one --grid"),
    (["graph"], [], "expected KEY=V1,V2"),
    (["=a,b"], [], "expected KEY=V1,V2"),
    (["graph=a,,b"], [], "empty level"),
    (["graph=a,a"], [], "repeated"),
    (["graph=a,b", "graph=c"], [], "given twice"),
    (["graph=a,b"], ["graph=c"], "also given with --set"),
])
def test_parse_grid_errors(specs, sets, message):
    with pytest.raises(SweepError, match=message):
        parse_grid(specs, sets)


def test_cells_are_the_cartesian_product_last_factor_fastest():
    cells = plan_cells(parse_grid(["model.name=a,b", "graph=planning,react"]))
    assert [c.assignments for c in cells] == [
        {"model.name": "a", "graph": "planning"}, {"model.name": "a", "graph": "react"},
        {"model.name": "b", "graph": "planning"}, {"model.name": "b", "graph": "react"}]
    assert cells[0].name == "model.name-a__graph-planning"
    assert cells[1].overrides() == ["model.name=a", "graph=react"]
    odd = plan_cells([Factor(key="graph", levels=["x/y.py:build", "x y.py:build"])])
    assert len({c.name for c in odd}) == 2 and all("/" not in c.name and " " not in c.name for c in odd)


def test_default_folder_is_derived_from_the_plan(tmp_path):
    base = {"name": "demo", "graph": "planning"}
    plan = make_plan(None, [], parse_grid(["graph=oracle,null"]), base)
    same = make_plan(tmp_path / "x.yaml", [], parse_grid(["graph=oracle,null"]), dict(base))
    other = make_plan(None, [], parse_grid(["graph=oracle,react"]), base)
    assert default_sweep_dir("demo", plan) == default_sweep_dir("demo", same)
    assert default_sweep_dir("demo", plan) != default_sweep_dir("demo", other)
    assert str(default_sweep_dir("demo", plan)).startswith("runs/sweep-demo-")


def test_claim_sweep_dir(tmp_path):
    plan = make_plan(None, [], parse_grid(["graph=oracle,null"]), {"graph": "planning"})
    claim_sweep_dir(tmp_path / "s", plan)
    assert (tmp_path / "s" / "plan.json").exists()
    claim_sweep_dir(tmp_path / "s", plan)  # the same sweep again: resumes
    other = make_plan(None, [], parse_grid(["graph=oracle,react"]), {"graph": "planning"})
    with pytest.raises(SweepError, match="holds a different sweep"):
        claim_sweep_dir(tmp_path / "s", other)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(SweepError, match="holds no sweep"):
        claim_sweep_dir(tmp_path / "busy", plan)


# ---- effects on a hand-built 2 × 2 grid ----------------------------------------------------------

FACTORS = [Factor(key="A", levels=["a0", "a1"]), Factor(key="B", levels=["b0", "b1"])]
CELLS = plan_cells(FACTORS)  # (a0,b0), (a0,b1), (a1,b0), (a1,b1)
RATES = {"a0__b0": 0.2, "a0__b1": 0.4, "a1__b0": 0.6, "a1__b1": 1.0}


def grid_data(n=5, tokens=100) -> list[CellData]:
    """Each cell runs tasks t0..t4; its first round(rate * n) tasks are solved; every attempt costs
    `tokens` tokens and 1 s (a1 cells 2 s)."""
    out = []
    for cell in CELLS:
        key = f"{cell.assignments['A']}__{cell.assignments['B']}"
        solved = round(RATES[key] * n)
        wall = 2.0 if cell.assignments["A"] == "a1" else 1.0
        attempts = [rec(f"t{i}", "solved" if i < solved else "failed", tokens=tokens, wall=wall) for i in range(n)]
        out.append(CellData(cell=cell, path=f"sweep/{cell.name}", attempts=attempts))
    return out


def test_contrast_weights_by_hand():
    y = np.array([0.2, 0.4, 0.6, 1.0])  # cell order: a0b0, a0b1, a1b0, a1b1
    assert contrast(main_effect_weights(CELLS, FACTORS[0], "a1"), y) == pytest.approx((0.6 + 1.0) / 2 - (0.2 + 0.4) / 2)
    assert contrast(main_effect_weights(CELLS, FACTORS[1], "b1"), y) == pytest.approx((0.4 + 1.0) / 2 - (0.2 + 0.6) / 2)
    inter = interaction_weights(CELLS, FACTORS[0], "a1", FACTORS[1], "b1")
    assert inter.tolist() == [1.0, -1.0, -1.0, 1.0]
    assert contrast(inter, y) == pytest.approx((1.0 - 0.4) - (0.6 - 0.2))
    # a cell left out of a contrast cannot spoil it with an undefined value
    assert contrast(np.array([1.0, 0.0, -1.0, 0.0]), np.array([0.5, np.nan, 0.25, np.inf])) == 0.25


def test_analyze_main_effects_and_interaction():
    result = analyze(FACTORS, grid_data(), "sweep", n_resamples=500)
    effects = {(e.kind, tuple(e.factors), e.metric): e for e in result.effects}
    assert len(result.effects) == 3 * 3  # (A, B, A×B) × 3 metrics
    main_a = effects[("main", ("A",), "completion_rate")]
    assert main_a.estimate == pytest.approx(0.5) and main_a.levels == ["a1"] and main_a.baselines == ["a0"]
    assert effects[("main", ("B",), "completion_rate")].estimate == pytest.approx(0.3)
    assert effects[("interaction", ("A", "B"), "completion_rate")].estimate == pytest.approx(0.2)
    lo, hi = main_a.ci95
    assert lo <= 0.5 <= hi
    assert effects[("main", ("A",), "wall_clock_per_attempt_s")].estimate == pytest.approx(1.0)
    assert effects[("main", ("B",), "wall_clock_per_attempt_s")].estimate == pytest.approx(0.0)
    # tokens per success: 500 tokens / solved (1, 2, 3, 5)
    tps = {s.name: s.tokens_per_success for s in result.cells}
    assert tps == {"A-a0__B-b0": 500.0, "A-a0__B-b1": 250.0, "A-a1__B-b0": 500 / 3, "A-a1__B-b1": 100.0}
    assert effects[("main", ("A",), "tokens_per_success")].estimate == pytest.approx(
        (500 / 3 + 100) / 2 - (500 + 250) / 2)
    assert [s.completion_rate for s in result.cells] == [0.2, 0.4, 0.6, 1.0]
    assert any("only 5 (task, epoch) keys" in w for w in result.warnings)


def test_analyze_pareto_fronts():
    result = analyze(FACTORS, grid_data(), "sweep", n_resamples=100)
    # tokens per success: a1b1 is best in both rate and price -> alone on the front
    assert result.pareto["tokens_per_success"] == ["A-a1__B-b1"]
    # wall-clock: a0 cells take 1 s, a1 cells 2 s -> the best a0 cell (b1, 0.4) and the best a1 cell (b1, 1.0)
    assert result.pareto["wall_clock_per_attempt_s"] == ["A-a0__B-b1", "A-a1__B-b1"]


def test_three_levels_and_a_cell_that_solved_nothing():
    factors = [Factor(key="graph", levels=["oracle", "null", "half"])]
    cells = plan_cells(factors)
    solved = {"oracle": 4, "null": 0, "half": 2}
    data = [CellData(cell=c, path=c.name, attempts=[
        rec(f"t{i}", "solved" if i < solved[c.assignments["graph"]] else "failed", tokens=10) for i in range(4)])
        for c in cells]
    result = analyze(factors, data, n_resamples=200)
    got = {(e.levels[0], e.metric): e for e in result.effects}
    assert got[("null", "completion_rate")].estimate == -1.0
    assert got[("half", "completion_rate")].estimate == -0.5
    assert got[("null", "tokens_per_success")].estimate is None  # no success: no price
    assert got[("half", "tokens_per_success")].estimate == pytest.approx(40 / 2 - 40 / 4)
    assert "graph-oracle" in result.pareto["tokens_per_success"]
    assert "graph-null" not in result.pareto["tokens_per_success"]


def test_errors_and_missing_attempts_are_left_out_of_a_cell():
    solved = np.array([[1.0, np.nan, 0.0]])
    tokens = np.array([[10.0, np.nan, 30.0]])
    wall = np.array([[1.0, np.nan, 3.0]])
    assert cell_metric("completion_rate", solved, tokens, wall).tolist() == [0.5]
    assert cell_metric("tokens_per_success", solved, tokens, wall).tolist() == [40.0]
    assert cell_metric("wall_clock_per_attempt_s", solved, tokens, wall).tolist() == [2.0]
    factors = [Factor(key="g", levels=["x", "y"])]
    cells = plan_cells(factors)
    data = [CellData(cell=cells[0], path="x", attempts=[rec("t0", "solved"), rec("t1", "error")]),
            CellData(cell=cells[1], path="y", attempts=[rec("t0", "failed")])]
    result = analyze(factors, data, n_resamples=50)
    assert [(s.completion_rate, s.errors) for s in result.cells] == [(1.0, 1), (0.0, 0)]
    assert any("g-x, g-y" in w for w in result.warnings)


def test_cell_labels():
    cell = Cell(name="n", assignments={"model.name": "a", "graph": "react"})
    assert cell.label == "model.name=a graph=react"


def test_load_cell_errors_name_the_folder(tmp_path):
    from agentbench.analysis.io import load_cell

    cell = Cell(name="graph-x", assignments={"graph": "x"})
    with pytest.raises(SweepError, match="graph-x: cell graph=x has no run store"):
        load_cell(tmp_path, cell)
    (tmp_path / "graph-x").mkdir()
    (tmp_path / "graph-x" / "run.sqlite").write_bytes(b"not sqlite" * 500)
    with pytest.raises(SweepError, match="graph-x: unreadable run store"):
        load_cell(tmp_path, cell)


# ---- p-values, Holm, epochs > 1 ------------------------------------------------------------------

def test_every_effect_has_a_bootstrap_p_and_a_holm_adjusted_one():
    from agentbench.stats import holm

    result = analyze(FACTORS, grid_data(n=30), "sweep", n_resamples=999)
    tested = [e for e in result.effects if e.p_value is not None]
    assert len(tested) == len(result.effects) == 9 and result.alpha == 0.05
    assert [e.p_holm for e in tested] == pytest.approx(holm([e.p_value for e in tested]))
    assert all(e.significant_holm == (e.p_holm < 0.05) for e in tested)
    assert all(e.p_holm >= e.p_value for e in tested)
    effects = {(e.kind, tuple(e.factors), e.metric): e for e in result.effects}
    main_a = effects[("main", ("A",), "completion_rate")]
    assert main_a.p_value == pytest.approx(2 / 1000) and main_a.significant_holm is True  # 0.5 pts, 30 tasks
    wall_b = effects[("main", ("B",), "wall_clock_per_attempt_s")]  # B does not change the wall-clock
    assert wall_b.estimate == 0.0 and wall_b.p_value == 1.0 and wall_b.significant_holm is False


def test_an_effect_without_an_interval_has_no_p_and_stays_out_of_holm():
    factors = [Factor(key="graph", levels=["oracle", "null"])]
    cells = plan_cells(factors)
    data = [CellData(cell=c, path=c.name, attempts=[
        rec(f"t{i}", "solved" if c.assignments["graph"] == "oracle" else "failed", tokens=10) for i in range(6)])
        for c in cells]
    result = analyze(factors, data, n_resamples=200)
    got = {e.metric: e for e in result.effects}
    assert got["tokens_per_success"].p_value is None and got["tokens_per_success"].p_holm is None
    assert got["completion_rate"].p_holm == pytest.approx(min(1.0, 2 * got["completion_rate"].p_value))


def with_epochs(data: list[CellData], n: int) -> list[CellData]:
    return [CellData(cell=d.cell, path=d.path, attempts=[a.model_copy(update={"epoch": e})
                                                        for a in d.attempts for e in range(n)]) for d in data]


def test_with_epochs_the_bootstrap_resamples_tasks():
    """Identical epochs add no information: the effects' intervals and p-values are the one-epoch ones
    (a (task, epoch) bootstrap would narrow them), and the cells' intervals are clustered."""
    one = analyze(FACTORS, grid_data(n=20), "sweep", n_resamples=300)
    three = analyze(FACTORS, with_epochs(grid_data(n=20), 3), "sweep", n_resamples=300)
    assert (one.clustered, three.clustered) == (False, True)
    for e1, e3 in zip(one.effects, three.effects):
        assert e3.estimate == pytest.approx(e1.estimate)
        assert e3.ci95 == pytest.approx(e1.ci95) and e3.p_value == pytest.approx(e1.p_value)
    assert [s.completion_ci95_method for s in one.cells] == ["wilson"] * 4
    assert [s.completion_ci95_method for s in three.cells] == ["cluster_bootstrap"] * 4
    lo1, hi1 = one.cells[1].completion_ci95  # 8 of 20 solved
    lo3, hi3 = three.cells[1].completion_ci95  # 24 of 60, but still 8 of 20 tasks
    assert hi3 - lo3 >= hi1 - lo1 - 0.02
    assert three.warnings == []  # 20 tasks: enough
    few = analyze(FACTORS, with_epochs(grid_data(), 3), "sweep", n_resamples=100)
    assert any("only 5 tasks" in w for w in few.warnings)


def test_the_effects_view_shows_the_holm_p_and_which_pass():
    from rich.console import Console

    from agentbench.analysis.terminal import sweep_tables

    console = Console(width=220, record=True)
    for part in sweep_tables(analyze(FACTORS, grid_data(n=30), "sweep", n_resamples=500)):
        console.print(part)
    out = console.export_text()
    assert "p (Holm)" in out and "Holm at 0.05" in out and "passes" in out and "does not pass" in out
    assert "Holm-adjusted over all 9 effects" in out and "bootstrap over (task, epoch) keys" in out
