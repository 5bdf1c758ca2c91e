"""Our eval-script generator against the official scripts of four real SWE-bench Lite rows.

Each row in /work/shared/swebench-real/rows.jsonl carries the `eval_script` the official builder made. We
load the row with our loader *without* that script (so the instance's test spec, `make_test_spec`, generates
one from the recipe facts) and compare it with the row's own, line by line.

The rows' scripts do not record the test command's exit code: swebench 5.0.2 adds that at run time
(`make_test_spec` passes every row's script through `record_test_exit_code`, which inserts
`SWEBENCH_TEST_EXIT_CODE=$?` before the end marker and `echo ">>>>> Test Exit Code: ..."` after it). Ours
carries those two lines too, so the comparison removes exactly those two, at exactly those places, from
ours; every other line must be equal. A second check needs no removal at all: ours equals the script
swebench 5.0.2 itself would run for the row (`make_test_spec(row).eval_script`), and so does what we run
for the row when it keeps its own script.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentbench.scoring.swebench import make_test_spec
from agentbench.suites.swe_recipes import find_spec
from agentbench.suites.swebench import SweRow, task_from_row
from agentbench.swe_spec import EnvSpec

ROWS = Path("/work/shared/swebench-real/rows.jsonl")
# The official facts (SWE-bench harness specs), used only while the built-in table lacks an entry.
OFFICIAL = {
    ("pylint-dev/pylint", "2.15"): EnvSpec(install=["python -m pip install -e ."], test_cmd="pytest -rA",
                                           log_parser="parse_log_pylint"),
    ("sympy/sympy", "1.1"): EnvSpec(install=["python -m pip install -e ."], log_parser="parse_log_sympy",
                                    test_cmd="PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' "
                                             "bin/test -C --verbose"),
}
EXIT_CODE_SET = "SWEBENCH_TEST_EXIT_CODE=$?"
EXIT_CODE_ECHO = 'echo ">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE"'
END = ": '>>>>> End Test Output'"


def rows() -> list[dict]:
    if not ROWS.is_file():
        pytest.skip(f"{ROWS} is not here")
    return [json.loads(line) for line in ROWS.read_text(encoding="utf-8").splitlines() if line.strip()]


def spec_for(repo: str, version: str) -> EnvSpec:
    return find_spec(repo, version) or OFFICIAL[(repo, version)]


def generated(row: dict) -> str:
    parsed = SweRow.model_validate({**row, "eval_script": None})
    task = task_from_row(parsed, spec_for(parsed.repo, parsed.version), "/mirror", row["instance_id"])
    assert task.swe.eval_script is None  # our generator runs, not the row's script
    return make_test_spec(task.swe).eval_script


def without_exit_code_lines(lines: list[str]) -> list[str]:
    """`lines` less the two lines record_test_exit_code adds, checked to be exactly where it puts them."""
    end = lines.index(END)
    assert lines[end - 1] == EXIT_CODE_SET and lines[end + 1] == EXIT_CODE_ECHO, lines[end - 2:end + 3]
    assert sum(EXIT_CODE_SET in line or "Test Exit Code" in line for line in lines) == 2
    return lines[:end - 1] + [lines[end]] + lines[end + 2:]


@pytest.mark.parametrize("index", range(4))
def test_generated_script_equals_the_rows_official_script(index):
    row = rows()[index]
    official = row["eval_script"]
    assert EXIT_CODE_SET not in official and "Test Exit Code" not in official  # the rows lack the wrapper
    ours = generated(row)
    assert ours.endswith("\n") and official.endswith("\n")
    ours_lines, official_lines = without_exit_code_lines(ours.splitlines()), official.splitlines()
    for number, (a, b) in enumerate(zip(ours_lines, official_lines), 1):
        assert a == b, f"{row['instance_id']}: line {number} differs:\n ours:     {a!r}\n official: {b!r}"
    assert len(ours_lines) == len(official_lines), row["instance_id"]


@pytest.mark.parametrize("index", range(4))
def test_generated_script_is_what_swebench_502_runs_for_the_row(index):
    from swebench.harness.utils import make_test_spec as make_test_spec_502

    row = rows()[index]
    runs = make_test_spec_502(row).eval_script
    assert generated(row) == runs
    own = task_from_row(SweRow.model_validate(row), None, "/mirror", row["instance_id"])
    assert make_test_spec(own.swe).eval_script == runs  # a row's own script runs as 5.0.2 runs it
    official, ours = make_test_spec_502(row), make_test_spec(own.swe).harness()
    fields = ("instance_id", "image", "repo", "version", "eval_script_list", "FAIL_TO_PASS", "PASS_TO_PASS",
              "log_parser", "eval_type")  # the official TestSpec, field for field
    assert [getattr(ours, f) for f in fields] == [getattr(official, f) for f in fields]


def test_the_comparison_catches_any_other_difference():
    row = rows()[0]
    lines = without_exit_code_lines(generated(row).splitlines())
    official = row["eval_script"].splitlines()
    assert lines == official
    for i in range(len(official)):  # any one line changed, dropped or doubled is a difference
        assert lines[:i] + [lines[i] + " "] + lines[i + 1:] != official
        assert lines[:i] + lines[i + 1:] != official
        assert lines[:i + 1] + lines[i:] != official
    with pytest.raises(AssertionError):
        without_exit_code_lines(official)  # the wrapper must be there, where it belongs


def test_new_test_files_are_removed_not_checked_out():
    """The official builder resets files the test patch creates with `rm -f` (git checkout of a path the
    base commit lacks would fail, taking the other paths with it); the model's own copy of such a file
    must not stop the test patch from applying."""
    patch = ("diff --git a/pkg/tests/test_old.py b/pkg/tests/test_old.py\n--- a/pkg/tests/test_old.py\n"
             "+++ b/pkg/tests/test_old.py\n@@ -1 +1 @@\n-a\n+b\n"
             "diff --git a/pkg/tests/test_new.py b/pkg/tests/test_new.py\nnew file mode 100644\n"
             "--- /dev/null\n+++ b/pkg/tests/test_new.py\n@@ -0,0 +1 @@\n+def test_x(): pass\n")
    row = {**rows()[0], "test_patch": patch, "eval_script": None}
    lines = generated(row).splitlines()
    base = row["base_commit"]
    resets = [i for i, line in enumerate(lines) if line.startswith(("git checkout " + base, "rm -f "))]
    expected = [f"git checkout {base} pkg/tests/test_old.py", "rm -f pkg/tests/test_new.py"]
    assert [lines[i] for i in resets] == expected * 2
    start = lines.index(": '>>>>> Start Test Output'")
    assert lines[start + 1] == "pytest -rA pkg/tests/test_old.py pkg/tests/test_new.py"
    assert resets[1] < next(i for i, line in enumerate(lines) if line.startswith("git apply -v -")) < start
