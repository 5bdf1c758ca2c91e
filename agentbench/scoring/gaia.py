"""GAIA's quasi-exact-match scorer, following the official leaderboard scorer.py.

Rules, chosen by the shape of the ground truth:

- number (``float(gt)`` parses): strip ``$``, ``%`` and ``,`` from the answer, compare as floats;
- list (gt contains ``,`` or ``;``): split both on ``,``/``;``, lengths must match, compare element by
  element in order — numbers as floats (as above), strings with whitespace removed and lowercased but
  punctuation *kept*;
- string: remove all whitespace and ``string.punctuation``, lowercase, compare.

Two deliberate deviations from the official code, both toward "never score garbage as right":
an unparseable number is ``None`` (False) instead of ``float("inf")`` (which equals a ground truth of
``"inf"``), and a ``None`` answer is False instead of being scored as the string ``"None"``.
Official quirks kept: a ground truth written ``"16,000"`` is a *list* (two elements), order matters
in lists, and ``"1_000"`` parses as a number because Python's ``float`` accepts it.
"""

from __future__ import annotations

import re
import string
from typing import Any

from agentbench.protocols import Outcome, Sandbox, Score, Task

LIST_SEPARATORS = (",", ";")
_NUMBER_NOISE = ("$", "%", ",")
_PUNCT_TABLE = str.maketrans("", "", string.punctuation)
_SPLIT_RE = re.compile(f"[{''.join(LIST_SEPARATORS)}]")


def is_float(value: object) -> bool:
    """True when ``float(value)`` succeeds."""
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def normalize_number_str(number_str: str) -> float | None:
    """Strip ``$``, ``%`` and ``,`` and parse as a float; None when it does not parse."""
    for char in _NUMBER_NOISE:
        number_str = number_str.replace(char, "")
    try:
        return float(number_str)
    except ValueError:
        return None


def split_string(s: str) -> list[str]:
    """Split on every ``,`` and ``;`` (empty pieces kept, as in the official scorer)."""
    return _SPLIT_RE.split(s)


def normalize_str(input_str: str, remove_punct: bool = True) -> str:
    """Remove all whitespace (``sea gull`` == ``seagull``), optionally punctuation, and lowercase."""
    no_spaces = re.sub(r"\s", "", input_str).lower()
    return no_spaces.translate(_PUNCT_TABLE) if remove_punct else no_spaces


def _is_list_truth(ground_truth: str) -> bool:
    return any(sep in ground_truth for sep in LIST_SEPARATORS)


def normalize_answer(model_answer: str | None, ground_truth: str) -> Any:
    """The answer as the scorer compares it against ``ground_truth`` (for reports and debugging).

    A float (or None) for a numeric truth, a list of per-element values for a list truth, a
    normalized string otherwise; None when the answer is None.
    """
    if model_answer is None:
        return None
    if is_float(ground_truth):
        return normalize_number_str(model_answer)
    if _is_list_truth(ground_truth):
        return [normalize_number_str(ma) if is_float(gt) else normalize_str(ma, remove_punct=False)
                for ma, gt in zip(split_string(model_answer), split_string(ground_truth))]
    return normalize_str(model_answer)


def question_scorer(model_answer: str | None, ground_truth: str) -> bool:
    """GAIA quasi-exact match of ``model_answer`` against ``ground_truth``."""
    if model_answer is None:
        return False
    if is_float(ground_truth):
        number = normalize_number_str(model_answer)
        return number is not None and number == float(ground_truth)
    if _is_list_truth(ground_truth):
        gt_elems = split_string(ground_truth)
        ma_elems = split_string(model_answer)
        if len(gt_elems) != len(ma_elems):
            return False
        for ma, gt in zip(ma_elems, gt_elems):
            if is_float(gt):
                number = normalize_number_str(ma)
                if number is None or number != float(gt):
                    return False
            elif normalize_str(ma, remove_punct=False) != normalize_str(gt, remove_punct=False):
                return False
        return True
    return normalize_str(model_answer) == normalize_str(ground_truth)


class GaiaScorer:
    """`Scorer` for qa tasks: GAIA quasi-exact match of the outcome's answer."""

    async def collect(self, task: Task, sandbox: Sandbox) -> Outcome:
        """Nothing: a GAIA outcome is the graph's answer, not the sandbox's state."""
        return Outcome()

    async def score(self, task: Task, outcome: Outcome) -> Score:
        return self.grade(task, outcome)

    def grade(self, task: Task, outcome: Outcome) -> Score:
        """The pure comparison behind `score`."""
        expected = task.expected.answer
        if expected is None:
            # A suite defect, not an agent failure: raising lets the runner record it as `error`.
            raise ValueError(f"task {task.id!r} has no expected answer to score against")
        passed = question_scorer(outcome.answer, expected)
        return Score(
            passed=passed,
            value=1.0 if passed else 0.0,
            details={
                "expected": expected,
                "answer": outcome.answer,
                "normalized_answer": normalize_answer(outcome.answer, expected),
            },
        )
