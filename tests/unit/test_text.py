"""agentbench.text.clip: the one head-and-tail clipper, and each caller's choice of head and marker."""

import pytest

from agentbench.protocols import ExecResult
from agentbench.scoring import swebench
from agentbench.text import OMITTED, clip
from agentbench.graphs.actions import format_observation as qa_observation
from agentbench.graphs.coding_actions import edit_failure
from agentbench.graphs.coding_actions import format_observation as coding_observation


def test_short_text_is_itself() -> None:
    assert clip("", 0) == "" and clip("abc", 3) == "abc" and clip("abc", 10) == "abc"


def test_head_marker_tail() -> None:
    text = "A" * 50 + "m" * 900 + "Z" * 50
    assert clip(text, 100) == "A" * 50 + OMITTED.format(dropped=900) + "Z" * 50
    assert clip("abcdefghij", 5) == "ab" + OMITTED.format(dropped=5) + "hij"  # head: limit // 2


@pytest.mark.parametrize("head, kept", [(0, ("", "fghij")), (5, ("abcde", "")), (99, ("abcde", "")),
                                        (-3, ("", "fghij")), (2, ("ab", "hij"))])
def test_head_is_bounded_by_the_limit(head: int, kept: tuple[str, str]) -> None:
    assert clip("abcdefghij", 5, head=head, marker="|") == kept[0] + "|" + kept[1]


def test_marker_is_formatted_with_the_characters_dropped() -> None:
    assert clip("x" * 3000, 1000, head=750, marker=" [{dropped:,} left out] ") == \
        "x" * 750 + " [2,000 left out] " + "x" * 250
    assert clip("abcdef", 2, marker="[...]") == "a[...]f"


def test_zero_or_negative_limit_keeps_only_the_marker() -> None:
    assert clip("abc", 0) == OMITTED.format(dropped=3)
    assert clip("abc", -5, marker="<{dropped}>") == "<3>"


def test_swebench_test_log_keeps_both_halves() -> None:
    log = "H" * swebench.MAX_LOG_CHARS + "T" * 10
    clipped = swebench._clip(log)
    half = swebench.MAX_LOG_CHARS // 2
    assert clipped == "H" * half + "\n[... agentbench: 10 chars of the test log dropped ...]\n" + "H" * (half - 10) \
        + "T" * 10
    assert swebench._clip("short") == "short"


def test_graph_observations_clip_through_it() -> None:
    out = "HEAD" + "x" * 10_000 + "END"
    qa = qa_observation(ExecResult(exit_code=0, stdout=out), max_chars=300)
    assert qa == "exit code: 0\nstdout:\n" + clip(out, 300, head=200)  # the text protocol keeps 2/3 head
    coding = coding_observation(ExecResult(exit_code=0, stdout=out), max_chars=300)
    assert coding == "exit code: 0\nstdout:\n" + clip(out, 300, head=75)  # the coding one mostly the tail
    failure = edit_failure("a.py", ValueError("y" * 100), max_chars=40)
    assert failure == "Edit of a.py failed, nothing was written: "[:40] + "\n[...]"
