"""Paired statistics (exact McNemar, paired bootstrap, Pareto front) and the pure run comparison."""

import math

import numpy as np
import pytest
from scipy.stats import bootstrap

from agentbench.analysis.compare import compare_pair, compare_runs, config_diff, pair_attempts, show_command
from agentbench.analysis.html import compare_html_section, trace_href
from agentbench.analysis.io import load_run
from agentbench.analysis.results import CompareError, LoadedRun
from agentbench.protocols import AttemptRecord, AttemptTotals, Usage
from agentbench.stats import mcnemar_exact, paired_bootstrap_ci, pareto_front
from agentbench.stats_cluster import sign_flip_test


def rec(task, status, epoch=0, tokens=0, steps=0, wall=0.0):
    return AttemptRecord(task_id=task, epoch=epoch, status=status, totals=AttemptTotals(
        usage=Usage(prompt_tokens=tokens), model_calls=steps, wall_clock_s=wall))


def hand_mcnemar(b: int, c: int) -> float:
    """Two-sided exact binomial test with p = 1/2, by hand: 2 * P(X <= min(b, c)), capped at 1."""
    n = b + c
    return min(1.0, 2 * sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2 ** n)


# ---- McNemar -------------------------------------------------------------------------------------

def test_mcnemar_published_table():
    # b = 7, c = 1 discordant pairs: 2 * (C(8,0) + C(8,1)) / 2^8 = 18 / 256
    assert mcnemar_exact(7, 1) == pytest.approx(0.0703125, abs=1e-12)
    assert mcnemar_exact(1, 7) == pytest.approx(0.0703125, abs=1e-12)


@pytest.mark.parametrize(("b", "c", "p"), [(5, 0, 2 * 0.5 ** 5), (0, 8, 2 / 256), (10, 2, 158 / 4096),
                                           (3, 3, 1.0), (4, 1, 12 / 32), (0, 0, 1.0)])
def test_mcnemar_against_binomial_arithmetic(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, abs=1e-12)
    assert mcnemar_exact(b, c) == pytest.approx(hand_mcnemar(b, c), abs=1e-12)


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


# ---- paired bootstrap ----------------------------------------------------------------------------

def mean_diff(a, b):
    return b.mean(axis=-1) - a.mean(axis=-1)


def test_bootstrap_of_a_constant_difference_is_that_difference():
    ci = paired_bootstrap_ci((np.ones(5), np.zeros(5)), mean_diff)
    assert (ci.low, ci.high) == (-1.0, -1.0)
    assert paired_bootstrap_ci((np.array([]), np.array([])), mean_diff) is None


def test_bootstrap_is_seeded_and_pairs_stay_together():
    rng = np.random.default_rng(1)
    a = rng.normal(size=40)
    b = a + 1.0  # every pair differs by exactly 1: a paired resample can only give 1
    ci = paired_bootstrap_ci((a, b), mean_diff, n_resamples=500)
    assert ci.low == pytest.approx(1.0) and ci.high == pytest.approx(1.0)
    x = rng.normal(size=40)
    assert paired_bootstrap_ci((a, x), mean_diff, seed=3) == paired_bootstrap_ci((a, x), mean_diff, seed=3)


def test_bootstrap_agrees_with_scipy_percentile():
    rng = np.random.default_rng(7)
    a = rng.binomial(1, 0.5, size=60).astype(float)
    b = rng.binomial(1, 0.7, size=60).astype(float)
    ours = paired_bootstrap_ci((a, b), mean_diff, n_resamples=4000)
    ref = bootstrap((a, b), lambda x, y, axis: y.mean(axis=axis) - x.mean(axis=axis), paired=True,
                    vectorized=True, method="percentile", n_resamples=4000, random_state=np.random.default_rng(0))
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.03)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.03)


def test_bootstrap_interval_covers_a_known_difference_at_the_stated_rate():
    rng = np.random.default_rng(2024)
    n, true_diff, covered, trials = 80, 0.2, 0, 200
    for i in range(trials):
        a = rng.binomial(1, 0.5, size=n).astype(float)
        b = rng.binomial(1, 0.7, size=n).astype(float)
        ci = paired_bootstrap_ci((a, b), mean_diff, n_resamples=1000, seed=i)
        covered += ci.low <= true_diff <= ci.high
    assert 0.9 <= covered / trials <= 0.99, covered / trials


def test_bootstrap_ratio_with_undefined_resamples_is_none_when_too_many():
    solved = np.array([1.0, 0, 0, 0, 0, 0, 0, 0])
    tokens = np.full(8, 10.0)
    ratio = lambda t, s: t.sum(axis=-1) / s.sum(axis=-1)  # noqa: E731
    assert paired_bootstrap_ci((tokens, solved), ratio) is None  # most resamples solve nothing
    ci = paired_bootstrap_ci((tokens, np.ones(8)), ratio)
    assert (ci.low, ci.high, ci.undefined) == (10.0, 10.0, 0.0)


# ---- Pareto front --------------------------------------------------------------------------------

def test_pareto_front_hand_built():
    # (completion rate: higher better, tokens per success: lower better)
    points = [(0.9, 100), (0.8, 50), (0.7, 60), (0.9, 120), (0.5, 10), (0.5, 10), (0.4, 200)]
    assert pareto_front(points, (True, False)) == [0, 1, 4, 5]  # ties are all kept
    assert pareto_front([(1.0, float("nan")), (0.0, float("nan"))], (True, False)) == [0]
    assert pareto_front([(1, 2, 3)], (True, True, True)) == [0]
    assert pareto_front([], (True, False)) == []


# ---- comparison ----------------------------------------------------------------------------------

def run(path, attempts, graph="g", suite="s", **config) -> LoadedRun:
    return LoadedRun(path=path, abs_path="/abs/" + path, run_id=path.split("/")[-1], graph=graph, model="m",
                     suite=suite, config={"graph": graph, **config}, attempts=attempts)


A = [rec("t1", "solved", tokens=100, steps=2, wall=1.0), rec("t2", "solved", tokens=200, steps=4, wall=2.0),
     rec("t3", "failed", tokens=300, steps=6, wall=3.0), rec("t4", "solved", tokens=400, steps=8, wall=4.0),
     rec("t5", "error"), rec("t6", "solved")]
B = [rec("t1", "solved", tokens=50, steps=1, wall=1.0), rec("t2", "failed", tokens=50, steps=1, wall=1.0),
     rec("t3", "solved", tokens=50, steps=1, wall=1.0), rec("t4", "limit", tokens=50, steps=1, wall=1.0),
     rec("t5", "solved"), rec("t7", "failed")]


def test_pairs_and_the_attempts_reported_apart():
    pairs, apart = pair_attempts(A, B)
    assert [x.task_id for x, _ in pairs] == ["t1", "t2", "t3", "t4"]
    assert [(u.task_id, u.reason, u.a_status, u.b_status) for u in apart] == [
        ("t5", "error in A", "error", "solved"), ("t6", "only in A", "solved", None),
        ("t7", "only in B", None, "failed")]
    _, both = pair_attempts([rec("x", "error")], [rec("x", "error")])
    assert both[0].reason == "error in both"


def test_compare_pair_figures():
    c = compare_pair(run("runs/a", A), run("runs/b", B, graph="h"), n_resamples=500)
    assert c.pairs == 4
    assert (c.mcnemar.both_solved, c.mcnemar.only_a, c.mcnemar.only_b, c.mcnemar.neither) == (1, 2, 1, 0)
    rate, tps, steps, wall = c.metrics
    assert (rate.a, rate.b, rate.diff) == (0.75, 0.5, -0.25)
    assert rate.p_value == pytest.approx(1.0) and rate.significant is False
    assert "not significant" in c.verdict
    assert tps.a == pytest.approx(1000 / 3) and tps.b == pytest.approx(100.0)
    assert tps.diff == pytest.approx(100 - 1000 / 3)
    assert (steps.a, steps.b, steps.diff) == (5.0, 1.0, -4.0)
    assert steps.ci95[1] < 0 and steps.significant is True  # every pair took fewer steps in B
    assert wall.diff == pytest.approx(-1.5)
    assert [(f.task_id, f.change) for f in c.flipped] == [("t2", "lost"), ("t3", "gained"), ("t4", "lost")]
    assert c.flipped[0].show_a == "agentbench show runs/a t2 --epoch 0"
    assert c.flipped[0].show_b == "agentbench show runs/b t2 --epoch 0"
    assert [u.task_id for u in c.unpaired] == ["t5", "t6", "t7"]
    assert c.config_diff == {"graph": ("g", "h")}
    assert c.noise == [] and c.a.epochs == 1
    assert (rate.test, c.clustered, c.tasks) == ("mcnemar_exact", False, 4) and tps.test is None


def test_significant_when_mcnemar_p_is_small():
    a = [rec(f"t{i}", "solved") for i in range(8)]
    b = [rec(f"t{i}", "failed") for i in range(8)]
    c = compare_pair(run("a", a), run("b", b))
    assert c.metrics[0].p_value == pytest.approx(2 / 256)
    assert c.metrics[0].significant is True and "significant (McNemar" in c.verdict
    assert c.metrics[1].diff is None and c.metrics[1].significant is None  # B solved nothing: no price


def test_noise_with_epochs():
    a = [rec("x", s, epoch=e) for e, s in enumerate(("solved", "failed", "solved"))] + \
        [rec("y", "solved", epoch=e) for e in range(3)]
    b = [rec("x", "solved", epoch=e) for e in range(3)] + [rec("y", "failed", epoch=0), rec("y", "error", epoch=1),
                                                           rec("y", "failed", epoch=2)]
    c = compare_pair(run("a", a), run("b", b))
    assert [(n.task_id, n.a_solved, n.a_scored, n.b_solved, n.b_scored, n.flaky) for n in c.noise] == [
        ("x", 2, 3, 3, 3, True), ("y", 3, 3, 0, 2, False)]
    assert c.a.epochs == 3 and c.a.pass_at_k[1] == pytest.approx((2 / 3 + 1) / 2)
    assert c.a.pass_hat_k[3] == pytest.approx(0.5)  # x: C(2,3)=0, y: 1
    assert c.pairs == 5 and [u.reason for u in c.unpaired] == ["error in B"]


def test_compare_runs_needs_two_and_compares_the_first_to_each():
    with pytest.raises(CompareError):
        compare_runs([run("a", A)])
    result = compare_runs([run("a", A), run("b", B), run("c", A)], n_resamples=200)
    assert [(c.a.path, c.b.path) for c in result.comparisons] == [("a", "b"), ("a", "c")]
    assert result.comparisons[1].metrics[0].diff == 0.0 and result.comparisons[1].flipped == []
    assert CompareResultRoundTrip(result)


def CompareResultRoundTrip(result) -> bool:
    from agentbench.analysis.results import CompareResult

    return CompareResult.model_validate_json(result.model_dump_json()) == result


def test_html_section_is_escaped_and_self_contained():
    evil = "<script>alert(1)</script>"
    a = [rec(evil, "solved"), rec("t2", "solved")]
    b = [rec(evil, "failed"), rec("t2", "solved")]
    page = compare_html_section(compare_runs([run("runs/a", a, graph=evil), run("runs/b", b)], n_resamples=100))
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "http" not in page and "src=" not in page and "<link" not in page
    assert 'href="runs/a/report.html#trace-%3Cscript%3Ealert%281%29%3C%2Fscript%3E-0"' in page
    assert page.startswith("<section") and page.rstrip().endswith("</section>")


def test_trace_links_and_show_commands():
    assert trace_href("runs/b", "gm-l1-001", 2) == "runs/b/report.html#trace-gm-l1-001-2"
    assert trace_href("/x/runs/b", "t", 0, relative_to="/x/runs/a") == "../b/report.html#trace-t-0"
    assert show_command("my runs/a", "t 1", 3) == "agentbench show 'my runs/a' 't 1' --epoch 3"


def test_config_diff_flattens_sections():
    a = {"name": "x", "graph": "planning", "model": {"name": "m1", "temperature": 0.0}}
    b = {"name": "y", "graph": "planning", "model": {"name": "m2", "temperature": 0.0}, "extra": 1}
    assert config_diff(a, b) == {"extra": (None, 1), "model.name": ("m1", "m2")}


def test_load_run_errors_name_the_folder(tmp_path):
    with pytest.raises(CompareError, match="no such run folder") as missing:
        load_run(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(missing.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CompareError, match=r"empty: not a run folder \(no run.sqlite\)"):
        load_run(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(CompareError, match="bad: unreadable run store"):
        load_run(tmp_path / "bad")


def test_runs_without_shared_attempts_compare_nothing_and_say_so():
    c = compare_pair(run("a", [rec("x", "solved")]), run("b", [rec("y", "solved")], suite="other"))
    assert c.pairs == 0 and c.metrics[0].p_value is None and c.metrics[0].significant is None
    assert all(d.diff is None and d.ci95 is None for d in c.metrics)
    assert "nothing to compare" in c.verdict
    assert any("different suites" in w for w in c.warnings) and any("share no" in w for w in c.warnings)
    assert [u.reason for u in c.unpaired] == ["only in A", "only in B"]


def test_html_links_relative_to_the_page_folder():
    a = [rec("t1", "solved")]
    b = [rec("t1", "failed")]
    runs = [LoadedRun(path="x/a", abs_path="/w/runs/a", attempts=a), LoadedRun(path="x/b", abs_path="/w/runs/b",
                                                                                attempts=b)]
    page = compare_html_section(compare_runs(runs, n_resamples=50), relative_to="/w/runs/a")
    assert 'href="report.html#trace-t1-0"' in page
    assert 'href="../b/report.html#trace-t1-0"' in page


def test_html_links_by_store_attempt_id():
    runs = [LoadedRun(path="a", abs_path="/w/a", attempts=[rec("t1", "solved")], attempt_ids={("t1", 0): 7}),
            LoadedRun(path="b", abs_path="/w/b", attempts=[rec("t1", "failed")], attempt_ids={("t1", 0): 3})]
    result = compare_runs(runs, n_resamples=50)
    flip = result.comparisons[0].flipped[0]
    assert (flip.a_attempt_id, flip.b_attempt_id) == (7, 3)
    page = compare_html_section(result, anchor="attempt-id")
    assert 'href="a/report.html#attempt-7"' in page and 'href="b/report.html#attempt-3"' in page


# ---- epochs > 1: tasks are the unit --------------------------------------------------------------

def epochs_of(attempts, n):
    """Every attempt repeated over n epochs, identical in each."""
    return [r.model_copy(update={"epoch": e}) for r in attempts for e in range(n)]


def test_identical_epochs_give_the_one_epoch_intervals():
    """Resampling tasks with all their epochs: epochs that merely repeat a task add no information, so
    every interval is the one-epoch interval (a (task, epoch) bootstrap would shrink them by ~√3)."""
    a = [rec(f"t{i}", "solved" if i % 3 else "failed", tokens=100 + 10 * i, steps=i % 5, wall=1.0 + i % 4)
         for i in range(30)]
    b = [rec(f"t{i}", "solved" if i % 2 else "failed", tokens=90 + 7 * i, steps=i % 3, wall=2.0 - i % 2)
         for i in range(30)]
    one = compare_pair(run("a", a), run("b", b), n_resamples=400)
    three = compare_pair(run("a", epochs_of(a, 3)), run("b", epochs_of(b, 3)), n_resamples=400)
    assert (one.clustered, three.clustered, three.pairs, three.tasks) == (False, True, 90, 30)
    for d1, d3 in zip(one.metrics, three.metrics):
        assert d3.diff == pytest.approx(d1.diff)
        assert d3.ci95 == pytest.approx(d1.ci95), d1.metric


def test_completion_test_with_epochs_is_the_sign_flip_over_tasks():
    # per task, solved epochs of 3 in A and B: x 3/0, y 2/0, z 1/1, w 0/1, v 3/0
    plan = {"x": (3, 0), "y": (2, 0), "z": (1, 1), "w": (0, 1), "v": (3, 0)}
    a = [rec(t, "solved" if e < sa else "failed", epoch=e) for t, (sa, _) in plan.items() for e in range(3)]
    b = [rec(t, "solved" if e < sb else "failed", epoch=e) for t, (_, sb) in plan.items() for e in range(3)]
    c = compare_pair(run("a", a), run("b", b))
    rate = c.metrics[0]
    assert c.clustered and c.tasks == 5 and rate.test == "sign_flip_tasks"
    assert rate.p_value == pytest.approx(sign_flip_test([-3, -2, 0, 1, -3]))
    assert rate.p_value == pytest.approx(4 / 16)  # ±3 ±2 ±1 ±3 reaches |7| in 4 of 16: 9, 7, −7, −9
    assert rate.significant is False and rate.diff == pytest.approx(-7 / 15)
    assert "sign-flip test over tasks p = 0.25" in c.verdict and "15 shared attempts of 5 tasks" in c.verdict
    assert c.mcnemar.p_value == pytest.approx(mcnemar_exact(8, 1))  # the table stays, for reference
    assert any("only 5 shared tasks" in w and "sign-flip" in w for w in c.warnings)
    page = compare_html_section(CompareResultOf(c))
    assert "sign-flip test over tasks p=0.25" in page and "bootstrap over tasks" in page


def CompareResultOf(c):
    from agentbench.analysis.results import CompareResult

    return CompareResult(baseline=c.a.path, comparisons=[c])


def test_views_name_the_test():
    from rich.console import Console

    from agentbench.analysis.terminal import compare_tables

    def text(result) -> str:
        console = Console(width=200, record=True)
        for part in compare_tables(result):
            console.print(part)
        return console.export_text()

    single = compare_runs([run("a", A), run("b", B)], n_resamples=100)
    assert "exact McNemar test" in text(single) and "McNemar p=" in compare_html_section(single)
    multi = compare_runs([run("a", epochs_of(A, 2)), run("b", epochs_of(B, 2))], n_resamples=100)
    out = text(multi)
    assert "sign-flip permutation test over the 4 tasks" in out and "sign-flip test over tasks p =" in out
    assert CompareResultRoundTrip(multi)
