"""Planning a paired comparison (agentbench.stats_plan, `agentbench plan`): the exact McNemar power against
enumeration, the planned number of tasks against simulated comparisons decided by the very tests `compare`
uses (exact McNemar with one epoch, the exact sign-flip test over tasks with more), the minimum detectable
effect, tokens per success, and the command on real run folders."""

from __future__ import annotations

import json
import math
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm
from typer.testing import CliRunner

from agentbench.cli import app
from agentbench.protocols import AttemptRecord, AttemptTotals, Score, Usage
from agentbench.stats import mcnemar_exact
from agentbench.stats_cluster import sign_flip_test
from agentbench.stats_plan import (PairedVariance, epochs_needed, mcnemar_power, min_detectable_effect, pair_pilot,
                                   power, ratio_influence, tasks_needed, tokens_mde, tokens_pilot,
                                   tokens_tasks_needed, variance_from_rates, variance_from_run)
from agentbench.store import RunStore

SIMS = 2000


def cells(p_a: float, p_b: float, psi: float) -> np.ndarray:
    """(p10, p01, p11, p00): A only, B only, both, neither."""
    delta = p_b - p_a
    p10, p01 = (psi - delta) / 2, (psi + delta) / 2
    return np.array([p10, p01, p_a - p10, 1 - p_a - p01])


def mcnemar_rejects(tables: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """`stats.mcnemar_exact` (what compare decides with) on each simulated (A only, B only) pair, cached."""
    seen: dict[tuple[int, int], bool] = {}
    out = []
    for b, c in tables[:, :2]:
        key = (int(b), int(c))
        if key not in seen:
            seen[key] = mcnemar_exact(*key) < alpha
        out.append(seen[key])
    return np.array(out)


# ---- exact McNemar power ---------------------------------------------------------------------------

def test_mcnemar_power_equals_enumeration_of_every_table():
    n, psi, delta = 12, 0.5, 0.3
    p10, p01 = (psi - delta) / 2, (psi + delta) / 2
    total = 0.0
    for b, c in product(range(n + 1), repeat=2):
        if b + c <= n:
            prob = math.factorial(n) / (math.factorial(b) * math.factorial(c) * math.factorial(n - b - c)) \
                * p10 ** b * p01 ** c * (1 - psi) ** (n - b - c)
            total += prob * (mcnemar_exact(b, c) < 0.05)
    assert mcnemar_power(n, psi, delta) == pytest.approx(total, abs=1e-12)
    assert mcnemar_power(n, psi, 0.0) < 0.05  # the exact test keeps its level


def test_one_epoch_plan_is_at_least_connors_normal_formula():
    v = variance_from_rates(0.4, 0.5, 0.2)
    connor = (norm.ppf(0.975) * math.sqrt(0.2) + norm.ppf(0.8) * math.sqrt(0.2 - 0.01)) ** 2 / 0.01
    n = tasks_needed(0.1, v)
    assert connor <= n <= 1.15 * connor  # the exact test is conservative: a few more pairs
    assert power(n, 0.1, v) >= 0.8 > power(n - 10, 0.1, v)


# ---- the planned n reaches the power: simulated comparisons ------------------------------------------

def test_planned_tasks_reach_the_power_one_epoch_mcnemar():
    rng = np.random.default_rng(11)
    for p_a, p_b, psi in ((0.4, 0.5, 0.2), (0.3, 0.45, None)):
        v = variance_from_rates(p_a, p_b, psi)
        n = tasks_needed(p_b - p_a, v)
        probs = cells(p_a, p_b, v.total + (p_b - p_a) ** 2)
        reached = mcnemar_rejects(rng.multinomial(n, probs, size=SIMS)).mean()
        assert abs(reached - 0.8) <= 0.05, (p_a, p_b, n, reached)
        fewer = mcnemar_rejects(rng.multinomial(n // 2, probs, size=SIMS)).mean()
        assert fewer < 0.7  # the check can fail: half the tasks fall well short


def simulate_epochs(rng: np.random.Generator, probs: np.ndarray, kappa: float, tasks: int, epochs: int,
                    sims: int) -> np.ndarray:
    """Per-task (A only, B only, both, neither) counts over the epochs: each task's cell probabilities drawn
    from Dirichlet(kappa · probs), its epochs independent given them; the icc of the difference is
    1 / (kappa + 1). Shape (sims, tasks, 4)."""
    task_probs = rng.dirichlet(kappa * probs, size=(sims, tasks))
    u = rng.random((sims, tasks, epochs, 1))
    cell = (u > np.cumsum(task_probs, axis=-1)[:, :, None, :]).sum(axis=-1)
    return np.stack([(cell == k).sum(axis=-1) for k in range(4)], axis=-1)


def test_planned_tasks_reach_the_power_with_epochs_sign_flip():
    rng = np.random.default_rng(5)
    probs, kappa, epochs = cells(0.4, 0.55, 0.35), 3.0, 3
    v = variance_from_rates(0.4, 0.55, 0.35, icc=1 / (kappa + 1))
    n = tasks_needed(0.15, v, epochs)
    counts = simulate_epochs(rng, probs, kappa, n, epochs, SIMS // 2)
    d = counts[..., 1] - counts[..., 0]  # per task: solved in B − solved in A over its epochs
    reached = np.mean([sign_flip_test(row) < 0.05 for row in d])
    assert abs(reached - 0.8) <= 0.05, (n, reached)
    assert n < tasks_needed(0.15, v, 1)  # epochs buy something...
    tau2, z = v.between, norm.ppf(0.975)
    floor = (z * math.sqrt(tau2 + 0.15 ** 2) + norm.ppf(0.8) * math.sqrt(tau2)) ** 2 / 0.15 ** 2
    assert floor <= tasks_needed(0.15, v, 1000) < floor + 2  # ...but the tasks' spread τ² is a floor


def test_a_pilot_pair_measures_the_split_and_plans_like_the_truth():
    rng = np.random.default_rng(2)
    probs, kappa, epochs = cells(0.4, 0.55, 0.35), 3.0, 3
    counts = simulate_epochs(rng, probs, kappa, 3000, epochs, 1)[0]
    codes = np.repeat(np.arange(3000), epochs)
    x = np.concatenate([[1.0] * c[1] + [-1.0] * c[0] + [0.0] * (c[2] + c[3]) for c in counts])
    pilot = pair_pilot(codes, x)
    assert pilot.icc_measured and pilot.epochs == 3 and pilot.tasks == 3000
    assert pilot.effect == pytest.approx(0.15, abs=0.02)
    assert pilot.discordance == pytest.approx(0.35, abs=0.02)
    assert pilot.variance.icc == pytest.approx(0.25, abs=0.05)
    truth = tasks_needed(0.15, variance_from_rates(0.4, 0.55, 0.35, icc=0.25), epochs)
    assert tasks_needed(0.15, pilot.variance, epochs) == pytest.approx(truth, rel=0.12)


def test_one_pilot_run_gives_the_noise_of_two_runs_of_the_same_system():
    rng = np.random.default_rng(3)
    p = rng.beta(0.6, 0.9, size=4000)
    solved = rng.binomial(5, p)
    v = variance_from_run(solved, np.full(4000, 5), icc=0.0)
    assert v.total == pytest.approx(2 * np.mean(p * (1 - p)), rel=0.05)
    one_epoch = variance_from_run(solved > 2, np.ones(4000), icc=0.0)  # no epochs: the pooled rate's bound
    assert one_epoch.total == pytest.approx(2 * np.mean(solved > 2) * (1 - np.mean(solved > 2)))


# ---- minimum detectable effect ---------------------------------------------------------------------

@pytest.mark.parametrize("epochs", [1, 3])
def test_mde_is_the_effect_the_tasks_are_planned_for(epochs):
    v = PairedVariance(within=0.2, between=0.1)
    mde = min_detectable_effect(150, v, epochs)
    assert power(150, mde, v, epochs) == pytest.approx(0.8, abs=0.01)
    assert tasks_needed(mde, v, epochs) == pytest.approx(150, abs=3)
    assert min_detectable_effect(600, v, epochs) < mde / 1.8  # four times the tasks: about half the effect
    assert min_detectable_effect(3, v, epochs) is None  # no exact test rejects on 3 tasks


def test_epochs_needed_for_a_fixed_number_of_tasks():
    v = PairedVariance(within=0.3, between=0.05)
    e = epochs_needed(200, 0.1, v)
    assert e is not None and tasks_needed(0.1, v, e) <= 200 < tasks_needed(0.1, v, e - 1)
    assert epochs_needed(20, 0.1, v) is None  # τ² alone needs more than 20 tasks


# ---- tokens per success ----------------------------------------------------------------------------

def token_runs(rng: np.random.Generator, tasks: int, sims: int, change: float) -> tuple[np.ndarray, ...]:
    """Per-task totals of 3 epochs for A and B: task difficulty and size shared, B's tokens × (1 + change)."""
    p = rng.beta(2, 3, size=(sims, tasks, 1))
    size = rng.lognormal(9, 0.8, size=(sims, tasks, 1))
    out = []
    for scale in (1.0, 1.0 + change):
        solved = (rng.random((sims, tasks, 3)) < p).sum(-1)
        tokens = (size * scale * rng.lognormal(0, 0.3, size=(sims, tasks, 3))).sum(-1)
        out += [tokens, solved]
    return tuple(out)


def test_tokens_plan_reaches_the_power_of_the_delta_method_test():
    rng = np.random.default_rng(8)
    ta, sa, tb, sb = (x[0] for x in token_runs(rng, 4000, 1, -0.15))
    ratio, u = ratio_influence(ta, sa)
    assert ratio == pytest.approx(ta.sum() / sa.sum())
    pilot = tokens_pilot(ta, sa, tb, sb)
    n = tokens_tasks_needed(0.15, pilot)
    assert tokens_mde(n, pilot) == pytest.approx(0.15, rel=0.02)
    ta, sa, tb, sb = token_runs(rng, n, SIMS, -0.15)

    def influence(t, s):
        r = t.sum(-1) / s.sum(-1)
        return r, (t - r[:, None] * s) / s.mean(-1)[:, None]

    (ra, ua), (rb, ub) = influence(ta, sa), influence(tb, sb)
    z = (rb - ra) / (np.std(ub - ua, axis=-1, ddof=1) / math.sqrt(n))
    reached = np.mean(np.abs(z) > norm.ppf(0.975))
    assert abs(reached - 0.8) <= 0.05, (n, reached)
    single = tokens_pilot(ta[0], sa[0])  # one run: no credit for the pairing, a larger plan
    assert tokens_tasks_needed(0.15, single) > 0


# ---- input errors ----------------------------------------------------------------------------------

def test_inputs_out_of_range_are_refused_naming_them():
    with pytest.raises(ValueError, match="discordance"):
        variance_from_rates(0.4, 0.5, 0.05)  # fewer discordant pairs than the difference
    with pytest.raises(ValueError, match="discordance"):
        variance_from_rates(0.4, 0.5, 0.95)
    with pytest.raises(ValueError, match="p_b"):
        variance_from_rates(0.4, 1.5)
    with pytest.raises(ValueError, match="effect"):
        tasks_needed(0.0, PairedVariance(0.2, 0.1))
    with pytest.raises(ValueError, match="alpha"):
        tasks_needed(0.1, PairedVariance(0.2, 0.1), alpha=1.5)
    with pytest.raises(ValueError, match="power"):
        min_detectable_effect(100, PairedVariance(0.2, 0.1), target=1.0)
    with pytest.raises(ValueError, match="icc"):
        variance_from_rates(0.4, 0.5, icc=2.0)
    with pytest.raises(ValueError):
        pair_pilot([0, 1], [0.5, 1.0])


# ---- the command on real run folders ---------------------------------------------------------------

def make_run(run_dir: Path, solved: dict[tuple[str, int], bool], tokens: int = 1000) -> None:
    run_dir.mkdir()
    store = RunStore.in_dir(run_dir)
    try:
        store.set_meta("run_id", run_dir.name)
        store.set_meta("config", {"graph": "react", "model": {"name": "m"}})
        store.set_meta("suite", {"name": "unit"})
        for (task, epoch), ok in solved.items():
            store.add_attempt(AttemptRecord(
                task_id=task, epoch=epoch, status="solved" if ok else "failed",
                score=Score(passed=ok, value=float(ok), details={}),
                totals=AttemptTotals(usage=Usage(prompt_tokens=tokens + 37 * len(task) * (epoch + 1)))), [], 0.0, 1.0)
    finally:
        store.close()


def cli(*args: str, code: int = 0):
    result = CliRunner().invoke(app, ["plan", *args])
    assert result.exit_code == code, result.output
    return result


def test_plan_from_stated_rates(tmp_path):
    text = cli("--rates", "0.4,0.5", "--discordance", "0.2").output
    assert "168 tasks" in text and "McNemar" in text
    out = json.loads(cli("--rates", "0.4,0.5", "--discordance", "0.2", "--epochs", "3", "--json").output)
    assert out["test"] == "sign_flip_tasks" and out["epochs"] == 3
    assert out["tasks_needed"] == tasks_needed(0.1, variance_from_rates(0.4, 0.5, 0.2), 3)
    assert [row["epochs"] for row in out["by_epochs"]] == [1, 2, 3, 5]
    assert out["by_epochs"][0]["tasks"] == 168


@pytest.mark.parametrize(("args", "named"), [
    (["--rates", "0.4"], "--rates"), (["--rates", "0.4,0.5", "--discordance", "0.95"], "discordance"),
    (["--rates", "0.4,0.5", "--alpha", "2"], "--alpha"), (["--rates", "0.4,0.5", "--power", "0"], "--power"),
    (["--rates", "0.4,0.5", "--epochs", "0"], "--epochs"), (["--rates", "0.4,0.5", "--effect", "0.1"], "--effect"),
    ([], "--rates"), (["nope-run"], "nope-run")])
def test_bad_input_exits_2_naming_the_argument(args, named):
    result = cli(*args, code=2)
    assert named in result.output


def test_plan_from_one_and_two_pilot_runs(tmp_path):
    rng = np.random.default_rng(4)
    p = rng.beta(0.8, 0.8, size=30)
    keys = [(f"t{i:02d}", e) for i in range(30) for e in range(3)]
    a_solved = {k: bool(rng.random() < p[int(k[0][1:])]) for k in keys}
    b_solved = {k: bool(rng.random() < min(1.0, p[int(k[0][1:])] + 0.2)) for k in keys}
    make_run(tmp_path / "a", a_solved)
    make_run(tmp_path / "b", b_solved, tokens=800)
    one = json.loads(cli(str(tmp_path / "a"), "--effect", "0.1", "--json").output)
    assert one["source"] == "run" and one["pilot_tasks"] == 30 and one["pilot_epochs"] == 3
    assert 0 < one["mde"] < 1 and one["tasks_needed"] > 30 and one["test"] == "sign_flip_tasks"
    assert one["tokens"]["mde_relative"] > 0
    two = json.loads(cli(str(tmp_path / "a"), str(tmp_path / "b"), "--effect", "0.1", "--tokens-effect", "0.1",
                         "--json").output)
    assert two["source"] == "pair" and two["icc_measured"]
    assert two["observed_effect"] == pytest.approx(np.mean([b_solved[k] - a_solved[k] for k in keys]))
    assert two["tokens"]["tasks_needed"] >= 2
    text = cli(str(tmp_path / "a"), str(tmp_path / "b")).output
    assert "minimum detectable effect of this pilot" in text and "tokens per success" in text
    cli(str(tmp_path / "a"), "--effect", "0.9", code=2)  # beyond a rate of 1
