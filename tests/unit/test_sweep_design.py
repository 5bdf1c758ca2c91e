"""Half-fraction sweeps (`sweep --design half`, analysis/design.py): which cells, what they alias, the main
effects and interactions recovered on the fraction from a known synthetic response, and the refusals."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from agentbench.analysis.design import aliasing, check_half, half_fraction, kept_interactions, moved, sign
from agentbench.analysis.results import CellData, Factor, SweepError, SweepPlan
from agentbench.analysis.sweep import analyze, make_plan, plan_cells
from agentbench.cli import app
from agentbench.protocols import AttemptRecord

TASKS = 20


def factors(k: int) -> list[Factor]:
    return [Factor(key=f"f{i}", levels=["lo", "hi"]) for i in range(k)]


def coded(cell, fs) -> np.ndarray:
    """The cell's ±1 coding: first level −1, second +1."""
    return np.array([1.0 if cell.assignments[f.key] == f.levels[1] else -1.0 for f in fs])


@pytest.mark.parametrize("k", [4, 5, 6])
def test_the_half_fraction_is_balanced_and_holds_the_baseline(k):
    fs = factors(k)
    cells = half_fraction(plan_cells(fs), fs)
    assert len(cells) == 2 ** (k - 1)
    assert all(moved(c, fs) % 2 == 0 for c in cells)
    assert any(moved(c, fs) == 0 for c in cells)  # the experiment as given is one of the cells
    x = np.array([coded(c, fs) for c in cells])
    assert np.all(x.prod(axis=1) == sign(k))  # the defining relation I = s·AB…K holds on every cell
    assert np.all(x.sum(axis=0) == 0)  # each factor at each level in half the cells
    for i, j in itertools.combinations(range(k), 2):  # main effects orthogonal to each other
        assert (x[:, i] * x[:, j]).sum() == 0


def test_aliasing_statements_say_which_effects_are_estimable():
    four = aliasing(factors(4))
    assert four.relation == "I = ABCD" and four.resolution == 4 and not four.two_factor_estimable
    assert four.main_effects == ["A + BCD", "B + ACD", "C + ABD", "D + ABC"]
    assert four.two_factor == ["AB + CD", "AC + BD", "AD + BC"]  # aliased in pairs: one estimate each
    assert "NOT separately estimable" in four.statements[2]
    five = aliasing(factors(5))
    assert five.relation == "I = −ABCDE" and five.two_factor_estimable
    assert five.main_effects[0] == "A − BCDE" and len(five.two_factor) == 10 and five.two_factor[0] == "AB − CDE"
    assert "estimable, each aliased with a 3-factor interaction" in five.statements[2]
    assert kept_interactions(factors(4), "half") == {("f0", "f1"), ("f0", "f2"), ("f0", "f3")}
    assert len(kept_interactions(factors(4), "full")) == 6 and len(kept_interactions(factors(5), "half")) == 10


@pytest.mark.parametrize(("fs", "message"), [
    (factors(3), "at least 4 two-level factors, got 3"),
    ([*factors(3), Factor(key="g", levels=["a", "b", "c"])], "exactly two levels; not: g (3 levels)"),
])
def test_a_half_fraction_needs_four_two_level_factors(fs, message):
    with pytest.raises(SweepError, match=re.escape(message)):
        check_half(fs)
    with pytest.raises(SweepError, match=re.escape(message)):
        make_plan(None, [], fs, {}, "half")


@pytest.mark.parametrize(("grids", "message"), [
    (["graph=oracle,null", "model.temperature=0,0.7", "limits.max_steps=2,3"], "at least 4 two-level factors"),
    (["graph=oracle,null", "model.temperature=0,0.7", "limits.max_steps=2,3,4", "run.seed=0,1"],
     "exactly two levels; not: limits.max_steps"),
])
def test_the_command_refuses_a_half_design_it_cannot_make_with_exit_2(tmp_path, grids, message):
    out = tmp_path / "sweep"
    args = ["sweep", "experiments/demo.yaml", *[a for g in grids for a in ("--grid", g)], "--design", "half",
            "--out", str(out)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert not out.exists()


def cell_data(cells, fs, response) -> list[CellData]:
    """Each cell with TASKS one-epoch attempts, round(TASKS · response(x)) of them solved."""
    out = []
    for c in cells:
        solved = round(TASKS * response(coded(c, fs)))
        attempts = [AttemptRecord(task_id=f"t{i:02d}", epoch=0, status="solved" if i < solved else "failed")
                    for i in range(TASKS)]
        out.append(CellData(cell=c, path=c.name, attempts=attempts))
    return out


def completion(result, kind: str) -> dict[tuple[str, ...], float]:
    return {tuple(e.factors): e.estimate for e in result.effects if e.kind == kind and e.metric == "completion_rate"}


def test_main_effects_are_recovered_on_the_half_fraction():
    fs = factors(4)
    plan = make_plan(None, [], fs, {}, "half")
    effects = np.array([0.2, -0.1, 0.1, 0.3])  # high − low of each factor
    result = analyze(fs, cell_data(plan.cells, fs, lambda x: 0.5 + x @ effects / 2), n_resamples=200,
                     design="half")
    mains = completion(result, "main")
    assert [mains[(f.key,)] for f in fs] == pytest.approx(effects.tolist())
    assert len(plan.cells) == 8 and result.design == "half" and result.aliasing == plan.aliasing
    assert next(e for e in result.effects if e.factors == ["f0"]).aliased_with == ["f1", "f2", "f3"]
    assert sorted(completion(result, "interaction")) == [("f0", "f1"), ("f0", "f2"), ("f0", "f3")]


def test_on_the_fraction_an_effect_is_the_sum_with_its_alias():
    # k = 4: a three-factor interaction B·C·D lands on A's main effect, a C·D interaction on A·B's estimate
    fs = factors(4)
    cells = make_plan(None, [], fs, {}, "half").cells
    result = analyze(fs, cell_data(cells, fs, lambda x: 0.5 + 0.1 * x[0] + 0.1 * x[1] * x[2] * x[3]
                                   + 0.05 * x[2] * x[3]), n_resamples=200, design="half")
    assert completion(result, "main")[("f0",)] == pytest.approx(0.4)  # 2·(0.1 + 0.1): A + BCD
    assert completion(result, "interaction")[("f0", "f1")] == pytest.approx(0.2)  # 4·0.05: AB + CD
    # k = 5: two-factor interactions are recovered (clear of each other), main effects too
    fs = factors(5)
    cells = make_plan(None, [], fs, {}, "half").cells
    result = analyze(fs, cell_data(cells, fs, lambda x: 0.5 + 0.1 * x[0] - 0.05 * x[4] + 0.05 * x[0] * x[1]),
                     n_resamples=200, design="half")
    inter = completion(result, "interaction")
    assert inter[("f0", "f1")] == pytest.approx(0.2) and len(inter) == 10
    assert all(v == pytest.approx(0.0, abs=1e-12) for key, v in inter.items() if key != ("f0", "f1"))
    assert completion(result, "main")[("f0",)] == pytest.approx(0.2)
    assert completion(result, "main")[("f4",)] == pytest.approx(-0.1)


def test_the_design_is_part_of_the_plan_and_its_digest():
    fs = factors(4)
    full, half = make_plan(None, [], fs, {}), make_plan(None, [], fs, {}, "half")
    assert not full.same_sweep(half) and full.digest() != half.digest()
    assert SweepPlan.model_validate_json(half.model_dump_json()).same_sweep(half)
    assert full.aliasing is None and half.aliasing is not None and half.aliasing.letters["f3"] == "D"
