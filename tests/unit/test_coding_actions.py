"""The coding action protocol: parsing each action kind and format error, applying hunks, observations.
Test-run detection lives in agentbench.commands (tests/unit/test_commands.py)."""

import pytest

from agentbench.graphs.coding import FEW_SHOT, SYSTEM_PROMPT
from agentbench.graphs.coding_actions import (FORMAT_HELP, Hunk, HunkApplyError, HunkFormatError, apply_hunks,
                                              closest_region, format_observation, parse_coding_action,
                                              parse_edit_hunks)
from agentbench.protocols import ExecResult

F = "```"
HUNK = "<<<<<<< SEARCH\n    return a + b\n=======\n    return a * b\n>>>>>>> REPLACE"


# -- parsing: valid actions --------------------------------------------------------------------------

@pytest.mark.parametrize("reply, command", [
    (f"Look around.\n{F}bash\nls -la\n{F}\n", "ls -la"),
    (f"{F}sh\ngrep -rn foo src\n{F}", "grep -rn foo src"),
    (f"{F}\ncat setup.py | head\n{F}", "cat setup.py | head"),
    (f"{F} Bash \nls\n{F}", "ls"),
    ("~~~shell\npwd\n~~~", "pwd"),
    (f"{F}bash\r\nls\r\n{F}", "ls"),
    (f"{F}bash\ncd src &&\n  ls\n{F}", "cd src &&\n  ls"),
    (f"{F}bash\necho 'SUBMIT later'\n{F}", "echo 'SUBMIT later'"),
])
def test_parse_bash(reply, command):
    action = parse_coding_action(reply)
    assert action.kind == "bash", action
    assert action.command == command


def test_parse_edit_with_one_hunk():
    action = parse_coding_action(f"Fix it.\n{F}edit src/calc.py\n{HUNK}\n{F}")
    assert action.kind == "edit" and action.path == "src/calc.py"
    assert action.hunks == [Hunk(search="    return a + b", replace="    return a * b")]


def test_parse_edit_with_several_hunks_and_quoted_path():
    body = f"{HUNK}\n\n<<<<<<< SEARCH\nimport os\n=======\nimport os\nimport sys\n>>>>>>> REPLACE\n"
    action = parse_coding_action(f'{F}edit "pkg/my mod.py"\n{body}{F}')
    assert action.kind == "edit" and action.path == "pkg/my mod.py"
    assert [h.search for h in action.hunks] == ["    return a + b", "import os"]
    assert action.hunks[1].replace == "import os\nimport sys"


def test_parse_edit_with_a_longer_fence_keeps_backticks_in_the_lines():
    body = f"<<<<<<< SEARCH\n{F}python\n=======\n{F}pycon\n>>>>>>> REPLACE"
    action = parse_coding_action(f"````edit README.md\n{body}\n````")
    assert action.kind == "edit" and action.hunks == [Hunk(search=f"{F}python", replace=f"{F}pycon")]


def test_parse_edit_empty_search_and_empty_replace():
    action = parse_coding_action(f"{F}edit new.py\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n{F}")
    assert action.kind == "edit" and action.hunks == [Hunk(search="", replace="x = 1")]
    action = parse_coding_action(f"{F}edit a.py\n<<<<<<< SEARCH\ndel me\n=======\n>>>>>>> REPLACE\n{F}")
    assert action.hunks == [Hunk(search="del me", replace="")]


@pytest.mark.parametrize("reply", [
    "SUBMIT", "The tests pass.\nSUBMIT\n", "submit", "**SUBMIT**", "SUBMIT.", f"{F}\nSUBMIT\n{F}", "  `SUBMIT`  ",
])
def test_parse_submit(reply):
    assert parse_coding_action(reply).kind == "submit"


# -- parsing: format errors --------------------------------------------------------------------------

@pytest.mark.parametrize("reply, fragment", [
    ("", "reply was empty"),
    ("   \n ", "reply was empty"),
    ("I think the bug is in calc.py.", "no ```bash block, no ```edit block and no SUBMIT"),
    ("I will submit now.", "no ```bash block"),
    (f"{F}bash\nls\n{F}\nSUBMIT", "AND SUBMIT"),
    (f"SUBMIT\n{F}bash\nls", "AND SUBMIT"),
    (f"{F}bash\nls\n{F}\n{F}bash\npwd\n{F}", "2 code blocks"),
    (f"{F}bash\nls\n{F}\n{F}edit a.py\n{HUNK}\n{F}", "2 code blocks"),
    (f"{F}bash\nls -la\n", "not closed"),
    (f"{F}bash\n\n{F}", "block was empty"),
    (f"{F}python\nprint(1)\n{F}", "```python blocks are not run"),
    (f"{F}json\n{{}}\n{F}", "unknown block type ```json"),
    (f"{F}edit\n{HUNK}\n{F}", "no file path"),
    (f"{F}edit a.py\nx = 1\n{F}", "text outside a hunk"),
    (f"{F}edit a.py\n\n{F}", "no `<<<<<<< SEARCH`"),
    (f"{F}edit a.py\n<<<<<<< SEARCH\nold\n>>>>>>> REPLACE\n{F}", "no `=======`"),
    (f"{F}edit a.py\n<<<<<<< SEARCH\nold\n=======\nnew\n{F}", "not closed with `>>>>>>> REPLACE`"),
    (f"{F}edit a.py\nold\n=======\nnew\n>>>>>>> REPLACE\n{F}", "no `<<<<<<< SEARCH` line before"),
    (f"{F}python\n{HUNK}\n{F}", "start it with ```edit path/to/file.py"),
    (f"{F}src/calc.py\n{HUNK}\n{F}", "start it with ```edit src/calc.py"),
    (f"src/calc.py\n{HUNK}", "must be inside a ```edit"),
])
def test_parse_format_errors(reply, fragment):
    action = parse_coding_action(reply)
    assert action.kind == "format_error", action
    assert fragment in action.error
    assert action.error.startswith("Format error:") and FORMAT_HELP in action.error


def test_format_help_and_prompt_examples_are_valid_actions():
    blocks = FORMAT_HELP.split("```bash")[1].split("or an edit")[0]
    assert parse_coding_action("```bash" + blocks).kind == "bash"
    edit = "```edit" + FORMAT_HELP.split("```edit")[1].split("or the word")[0]
    assert parse_coding_action(edit).kind == "edit"
    for role, text in FEW_SHOT:
        if role == "assistant":
            assert parse_coding_action(text).kind != "format_error", text
    for fragment in ("exactly ONE action", "```bash", "```edit", "<<<<<<< SEARCH", ">>>>>>> REPLACE", "SUBMIT"):
        assert fragment in SYSTEM_PROMPT


def test_parse_edit_hunks_directly():
    assert parse_edit_hunks(f"\n{HUNK}\n\n") == [Hunk(search="    return a + b", replace="    return a * b")]
    # inside REPLACE a ======= line is content (an rst underline)
    hunks = parse_edit_hunks("<<<<<<< SEARCH\nTitle\n=======\nNew title\n=========\n>>>>>>> REPLACE")
    assert hunks == [Hunk(search="Title", replace="New title\n=========")]
    with pytest.raises(HunkFormatError, match="no `<<<<<<< SEARCH`"):
        parse_edit_hunks("")


# -- applying hunks ----------------------------------------------------------------------------------

SOURCE = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"


def test_apply_single_hunk():
    new = apply_hunks(SOURCE, [Hunk(search="    return a + b", replace="    return a * b")])
    assert new == SOURCE.replace("a + b", "a * b")


def test_apply_multi_hunk_in_order_including_insert_and_delete():
    hunks = [Hunk(search="def add(a, b):", replace='def add(a, b):\n    """Add."""'),
             Hunk(search="\n\ndef sub(a, b):\n    return a - b", replace="")]
    assert apply_hunks(SOURCE, hunks) == 'def add(a, b):\n    """Add."""\n    return a + b\n'


def test_apply_later_hunk_sees_earlier_result():
    hunks = [Hunk(search="    return a + b", replace="    return a + b + 0"),
             Hunk(search="    return a + b + 0", replace="    return b + a")]
    assert "    return b + a\n" in apply_hunks(SOURCE, hunks)


def test_apply_ignores_trailing_whitespace_and_keeps_crlf():
    assert apply_hunks("x = 1   \ny = 2\n", [Hunk(search="x = 1", replace="x = 3")]) == "x = 3\ny = 2\n"
    crlf = "a\r\nb\r\nc\r\n"
    assert apply_hunks(crlf, [Hunk(search="b", replace="B\nB2")]) == "a\r\nB\r\nB2\r\nc\r\n"


def test_apply_matches_whole_lines_only():
    with pytest.raises(HunkApplyError) as info:
        apply_hunks(SOURCE, [Hunk(search="return a", replace="return b")])
    assert info.value.problem == "not_found"


def test_apply_not_found_shows_the_closest_region():
    with pytest.raises(HunkApplyError) as info:
        apply_hunks(SOURCE, [Hunk(search="def sub(a, b):\n    return a - c", replace="x")])
    err = info.value
    assert err.problem == "not_found" and err.hunk == 1
    assert "hunk 1 of 1" in str(err) and "not found" in str(err)
    assert "closest lines" in str(err) and "(lines 5-6)\ndef sub(a, b):\n    return a - b" in str(err)


def test_apply_not_found_points_at_an_indentation_mismatch():
    with pytest.raises(HunkApplyError) as info:
        apply_hunks(SOURCE, [Hunk(search="return a + b", replace="return a * b")])
    assert "except for whitespace" in str(info.value) and "(lines 2-2)\n    return a + b" in str(info.value)


def test_apply_not_found_without_anything_close():
    with pytest.raises(HunkApplyError) as info:
        apply_hunks(SOURCE, [Hunk(search="class Zebra(Protocol): pass", replace="x")])
    assert info.value.problem == "not_found" and "closest" not in str(info.value)


def test_apply_ambiguous():
    text = "x = 1\nprint(x)\nx = 1\n"
    with pytest.raises(HunkApplyError) as info:
        apply_hunks(text, [Hunk(search="x = 1", replace="x = 2")])
    assert info.value.problem == "ambiguous"
    assert "occur 2 times (at lines 1, 3)" in str(info.value) and "exactly once" in str(info.value)


def test_apply_is_all_or_nothing_and_names_the_failing_hunk():
    hunks = [Hunk(search="    return a + b", replace="    return a * b"), Hunk(search="nope", replace="")]
    with pytest.raises(HunkApplyError) as info:
        apply_hunks(SOURCE, hunks)
    assert info.value.hunk == 2 and "hunk 2 of 2" in str(info.value)


def test_apply_creates_a_missing_file():
    assert apply_hunks(None, [Hunk(search="", replace="print('hi')")]) == "print('hi')\n"
    assert apply_hunks("", [Hunk(search="", replace="a\nb")]) == "a\nb\n"
    hunks = [Hunk(search="", replace="a = 1\nb = 2"), Hunk(search="b = 2", replace="b = 3")]
    assert apply_hunks(None, hunks) == "a = 1\nb = 3\n"


def test_apply_refuses_missing_file_and_empty_search_on_existing_file():
    with pytest.raises(HunkApplyError) as info:
        apply_hunks(None, [Hunk(search="x", replace="y")])
    assert info.value.problem == "missing_file" and "leave SEARCH empty" in str(info.value)
    with pytest.raises(HunkApplyError) as info:
        apply_hunks(SOURCE, [Hunk(search="", replace="y")])
    assert info.value.problem == "empty_search"


def test_closest_region_is_skipped_for_huge_files():
    lines = ["x = 1"] * 30
    assert closest_region(lines, ["x = 2"], max_file_lines=10) is None
    assert closest_region(lines, ["x = 2"]) is not None


# -- observations ------------------------------------------------------------------------------------

def test_observation_plain():
    assert format_observation(ExecResult(exit_code=0, stdout="ok\n")) == "exit code: 0\nstdout:\nok"


def test_observation_keeps_mostly_the_end():
    out = "HEAD" + "x" * 10_000 + "1 failed, 3 passed"
    text = format_observation(ExecResult(exit_code=1, stdout=out, stderr="E" * 50), max_chars=1000)
    assert len(text) < 1200
    assert text.startswith("exit code: 1") and "HEAD" in text and "1 failed, 3 passed" in text
    assert "characters omitted" in text and "E" * 50 in text
    assert text.count("x") > 500  # most of the budget went to the end, not the head
