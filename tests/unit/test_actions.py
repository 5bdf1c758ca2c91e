"""The text action protocol: parser branches, fences, FINAL ANSWER variants, observation rendering."""

import pytest

from agentbench.protocols import ExecResult
from agentbench.graphs.actions import FORMAT_HELP, PROTOCOL_PROMPT, parse_action, format_observation

F = "```"

CASES = [
    # (reply, kind, code or answer, error fragment)
    (f"I will list.\n{F}bash\nls -la\n{F}\n", "bash", "ls -la", None),
    (f"{F}sh\necho hi\n{F}", "bash", "echo hi", None),
    (f"{F}shell\npwd\n{F}", "bash", "pwd", None),
    (f"{F}\ncat data.csv | head\n{F}", "bash", "cat data.csv | head", None),
    (f"{F}python\nimport math\nprint(math.pi)\n{F}", "python", "import math\nprint(math.pi)", None),
    (f"{F}py\nprint(1)\n{F}", "python", "print(1)", None),
    (f"{F}Python3\nprint(1)\n{F}", "python", "print(1)", None),
    (f"{F} python \nprint(1)\n{F}", "python", "print(1)", None),
    ("~~~bash\nls\n~~~", "bash", "ls", None),
    ("````python\nprint('```')\n````", "python", "print('```')", None),
    (f"  {F}bash\n  ls\n  {F}", "bash", "  ls", None),
    (f"{F}bash\nls{F}", "bash", "ls", None),
    (f"{F}bash\r\nls\r\n{F}", "bash", "ls", None),
    (f"{F}python\nprint('FINAL ANSWER: 3')\n{F}", "python", "print('FINAL ANSWER: 3')", None),
    ("FINAL ANSWER: 42", "final", "42", None),
    ("Thought: done.\nFINAL ANSWER: 42\n", "final", "42", None),
    ("final answer: Paris", "final", "Paris", None),
    ("Final Answer:   `3.14`  ", "final", "3.14", None),
    ('FINAL ANSWER: "blue, green"', "final", "blue, green", None),
    ("**FINAL ANSWER:** 17", "final", "17", None),
    ("**Final answer**: 17", "final", "17", None),
    ("FINAL ANSWER: 42.", "final", "42.", None),
    ("FINAL ANSWER:\n\n  Paris\n", "final", "Paris", None),
    ("FINAL ANSWER: 1\nFINAL ANSWER: 2", "final", "2", None),
    ("The answer follows.\nFINAL ANSWER: 7 apples\nThanks!", "final", "7 apples", None),
    (f"{F}\nFINAL ANSWER: 7\n{F}", "final", "7", None),
    (f"FINAL ANSWER: 9\n{F}", "final", "9", None),
    # format errors
    ("I think the answer is 42.", "format_error", None, "no code block and no FINAL ANSWER"),
    ("", "format_error", None, "no code block"),
    (f"{F}bash\nls\n{F}\nFINAL ANSWER: 42", "format_error", None, "one thing per turn"),
    (f"FINAL ANSWER: 42\n{F}python\nprint(42)", "format_error", None, "one thing per turn"),
    (f"{F}bash\nls\n{F}\n{F}python\nprint(1)\n{F}", "format_error", None, "2 code blocks"),
    (f"{F}python\nprint(1)\n", "format_error", None, "not closed"),
    (f"{F}json\n{{}}\n{F}", "format_error", None, "not ```json"),
    (f"{F}bash\n\n{F}", "format_error", None, "empty"),
    ("FINAL ANSWER:   ", "format_error", None, "was empty"),
]


@pytest.mark.parametrize("reply, kind, value, error", CASES)
def test_parse_action(reply, kind, value, error):
    action = parse_action(reply)
    assert action.kind == kind, action
    if kind in ("bash", "python"):
        assert action.code == value
    elif kind == "final":
        assert action.answer == value
    else:
        assert error in action.error
        assert FORMAT_HELP in action.error  # every error re-explains the protocol


def test_protocol_prompt_explains_the_rules():
    for fragment in ("exactly ONE fenced code block", "```bash", "```python", "FINAL ANSWER: <answer>"):
        assert fragment in PROTOCOL_PROMPT
    # the prompt's own example is a valid action
    assert parse_action(PROTOCOL_PROMPT.split("like this:")[1].split("When you")[0]).kind == "bash"


def test_observation_plain():
    text = format_observation(ExecResult(exit_code=0, stdout="hello\n", stderr=""))
    assert text == "exit code: 0\nstdout:\nhello"


def test_observation_empty_and_failed():
    text = format_observation(ExecResult(exit_code=2, stderr="ls: cannot access 'x'\n"))
    assert text.startswith("exit code: 2") and "stderr:\nls: cannot access 'x'" in text and "stdout" not in text
    assert "(no output)" in format_observation(ExecResult(exit_code=0))


def test_observation_notes():
    text = format_observation(ExecResult(exit_code=124, stdout="partial", duration_s=30.0, timed_out=True,
                                         truncated=True))
    assert "timed out after 30 s" in text and "truncated" in text


def test_observation_trims_long_output_keeping_both_ends():
    out = "START" + "x" * 20_000 + "END"
    err = "E" * 5_000 + "LASTERR"
    text = format_observation(ExecResult(exit_code=1, stdout=out, stderr=err), max_chars=1000)
    assert len(text) < 1300
    assert "START" in text and "END" in text and "LASTERR" in text and "characters omitted" in text
