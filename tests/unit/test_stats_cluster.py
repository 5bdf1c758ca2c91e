"""Statistics over clusters (a task's epochs): per-cluster totals, the cluster bootstrap, the sign-flip
test over tasks, bootstrap p-values and Holm's adjustment; and simulations showing why: with correlated
epochs the naive (task, epoch)-level interval and test lose their nominal rates, the clustered ones keep
them."""

import itertools

import numpy as np
import pytest

from agentbench.stats import (bootstrap_p_value, cluster_bootstrap_proportion, clustered_proportion_ci, holm,
                              mcnemar_exact, paired_bootstrap_ci, paired_bootstrap_draws, wilson_interval)
from agentbench.stats_cluster import cluster_bootstrap_draws, cluster_codes, cluster_sums, sign_flip_test

# ---- per-cluster totals --------------------------------------------------------------------------


def test_cluster_codes_are_the_sorted_labels():
    labels, codes = cluster_codes(["b", "a", "b", "c", "a"])
    assert labels == ["a", "b", "c"] and codes.tolist() == [1, 0, 1, 2, 0]


def test_cluster_sums_ignore_nan_and_keep_leading_axes():
    values = np.array([[1.0, 2.0, np.nan, 4.0], [10.0, 20.0, 30.0, 40.0]])
    assert cluster_sums(values, [0, 1, 0, 1]).tolist() == [[1.0, 6.0], [40.0, 60.0]]
    assert cluster_sums([5.0], [2], n_clusters=4).tolist() == [0.0, 0.0, 5.0, 0.0]
    with pytest.raises(ValueError):
        cluster_sums([1.0, 2.0], [0])


def test_cluster_bootstrap_of_singletons_is_the_paired_bootstrap_draw_for_draw():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=25), rng.normal(size=25)
    plain = paired_bootstrap_draws((a, b), lambda x, y: y.mean(-1) - x.mean(-1), n_resamples=700, seed=5)
    clustered = cluster_bootstrap_draws((np.ones(25), a, b), np.arange(25),
                                        lambda n, x, y: y.sum(-1) / n.sum(-1) - x.sum(-1) / n.sum(-1),
                                        n_resamples=700, seed=5)
    assert np.array_equal(plain, clustered)


def test_cluster_bootstrap_keeps_a_cluster_together():
    # two clusters; inside each, every observation is the same: the resampled means are only 0, 1/2 or 1
    values = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    draws = cluster_bootstrap_draws((np.ones(6), values), [0, 0, 0, 1, 1, 1], lambda n, x: x.sum(-1) / n.sum(-1),
                                    n_resamples=400)
    assert set(np.unique(draws)) <= {0.0, 0.5, 1.0} and draws.shape == (400,)
    # identical epochs carry no more information than one: the same draws as the one-epoch data
    one = cluster_bootstrap_draws((np.ones(2), values[[0, 3]]), [0, 1], lambda n, x: x.sum(-1) / n.sum(-1),
                                  n_resamples=400)
    assert np.array_equal(draws, one)


# ---- the sign-flip test over tasks ---------------------------------------------------------------

@pytest.mark.parametrize(("b", "c"), [(0, 0), (5, 0), (7, 1), (1, 7), (10, 2), (3, 3), (4, 1), (12, 20)])
def test_sign_flip_of_single_flips_is_mcnemar(b, c):
    assert sign_flip_test([1] * b + [-1] * c + [0] * 4) == pytest.approx(mcnemar_exact(b, c), abs=1e-12)


def test_sign_flip_against_enumerating_every_assignment():
    rng = np.random.default_rng(11)
    for _ in range(40):
        d = rng.integers(-3, 4, size=int(rng.integers(1, 11)))
        observed = abs(int(d.sum()))
        hits = sum(abs(int(np.dot(signs, d))) >= observed for signs in itertools.product((-1, 1), repeat=d.size))
        assert sign_flip_test(d) == pytest.approx(hits / 2 ** d.size, abs=1e-12)


def test_sign_flip_by_hand_and_edge_cases():
    # the four sign assignments of (3, 1) sum to 4, 2, -2, -4
    assert sign_flip_test([3, 1]) == pytest.approx(0.5)  # |sum| >= 4: 2 of 4
    assert sign_flip_test([3, -1]) == 1.0  # |sum| >= 2: all 4
    assert sign_flip_test([3, 3]) == pytest.approx(0.5)  # 6, 0, 0, -6
    assert sign_flip_test([2] * 8) == pytest.approx(2 / 256)
    assert sign_flip_test([]) == 1.0 and sign_flip_test([0, 0]) == 1.0
    assert sign_flip_test([1, 2] * 150) < 1e-10  # 300 tasks: still exact and fast
    with pytest.raises(ValueError):
        sign_flip_test([0.5, 1.0])


# ---- bootstrap p-values, Holm --------------------------------------------------------------------

def test_holm_known_values():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.01, 0.02, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.02]) == [0.02] and holm([]) == []
    with pytest.raises(ValueError):
        holm([0.1, float("nan")])


def test_holm_is_monotone_and_never_below_the_raw_p():
    p = np.random.default_rng(0).random(30) ** 3
    adjusted = np.array(holm(p))
    assert np.all(adjusted >= p)
    order = np.argsort(p)
    assert np.all(np.diff(adjusted[order]) >= 0)


def test_bootstrap_p_value():
    assert bootstrap_p_value(np.full(999, 2.0)) == pytest.approx(2 / 1000)  # every draw above 0
    assert bootstrap_p_value(np.zeros(99)) == 1.0
    draws = np.concatenate([np.full(25, -1.0), np.full(975, 1.0)])
    assert bootstrap_p_value(draws) == pytest.approx(2 * 26 / 1001)
    assert bootstrap_p_value([np.nan, np.inf]) is None


# ---- the interval of a clustered proportion ------------------------------------------------------

def test_clustered_proportion_ci_edge_cases():
    assert clustered_proportion_ci([], []) == (0.0, 1.0)
    assert clustered_proportion_ci([0, 0], [0, 0]) == (0.0, 1.0)
    assert cluster_bootstrap_proportion([0], [0]) is None
    # all solved: the bootstrap is a point, the reported interval is Wilson's
    assert cluster_bootstrap_proportion([3, 3], [3, 3])[:2] == (1.0, 1.0)
    assert clustered_proportion_ci([3, 3], [3, 3]) == pytest.approx(wilson_interval(6, 6))
    with pytest.raises(ValueError):
        cluster_bootstrap_proportion([4], [3])


def test_clustered_interval_widens_with_correlated_epochs():
    # 20 tasks, 5 epochs, each task all-or-nothing: the information of 20 trials, not 100
    solved = np.array([5] * 8 + [0] * 12)
    lo, hi = clustered_proportion_ci(solved, np.full(20, 5))
    wlo, whi = wilson_interval(40, 100)
    assert hi - lo > 1.5 * (whi - wlo)


TASKS, EPOCHS, RUNS, RESAMPLES = 30, 5, 1000, 400
BETA = (0.6, 0.9)  # per-task success probabilities: mean 0.4, intra-task correlation 1 / (0.6 + 0.9 + 1) = 0.4


def simulated_runs(seed: int) -> np.ndarray:
    """RUNS benchmark runs, each on TASKS tasks drawn afresh from the population (probabilities from
    Beta(BETA)), EPOCHS attempts per task: solved, shape (RUNS, TASKS, EPOCHS)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(*BETA, size=(RUNS, TASKS))
    return rng.random((RUNS, TASKS, EPOCHS)) < p[..., None]


def test_clustered_interval_keeps_its_coverage_where_the_naive_ones_do_not():
    """The benchmark's tasks are a sample of a population; the true mean is the population's. The
    naive intervals treat the 150 attempts as independent and cover it far less than 95 %."""
    truth = BETA[0] / sum(BETA)
    solved = simulated_runs(seed=2024)
    covered = {"wilson": 0, "naive_bootstrap": 0, "cluster_bootstrap": 0, "reported": 0}
    trials = np.full(TASKS, EPOCHS)
    mean = lambda x: x.mean(axis=-1)  # noqa: E731
    for r in range(RUNS):
        per_task = solved[r].sum(axis=1)
        lo, hi = wilson_interval(int(per_task.sum()), TASKS * EPOCHS)
        covered["wilson"] += lo <= truth <= hi
        naive = paired_bootstrap_ci((solved[r].ravel().astype(float),), mean, n_resamples=RESAMPLES, seed=r)
        covered["naive_bootstrap"] += naive.contains(truth)
        cluster = cluster_bootstrap_proportion(per_task, trials, n_resamples=RESAMPLES, seed=r)
        covered["cluster_bootstrap"] += cluster.contains(truth)
        lo, hi = clustered_proportion_ci(per_task, trials, n_resamples=RESAMPLES, seed=r)
        covered["reported"] += lo <= truth <= hi
    coverage = {k: v / RUNS for k, v in covered.items()}
    assert coverage["wilson"] < 0.90 and coverage["naive_bootstrap"] < 0.90, coverage
    assert coverage["cluster_bootstrap"] >= 0.92 and coverage["reported"] >= 0.92, coverage


def test_sign_flip_keeps_its_size_where_mcnemar_over_epochs_does_not():
    """Two runs of the same agent (no difference in the population), tasks with their own per-run
    success probabilities: McNemar on (task, epoch) pairs rejects far too often, the sign-flip test over
    tasks does not."""
    a, b = simulated_runs(seed=1), simulated_runs(seed=2)
    rejected = {"mcnemar": 0, "sign_flip": 0}
    for r in range(400):
        only_a, only_b = int((a[r] & ~b[r]).sum()), int((~a[r] & b[r]).sum())
        rejected["mcnemar"] += mcnemar_exact(only_a, only_b) < 0.05
        rejected["sign_flip"] += sign_flip_test(b[r].sum(axis=1).astype(int) - a[r].sum(axis=1).astype(int)) < 0.05
    rate = {k: v / 400 for k, v in rejected.items()}
    assert rate["mcnemar"] > 0.12 and rate["sign_flip"] <= 0.07, rate
