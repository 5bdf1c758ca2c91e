import math
import statistics

import pytest
from scipy.stats import binomtest

from agentbench.metrics import (RunMetrics, completion_ci, completion_ci_method, completion_rate, pass_k_curves,
                               per_task, summarize)
from agentbench.protocols import AttemptRecord, AttemptTotals, Usage
from agentbench.stats import clustered_proportion_ci, pass_at_k, pass_hat_k, wilson_interval


def rec(task, epoch, status, prompt=0, completion=0, calls=0, tools=0, wall=0.0, model=0.0, sandbox=0.0):
    return AttemptRecord(task_id=task, epoch=epoch, status=status, totals=AttemptTotals(
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion), model_calls=calls,
        tool_calls=tools, wall_clock_s=wall, model_time_s=model, sandbox_time_s=sandbox))


# ---- stats ---------------------------------------------------------------------------------------

def hand_wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval written out (z from the standard library, not scipy)."""
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = k / n, z * z
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, center - half), min(1.0, center + half)


@pytest.mark.parametrize(("k", "n", "expected"), [(8, 10, (0.4902, 0.9433)), (0, 10, (0.0, 0.2775)),
                                                  (10, 10, (0.7225, 1.0)), (1, 1, (0.2065, 1.0))])
def test_wilson_known_values(k, n, expected):
    lo, hi = wilson_interval(k, n)
    assert (lo, hi) == pytest.approx(expected, abs=1e-4)
    assert (lo, hi) == pytest.approx(hand_wilson(k, n), abs=1e-9)


def test_wilson_comes_from_scipy(monkeypatch):
    import agentbench.stats as stats

    calls = []
    real = stats.binomtest

    def spy(k, n, *args, **kwargs):
        calls.append((k, n))
        return real(k, n, *args, **kwargs)

    monkeypatch.setattr(stats, "binomtest", spy)
    assert wilson_interval(8, 10) == pytest.approx(hand_wilson(8, 10), abs=1e-9)
    assert calls == [(8, 10)]


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (57, 100), (1, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(k, n, confidence):
    ref = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    lo, hi = wilson_interval(k, n, confidence)
    assert lo == pytest.approx(ref.low, abs=1e-12)
    assert hi == pytest.approx(ref.high, abs=1e-12)
    assert (lo, hi) == pytest.approx(hand_wilson(k, n, confidence), abs=1e-9)


def test_wilson_edge_cases():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(1, 2, confidence=1.0)


def test_pass_at_k_and_hat_k():
    # n=3, c=1: pass@1 = 1/3, pass@2 = 1 - C(2,2)/C(3,2) = 2/3, pass@3 = 1
    assert pass_at_k(3, 1, 1) == pytest.approx(1 / 3)
    assert pass_at_k(3, 1, 2) == pytest.approx(2 / 3)
    assert pass_at_k(3, 1, 3) == 1.0
    assert pass_at_k(5, 0, 2) == 0.0
    assert pass_at_k(10, 3, 4) == pytest.approx(1 - math.comb(7, 4) / math.comb(10, 4))
    # pass^k = C(c,k)/C(n,k): n=3, c=2 -> 2/3, 1/3, 0
    assert pass_hat_k(3, 2, 1) == pytest.approx(2 / 3)
    assert pass_hat_k(3, 2, 2) == pytest.approx(1 / 3)
    assert pass_hat_k(3, 2, 3) == 0.0
    assert pass_hat_k(4, 4, 4) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError):
        pass_hat_k(3, 4, 1)


# ---- metrics -------------------------------------------------------------------------------------

def mixed_run():
    return [
        rec("a", 0, "solved", prompt=100, completion=20, calls=2, tools=1, wall=10.0, model=4.0, sandbox=1.0),
        rec("b", 0, "solved", prompt=200, completion=40, calls=4, tools=3, wall=20.0, model=6.0, sandbox=2.0),
        rec("c", 0, "failed", prompt=300, completion=60, calls=5, tools=4, wall=30.0, model=8.0, sandbox=3.0),
        rec("d", 0, "limit", prompt=400, completion=80, calls=20, tools=19, wall=40.0, model=2.0, sandbox=4.0),
        rec("e", 0, "error", prompt=1000, completion=0, calls=1, tools=0, wall=5.0, model=0.0, sandbox=0.0),
    ]


def test_summarize_mixed_run():
    m = summarize(mixed_run(), run_wall_clock_s=60.0)
    assert isinstance(m, RunMetrics)
    assert (m.attempts, m.solved, m.failed, m.limit, m.error) == (5, 2, 1, 1, 1)
    assert m.completion_rate == pytest.approx(0.5)  # 2 / (2 + 1 + 1): the error is excluded
    assert m.completion_ci95 == pytest.approx(wilson_interval(2, 4))
    assert m.steps_per_solved == pytest.approx(3.0)
    assert m.steps_per_solved_median == pytest.approx(3.0)
    assert (m.prompt_tokens, m.completion_tokens, m.tokens_total) == (2000, 200, 2200)
    assert m.tokens_per_success == pytest.approx((120 + 240 + 360 + 480) / 2)  # 600, error left out
    assert m.tokens_per_solved_attempt == pytest.approx(180.0)
    assert m.wall_clock_s == 60.0
    assert m.attempt_wall_clock_s == pytest.approx(105.0)
    assert m.model_time_s == pytest.approx(20.0)
    assert m.sandbox_time_s == pytest.approx(10.0)
    assert m.overhead_s == pytest.approx(5 + 12 + 19 + 34 + 5)
    assert m.completion_tokens_per_s == pytest.approx(200 / 20)
    assert m.tasks_per_hour == pytest.approx(4 * 60.0)  # 4 non-error attempts in one minute
    assert m.pass_at_k == {} and m.pass_hat_k == {}  # one epoch
    assert (m.model_calls, m.tool_calls) == (32, 27)
    dumped = m.model_dump(mode="json")
    assert dumped["completion_ci95"] == list(m.completion_ci95)


def test_error_attempts_excluded_from_rate():
    attempts = [rec("a", 0, "solved"), rec("b", 0, "error"), rec("c", 0, "error")]
    assert completion_rate(attempts) == 1.0
    m = summarize(attempts, run_wall_clock_s=3600.0)
    assert m.completion_ci95 == pytest.approx(wilson_interval(1, 1))
    assert m.tasks_per_hour == pytest.approx(1.0)


def test_all_error_run():
    attempts = [rec("a", 0, "error", prompt=50, completion=5, wall=2.0, model=1.0),
                rec("b", 0, "error", prompt=50, completion=5, wall=2.0, model=1.0)]
    m = summarize(attempts, run_wall_clock_s=10.0)
    assert (m.solved, m.failed, m.limit, m.error) == (0, 0, 0, 2)
    assert m.completion_rate is None
    assert m.completion_ci95 == (0.0, 1.0)
    assert m.steps_per_solved is None and m.steps_per_solved_median is None
    assert m.tokens_per_success is None and m.tokens_per_solved_attempt is None
    assert m.tokens_total == 110  # spent is spent
    assert m.completion_tokens_per_s == pytest.approx(5.0)
    assert m.tasks_per_hour == 0.0


def test_zero_solved_run():
    attempts = [rec("a", 0, "failed", prompt=10, completion=2), rec("b", 0, "limit", prompt=30, completion=3)]
    m = summarize(attempts, run_wall_clock_s=0.0)
    assert m.completion_rate == 0.0
    assert m.completion_ci95[0] == 0.0
    assert m.tokens_per_success is None
    assert m.tokens_total == 45
    assert m.completion_tokens_per_s is None  # no model time recorded
    assert m.tasks_per_hour is None  # no run wall-clock


def test_empty_run():
    m = summarize([], run_wall_clock_s=0.0)
    assert m.attempts == 0 and m.completion_rate is None and m.tokens_total == 0
    assert per_task([]) == []


def test_pass_k_with_three_epochs():
    attempts = (
        [rec("a", e, "solved") for e in range(3)]  # c=3
        + [rec("b", 0, "solved"), rec("b", 1, "failed"), rec("b", 2, "limit")]  # c=1
        + [rec("c", e, "failed") for e in range(3)]  # c=0
    )
    at_k, hat_k = pass_k_curves(attempts)
    # pass@k: a -> 1,1,1; b -> 1/3, 2/3, 1; c -> 0
    assert at_k[1] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert at_k[2] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert at_k[3] == pytest.approx((1 + 1 + 0) / 3)
    # pass^k: a -> 1,1,1; b -> 1/3, 0, 0; c -> 0
    assert hat_k[1] == pytest.approx((1 + 1 / 3) / 3)
    assert hat_k[2] == pytest.approx(1 / 3)
    assert hat_k[3] == pytest.approx(1 / 3)
    m = summarize(attempts, run_wall_clock_s=1.0)
    assert m.pass_at_k == at_k and m.pass_hat_k == hat_k
    assert m.pass_at_k[1] == pytest.approx(m.completion_rate)


def test_one_epoch_interval_is_wilson():
    m = summarize(mixed_run(), run_wall_clock_s=1.0)
    assert m.completion_ci95_method == "wilson" and m.model_dump(mode="json")["completion_ci95_method"] == "wilson"
    assert completion_ci(mixed_run()) == wilson_interval(2, 4)


def test_interval_with_epochs_is_the_cluster_bootstrap_over_tasks():
    # task a solved 3/3, b 1/3 (one epoch an error), c 0/3, d 2/3: per task (solved, scored)
    attempts = ([rec("a", e, "solved") for e in range(3)]
                + [rec("b", 0, "solved"), rec("b", 1, "failed"), rec("b", 2, "error")]
                + [rec("c", e, "limit") for e in range(3)]
                + [rec("d", 0, "solved"), rec("d", 1, "solved"), rec("d", 2, "failed")])
    assert completion_ci_method(attempts) == "cluster_bootstrap"
    got = completion_ci(attempts)
    assert got == clustered_proportion_ci([3, 1, 0, 2], [3, 2, 3, 3])
    lo, hi = got
    wlo, whi = wilson_interval(6, 11)
    assert lo <= wlo and hi >= whi  # never narrower than Wilson
    m = summarize(attempts, run_wall_clock_s=1.0)
    assert m.completion_ci95 == got and m.completion_ci95_method == "cluster_bootstrap"
    # everything solved: the bootstrap collapses to a point, Wilson keeps the interval honest
    all_solved = [rec(t, e, "solved") for t in "xyz" for e in range(2)]
    assert completion_ci(all_solved) == pytest.approx(wilson_interval(6, 6))
    # epochs whose only attempts are errors do not make a run clustered
    assert completion_ci_method([rec("a", 0, "solved"), rec("a", 1, "error")]) == "wilson"


def test_pass_k_errored_epoch_shrinks_task():
    # task a lost epoch 2 to an error: n=2, so it only enters k=1 and k=2
    attempts = [rec("a", 0, "solved"), rec("a", 1, "failed"), rec("a", 2, "error"),
                rec("b", 0, "failed"), rec("b", 1, "failed"), rec("b", 2, "solved")]
    at_k, hat_k = pass_k_curves(attempts)
    assert at_k[1] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert at_k[2] == pytest.approx((1 + 2 / 3) / 2)
    assert at_k[3] == pytest.approx(1.0)  # only b
    assert hat_k[3] == pytest.approx(0.0)


def test_per_task():
    attempts = [
        rec("b", 0, "solved", prompt=10, calls=2, wall=4.0),
        rec("b", 1, "failed", prompt=30, calls=4, wall=6.0),
        rec("b", 2, "error", prompt=999, calls=9, wall=99.0),
        rec("a", 0, "error"),
    ]
    rows = per_task(attempts)
    assert [r.task_id for r in rows] == ["a", "b"]
    a, b = rows
    assert (a.attempts, a.errors, a.solved, a.success_rate, a.mean_tokens) == (1, 1, 0, None, None)
    assert (b.attempts, b.errors, b.solved) == (3, 1, 1)
    assert b.success_rate == pytest.approx(0.5)
    assert b.mean_tokens == pytest.approx(20.0)
    assert b.mean_steps == pytest.approx(3.0)
    assert b.mean_wall_clock_s == pytest.approx(5.0)


def test_mean_in_flight_is_time_weighted():
    from agentbench.metrics import mean_in_flight

    # two overlapping on [1, 2], one alone on [0, 1] and [2, 3]: area 4 over 3 s busy
    assert mean_in_flight([(0, 2), (1, 3)]) == pytest.approx(4 / 3)
    # a gap (a run and its resume) does not dilute the mean
    assert mean_in_flight([(0, 1), (10, 11)]) == pytest.approx(1.0)
    # an explicit window clips the intervals and counts idle time inside it
    assert mean_in_flight([(0, 2), (1, 3)], 1, 5) == pytest.approx((2 * 1 + 1 * 1) / 4)
    assert mean_in_flight([]) is None and mean_in_flight([(1, 1)]) is None
    assert mean_in_flight([(0, 1)], 2, 2) is None


def test_client_load_separates_model_waiting_from_attempt_time():
    from agentbench.metrics import client_load

    attempts = [(0.0, 10.0), (0.0, 10.0), (20.0, 30.0)]  # two at once, then one (after a resume gap)
    calls = [(0.0, 8.0), (0.0, 8.0), (20.0, 25.0)]  # 21 s of model requests over 20 busy seconds
    load = client_load(attempts, calls)
    assert load.attempts_in_flight_mean == pytest.approx(1.5)
    assert load.model_calls_in_flight_mean == pytest.approx(21 / 20)
    assert load.model_share == pytest.approx((21 / 20) / 1.5)
    assert client_load([], []) is None
