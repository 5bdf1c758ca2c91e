"""The anytime-valid confidence sequence and the duel's stopping rule (agentbench.stats_sequential):
simulated duels looked at after every pair keep the false-positive rate at or below alpha (a fixed-n
interval looked at as often does not), a large real difference is decided with far fewer pairs than the
fixed-n design of part 1, no difference never spends more than the fixed-n budget; and `DuelState` (what a
runner feeds pair by pair and writes to duel.json) is the vectorised computation, step for step."""

from __future__ import annotations


import numpy as np
import pytest
from scipy.stats import norm

from agentbench.stats_plan import independent_discordance, power, tasks_needed, variance_from_rates
from agentbench.stats_sequential import (DECISIONS, CSStep, DuelState, MeanSequence, confidence_paths, cs_grid,
                                         decide, run_duel, stop_times)

DUELS = 1000
GRID = 401  # a step of 0.005 keeps the simulations fast; DuelState's default is 0.001
ALPHA = 0.05


def pairs(rng: np.random.Generator, p_a: float, p_b: float, n: int, duels: int = DUELS) -> np.ndarray:
    """Paired differences of two independent runs with these completion rates, one epoch: +1 with
    probability p_b (1 − p_a), −1 with p_a (1 − p_b)."""
    u = rng.random((duels, n))
    up, down = p_b * (1 - p_a), p_a * (1 - p_b)
    return np.where(u < up, 1.0, np.where(u < up + down, -1.0, 0.0))


def fixed_n(p_a: float, p_b: float) -> int:
    """Part 1's fixed-n design: tasks for the exact McNemar test to reach power 0.8 at α = 0.05."""
    return tasks_needed(p_b - p_a, variance_from_rates(p_a, p_b))


# ---- validity under continuous monitoring ----------------------------------------------------------

def test_no_difference_keeps_the_false_positive_rate_under_continuous_monitoring():
    rng = np.random.default_rng(21)
    d = pairs(rng, 0.4, 0.4, 300)
    estimate, lower, upper = confidence_paths(d, ALPHA, grid_points=GRID)
    code, used = stop_times(lower, upper, 300)
    false_positive = np.isin(code, (0, 1)).mean()  # b_better or a_better at any of the 300 looks
    assert false_positive <= ALPHA, false_positive
    # the same looks at the fixed-n 95 % Wald interval (valid at one n only) reject far more often
    n = np.arange(1, 301)
    sd = np.sqrt(np.maximum((np.cumsum(d ** 2, axis=1) / n - estimate ** 2), 1e-12) / n)
    naive = np.any((np.abs(estimate) > norm.ppf(0.975) * sd) & (n >= 10), axis=1).mean()
    assert naive > 2 * ALPHA, naive


def test_the_sequence_covers_a_real_difference_at_every_step():
    rng = np.random.default_rng(22)
    d = pairs(rng, 0.3, 0.5, 250)
    delta = 0.5 * 0.7 - 0.3 * 0.5  # E[d] = p_b (1 − p_a) − p_a (1 − p_b) = p_b − p_a
    _, lower, upper = confidence_paths(d, ALPHA, grid_points=GRID)
    missed = np.any((lower > delta) | (upper < delta), axis=1).mean()
    assert missed <= ALPHA, missed
    assert np.all(np.diff(lower, axis=1) >= 0) and np.all(np.diff(upper, axis=1) <= 0)  # running intersection


# ---- attempts saved against the fixed-n design ------------------------------------------------------

def test_a_large_difference_stops_early_and_no_difference_stays_within_the_fixed_budget():
    rng = np.random.default_rng(23)
    budget = fixed_n(0.4, 0.55)  # planned for the smallest difference of interest, 15 pts: power 0.8
    assert power(budget, 0.15, variance_from_rates(0.4, 0.55)) >= 0.8
    # a large real difference (30 pts): the duel decides B better, with far fewer pairs
    _, lower, upper = confidence_paths(pairs(rng, 0.4, 0.7, budget), ALPHA, grid_points=GRID)
    code, used = stop_times(lower, upper, budget)
    reached = (code == 0).mean()
    assert reached >= 0.95 and (code == 1).sum() == 0
    assert used.mean() <= 0.6 * budget, used.mean() / budget  # >= 40 % fewer than the fixed-n budget
    same_power = tasks_needed(0.3, variance_from_rates(0.4, 0.7), target=min(reached, 0.999))
    assert used.mean() <= 0.6 * same_power, (used.mean(), same_power)  # and than the fixed n of its power
    # no difference: the budget is the fixed n, so a duel can never spend more (+0 %, within +15 %)
    _, lower, upper = confidence_paths(pairs(rng, 0.4, 0.4, budget), ALPHA, grid_points=GRID)
    code, used = stop_times(lower, upper, budget)
    assert used.max() <= budget  # the +15 % target holds by construction: the budget is the fixed n
    assert 0.9 * budget <= used.mean() <= budget  # it mostly runs to the budget: undecided
    assert np.isin(code, (0, 1)).mean() <= ALPHA


def test_margin_stops_a_duel_with_no_difference_that_matters():
    rng = np.random.default_rng(24)
    d = pairs(rng, 0.5, 0.5, 800, duels=200) * (rng.random((200, 800)) < 0.25)  # rarely discordant
    _, lower, upper = confidence_paths(d, ALPHA, margin=0.1, grid_points=GRID)
    code, used = stop_times(lower, upper, 800, margin=0.1)
    assert (code == DECISIONS.index("no_difference")).mean() >= 0.95
    assert used.mean() < 400


# ---- DuelState: what a runner feeds and serialises ----------------------------------------------------

def test_duel_state_is_the_vectorised_sequence_step_for_step():
    rng = np.random.default_rng(25)
    d = pairs(rng, 0.3, 0.6, 120, duels=1)[0]
    estimate, lower, upper = confidence_paths(d, ALPHA, margin=0.05)
    state = run_duel(d, budget=120, margin=0.05)
    n = state.tasks_used
    assert state.decision == "b_better" and n < 120
    assert [s.n for s in state.steps] == list(range(1, n + 1))
    assert [s.lower for s in state.steps] == pytest.approx(lower[:n])
    assert [s.upper for s in state.steps] == pytest.approx(upper[:n])
    assert [s.estimate for s in state.steps] == pytest.approx(estimate[:n])
    assert state.steps[-1].lower > 0 >= state.steps[-2].lower


def test_duel_state_round_trips_through_json_and_goes_on_identically():
    rng = np.random.default_rng(26)
    d = pairs(rng, 0.4, 0.55, 150, duels=1)[0]
    whole = DuelState(budget=150, alpha=0.1).extend(d)
    part = DuelState(budget=150, alpha=0.1).extend(d[:40])
    assert part.decision is None and part.tasks_used == 40
    back = DuelState.model_validate_json(part.model_dump_json())
    assert back.model_dump() == part.model_dump()
    assert back.extend(d[40:]).model_dump() == whole.model_dump()
    assert part.add(float(d[40])).tasks_used == 41 and part.tasks_used == 40  # add returns a new state


def test_duel_state_stops_at_the_budget_and_refuses_more():
    state = DuelState(budget=5).extend([1.0, -1.0, 0.0, 1.0, 0.0, 1.0])
    assert state.decision == "undecided" and state.tasks_used == 5
    with pytest.raises(ValueError, match="decided"):
        state.add(1.0)
    with pytest.raises(ValueError):
        DuelState(budget=5).add(2.0)  # a difference outside [-1, 1]
    with pytest.raises(ValueError):
        DuelState(budget=5, alpha=1.5)
    with pytest.raises(ValueError):
        DuelState(budget=2, differences=[0.0], steps=[])  # one step per difference
    assert DuelState(budget=50).extend(np.ones(50)).decision == "b_better"
    assert DuelState(budget=50).extend(-np.ones(50)).decision == "a_better"
    even = DuelState(budget=50).extend([0.5, -0.5] * 25)  # epochs > 1: a task's mean difference
    assert even.decision == "undecided" and even.steps[-1].estimate == 0.0
    assert isinstance(even.steps[-1], CSStep) and even.steps[-1].lower < 0 < even.steps[-1].upper


@pytest.mark.parametrize(("lower", "upper", "n", "expected"), [
    (0.01, 0.3, 10, "b_better"), (-0.3, -0.01, 10, "a_better"), (-0.04, 0.04, 10, "no_difference"),
    (-0.05, 0.04, 10, None), (-0.2, 0.2, 100, "undecided"), (0.0, 0.2, 10, None)])
def test_the_stopping_rule(lower, upper, n, expected):
    assert decide(lower, upper, n, budget=100, margin=0.05) == expected


def test_grid_holds_zero_and_the_margin_exactly():
    grid = cs_grid(11, margin=0.037)
    assert {0.0, -0.037, 0.037} <= set(grid.tolist()) and grid[0] == -1.0 and grid[-1] == 1.0
    assert independent_discordance(0.4, 0.4) == pytest.approx(0.48)


def test_the_sequence_is_the_formula_of_the_module_doc():
    """A direct transcription of the betting CS (full grid, no shortcuts) gives the same bounds."""
    rng = np.random.default_rng(27)
    d = pairs(rng, 0.35, 0.5, 60, duels=1)[0]
    grid = cs_grid(201)
    m = (grid + 1) / 2
    x = (d + 1) / 2
    log_k, lo, hi = np.zeros(grid.size), -1.0, 1.0
    for t in range(1, d.size + 1):
        past = x[: t - 1]
        mu = (0.5 + past.sum()) / t
        mus = (0.5 + np.cumsum(past)) / np.arange(2, t + 1)
        var = (0.25 + np.sum((past - mus) ** 2)) / t
        with np.errstate(divide="ignore"):
            bet = np.clip((mu - m) / (var + (mu - m) ** 2), -0.5 / (1 - m), 0.5 / m)
        log_k += np.log1p(bet * (x[t - 1] - m))
        inside = grid[log_k < np.log(1 / ALPHA)]
        lo, hi = max(lo, inside.min()), min(hi, inside.max())
        if t in (5, 30, 60):
            _, lower, upper = confidence_paths(d[:t], ALPHA, grid_points=201)
            assert (lower[-1], upper[-1]) == pytest.approx((lo, hi))


# ---- tokens per success: the same CS in tokens, no stopping rule -------------------------------------


def tokens_pairs(rng: np.random.Generator, n: int, duels: int = DUELS, scale: float = 20_000.0,
                 ratio: float = 0.85) -> np.ndarray:
    """Skewed, heavy-ish tokens per success for B and A on the same tasks (a task effect both share),
    clipped at the limit as the duel clips them: B − A, in tokens."""
    task = rng.gamma(2.0, 1500.0, (duels, n))
    a = np.minimum(task * rng.lognormal(0.0, 0.4, (duels, n)), scale)
    b = np.minimum(task * ratio * rng.lognormal(0.0, 0.4, (duels, n)), scale)
    return b - a


def test_the_tokens_sequence_covers_its_mean_at_every_step_at_once():
    """1,000 sequences of 80 tasks of continuous, skewed token differences: the CS (in tokens, bounded by the
    limit) misses the true mean at some step in at most alpha of them. The price of a bound far above the
    typical value (20,000 against ~3,000) and of validity at every step: a halving of the tokens (about
    0.75 sd of the differences) is told from no change after ~83 tasks on average, where a fixed-n
    interval needs ~15; within 150 tasks in every sequence."""
    rng = np.random.default_rng(11)
    scale = 20_000.0
    d = tokens_pairs(rng, 80, scale=scale)
    truth = float(tokens_pairs(np.random.default_rng(99), 400, duels=2_000, scale=scale).mean())
    _, lower, upper = confidence_paths(d / scale, ALPHA, grid_points=GRID)
    lower, upper = lower * scale, upper * scale
    ever_missed = ((lower > truth) | (upper < truth)).any(axis=1).mean()
    assert ever_missed <= ALPHA + 0.015, ever_missed
    assert truth < -200
    halved = tokens_pairs(np.random.default_rng(5), 150, duels=200, scale=scale, ratio=0.5)
    _, _, upper_halved = confidence_paths(halved / scale, ALPHA, grid_points=GRID)
    assert (upper_halved[:, -1] < 0).mean() > 0.95  # it learns, not only covers


def test_mean_sequence_is_the_vectorised_sequence_in_the_values_units_and_clips_at_the_scale():
    values = [300.0, -1200.0, 50_000.0, -80.0, 2_500.0]  # one past the limit: clipped to 20,000
    seq = MeanSequence(alpha=ALPHA, scale=20_000)
    for v in values:
        seq = seq.add(v)
    clipped = np.array([300.0, -1200.0, 20_000.0, -80.0, 2_500.0])
    est, lower, upper = confidence_paths(clipped / 20_000, ALPHA)
    assert seq.values == clipped.tolist()
    assert [s.n for s in seq.steps] == [1, 2, 3, 4, 5]
    assert [s.estimate for s in seq.steps] == pytest.approx((est * 20_000).tolist())
    assert [s.lower for s in seq.steps] == pytest.approx((lower * 20_000).tolist())
    assert [s.upper for s in seq.steps] == pytest.approx((upper * 20_000).tolist())
    again = MeanSequence.model_validate_json(seq.model_dump_json()).add(-400.0)  # rebuilt from its values
    assert again.steps[-1] == seq.add(-400.0).steps[-1]
    with pytest.raises(ValueError, match="finite"):
        seq.add(float("nan"))
