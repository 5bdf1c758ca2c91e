import pytest

from agentbench.protocols import Outcome, Task, TaskExpected
from agentbench.scoring.gaia import (
    GaiaScorer,
    normalize_answer,
    normalize_number_str,
    normalize_str,
    question_scorer,
    split_string,
)

CASES = [
    # (model_answer, ground_truth, expected) — numeric ground truth
    ("16,000", "16000", True),
    ("16000", "16000", True),
    ("$1,234.50", "1234.5", True),
    ("12%", "12", True),
    ("3.0", "3", True),
    ("3", "3.0", True),
    (" 42 ", "42", True),
    ("-7", "-7", True),
    ("1e3", "1000", True),
    ("three", "3", False),
    ("3 apples", "3", False),
    ("3.01", "3", False),
    ("", "3", False),
    ("garbage", "inf", False),  # official scorer says True here (float("inf") fallback)
    (None, "3", False),
    # list ground truth
    ("b,e", "b, e", True),
    ("B ;E", "b; e", True),
    ("e, b", "b, e", False),  # order matters
    ("b, e, f", "b, e", False),  # length mismatch
    ("b", "b, e", False),
    ("1, 2.0, $3", "1, 2, 3", True),  # numeric elements compare as floats
    ("1, two, 3", "1, 2, 3", False),
    ("a., b", "a, b", False),  # punctuation kept in list string elements
    ("St. Louis, Paris", "st. louis, paris", True),
    ("a,b", "a;b", True),  # both separators are equivalent
    ("16,000", "16,000", True),  # a comma-number truth is a two-element list
    ("16000", "16,000", False),
    (None, "b, e", False),
    # string ground truth
    ("Paris.", "paris", True),
    (" New  York ", "new york", True),
    ("sea gull", "seagull", True),
    ("Hello, World!", "hello world", True),
    ("London", "paris", False),
    ("", "paris", False),
    (None, "paris", False),
]


@pytest.mark.parametrize(("answer", "truth", "expected"), CASES)
def test_question_scorer(answer, truth, expected):
    assert question_scorer(answer, truth) is expected


def test_helpers():
    assert normalize_number_str("$1,234.50") == 1234.5
    assert normalize_number_str("n/a") is None
    assert split_string("a, b;c") == ["a", " b", "c"]
    assert normalize_str(" Sea Gull! ") == "seagull"
    assert normalize_str(" Sea Gull! ", remove_punct=False) == "seagull!"


def qa(answer):
    return Task(id="t1", kind="qa", prompt="?", expected=TaskExpected(answer=answer))


def test_gaia_scorer_pass_and_fail():
    scorer = GaiaScorer()
    ok = scorer.grade(qa("16000"), Outcome(answer="16,000"))
    assert ok.passed and ok.value == 1.0
    assert ok.details == {"expected": "16000", "answer": "16,000", "normalized_answer": 16000.0}
    bad = scorer.grade(qa("paris"), Outcome(answer="London"))
    assert not bad.passed and bad.value == 0.0
    assert bad.details["normalized_answer"] == "london"
    lst = scorer.grade(qa("b, 2"), Outcome(answer="B ,2.0"))
    assert lst.passed and lst.details["normalized_answer"] == ["b", 2.0]
    none = scorer.grade(qa("paris"), Outcome(answer=None))
    assert not none.passed and none.details["normalized_answer"] is None


def test_gaia_scorer_without_truth_raises():
    with pytest.raises(ValueError):
        GaiaScorer().grade(qa(None), Outcome(answer="x"))


def test_normalize_answer_none():
    assert normalize_answer(None, "3") is None
