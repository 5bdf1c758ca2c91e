"""SWE-bench rows -> Tasks, the pure parts of grading (diff splitting, eval script, the official report)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentbench.runner.resume import task_hash
from agentbench.scoring.swebench import make_test_spec, resolution_report, split_diff
from agentbench.suites.errors import SuiteError
from agentbench.suites.loader import load_suite
from agentbench.suites.swebench import resolve_repo
from agentbench.swe_spec import EnvSpec
from agentbench.swebench_layout import patch_files

PATCH = ("diff --git a/pkg/core.py b/pkg/core.py\n--- a/pkg/core.py\n+++ b/pkg/core.py\n@@ -1 +1 @@\n-a\n+b\n"
         "diff --git a/tests/test_core.py b/tests/test_core.py\n--- a/tests/test_core.py\n+++ b/tests/test_core.py\n"
         "@@ -1 +1 @@\n-x\n+y\n")
ROW = {"repo": "acme/widget", "instance_id": "acme__widget-1", "base_commit": "a" * 40, "patch": PATCH,
       "test_patch": PATCH.split("diff --git a/tests")[0].replace("pkg/core.py", "tests/test_core.py"),
       "problem_statement": "widgets break", "hints_text": "", "created_at": "2024-01-01T00:00:00Z", "version": 1.0,
       "FAIL_TO_PASS": json.dumps(["tests/test_core.py::test_a"]), "PASS_TO_PASS": ["tests/test_core.py::test_b"],
       "environment_setup_commit": "b" * 40}
SPECS = "acme/widget:\n  '1.0':\n    pip_packages: [pytest]\n    test_cmd: pytest -rA\n"


def make_suite(tmp_path: Path, rows: list[dict], fmt: str = "jsonl", specs: str = SPECS) -> Path:
    (tmp_path / "repos").mkdir()
    (tmp_path / "repos" / "acme__widget.bundle").write_bytes(b"bundle")
    data = f"rows.{fmt}"
    if fmt == "jsonl":
        (tmp_path / data).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    elif fmt == "json":
        (tmp_path / data).write_text(json.dumps(rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist([{**r, "version": str(r["version"])} for r in rows]), tmp_path / data)
    (tmp_path / "specs.yaml").write_text(specs)
    (tmp_path / "suite.yaml").write_text(f"name: t\nformat: swebench\ndata: {data}\nrepo_mirror: repos\n"
                                         f"specs: specs.yaml\n")
    return tmp_path


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet"])
def test_rows_load_from_every_format(tmp_path, fmt):
    _, tasks = load_suite(make_suite(tmp_path, [ROW], fmt))
    (task,) = tasks
    assert task.id == "acme__widget-1" and task.kind == "swe" and task.prompt == "widgets break"
    swe = task.swe
    assert swe.FAIL_TO_PASS == ["tests/test_core.py::test_a"]  # decoded from a JSON string
    assert swe.PASS_TO_PASS == ["tests/test_core.py::test_b"]
    assert swe.source == str((tmp_path / "repos" / "acme__widget.bundle").resolve())
    assert swe.environment_setup_commit == "b" * 40 and swe.base_commit == "a" * 40 and swe.patch == PATCH
    assert swe.env == EnvSpec(pip_packages=["pytest"], test_cmd="pytest -rA")  # the suite's specs.yaml entry
    assert task.sandbox.workdir == "/testbed" and task.sandbox.image == "swe-env"
    assert task.sandbox.setup[0].endswith("a" * 40)
    assert swe.version == "1.0" and make_test_spec(swe).test_directives == ["tests/test_core.py"]
    assert task.metadata == {}  # every SWE fact lives in task.swe, once


def test_missing_field_names_file_line_and_field(tmp_path):
    bad = {k: v for k, v in ROW.items() if k != "base_commit"}
    with pytest.raises(SuiteError, match=r"rows.jsonl:1: field 'base_commit'"):
        load_suite(make_suite(tmp_path, [bad]))


def test_bad_test_list_and_duplicate_id(tmp_path):
    with pytest.raises(SuiteError, match=r"rows.jsonl:2: field 'instance_id': duplicate"):
        load_suite(make_suite(tmp_path, [ROW, ROW]))


def test_malformed_json_string_list(tmp_path):
    with pytest.raises(SuiteError, match=r"field 'FAIL_TO_PASS'.*JSON-encoded list"):
        load_suite(make_suite(tmp_path, [{**ROW, "FAIL_TO_PASS": "[not json"}]))


def test_unknown_version_without_eval_script_is_an_error(tmp_path):
    with pytest.raises(SuiteError, match="no install recipe for acme/widget version '2.0'"):
        load_suite(make_suite(tmp_path, [{**ROW, "version": "2.0"}]))


def test_row_with_eval_script_needs_no_recipe_and_keeps_it(tmp_path):
    _, (task,) = load_suite(make_suite(tmp_path, [{**ROW, "version": "9", "eval_script": "#!/bin/bash\necho hi\n",
                                                   "log_parser": "parse_log_pytest_v2"}]))
    # as swebench 5.0.2's make_test_spec runs a row's script: its commands under its own header lines
    # (nothing else here: without an end marker there is no test exit code to record)
    spec = make_test_spec(task.swe)
    assert spec.eval_script == "#!/bin/bash\nset -uxo pipefail\necho hi\n"
    assert spec.log_parser == "parse_log_pytest_v2" and task.swe.env == EnvSpec()


def test_bad_spec_field_is_named(tmp_path):
    with pytest.raises(SuiteError, match=r"specs.yaml: field 'acme/widget.1.0.debian'"):
        load_suite(make_suite(tmp_path, [ROW], specs="acme/widget:\n  '1.0':\n    debian: jessie\n"))


def test_repo_without_mirror_entry_is_a_github_url(tmp_path):
    assert resolve_repo("acme/other", tmp_path) == "https://github.com/acme/other.git"
    (tmp_path / "acme__other.git").mkdir()
    assert resolve_repo("acme/other", tmp_path) == str((tmp_path / "acme__other.git").resolve())


def test_diff_sections_are_split_by_file_and_test_files_stay():
    assert patch_files(PATCH) == ["pkg/core.py", "tests/test_core.py"]
    sections = split_diff(PATCH)
    assert [path for path, _ in sections] == ["pkg/core.py", "tests/test_core.py"]
    assert "".join(section for _, section in sections) == PATCH  # nothing dropped: the patch is graded as submitted
    assert sections[1][1].startswith("diff --git a/tests/test_core.py") and sections[1][1].endswith("+y\n")


def test_generated_eval_script_has_the_official_shape(tmp_path):
    _, (task,) = load_suite(make_suite(tmp_path, [ROW]))
    script = make_test_spec(task.swe).eval_script
    lines = script.splitlines()
    assert lines[:2] == ["#!/bin/bash", "set -uxo pipefail"]
    assert "source /opt/miniconda3/bin/activate" in lines and "conda activate testbed" in lines
    start, end = lines.index(": '>>>>> Start Test Output'"), lines.index(": '>>>>> End Test Output'")
    assert lines[start + 1] == "pytest -rA tests/test_core.py" and start < end
    assert any(">>>>> Test Exit Code" in line for line in lines[end:])
    assert script.index("git apply -v -") < script.index(">>>>> Start Test Output")


def test_resolution_report_uses_swebench_grading(tmp_path):
    _, (task,) = load_suite(make_suite(tmp_path, [ROW]))
    log = ("+ : '>>>>> Start Test Output'\nPASSED tests/test_core.py::test_a\nPASSED tests/test_core.py::test_b\n"
           "+ : '>>>>> End Test Output'\n>>>>> Test Exit Code: 0\n")
    spec = make_test_spec(task.swe)
    report = resolution_report(spec, "diff", log)
    assert report["resolved"] and report["resolution"] == "RESOLVED_FULL" and report["patch_successfully_applied"]
    failing = log.replace("PASSED tests/test_core.py::test_a", "FAILED tests/test_core.py::test_a - boom")
    report = resolution_report(spec, "diff", failing.replace("Exit Code: 0", "Exit Code: 1"))
    assert not report["resolved"] and report["resolution"] == "RESOLVED_NO"
    assert report["tests_status"]["FAIL_TO_PASS"]["failure"] == ["tests/test_core.py::test_a"]
    assert not resolution_report(spec, "diff", "no markers at all")["patch_successfully_applied"]


def test_the_test_spec_is_the_official_one_filled(tmp_path):
    """One spec per instance, every field the official TestSpec has filled from the SweSpec."""
    _, (task,) = load_suite(make_suite(tmp_path, [ROW]))
    spec = make_test_spec(task.swe)
    official = spec.harness()
    assert (official.instance_id, official.repo, official.version) == ("acme__widget-1", "acme/widget", "1.0")
    assert official.FAIL_TO_PASS == ["tests/test_core.py::test_a"] and official.PASS_TO_PASS == task.swe.PASS_TO_PASS
    assert (official.log_parser, official.eval_type) == ("parse_log_pytest", "pass_and_fail")
    assert official.eval_script == spec.eval_script and official.eval_script_list == spec.eval_script_list
    assert any(line.startswith("pytest -rA tests/test_core.py") for line in spec.eval_script_list)
    all_tests = task.swe.model_copy(update={"env": task.swe.env.model_copy(update={"test_directives_from": "all"})})
    assert make_test_spec(all_tests).test_directives == []  # the whole suite: no directives


def test_a_swe_task_hashes_by_its_commits_not_its_mirror(tmp_path):
    _, (task,) = load_suite(make_suite(tmp_path, [ROW]))
    moved = task.model_copy(update={"swe": task.swe.model_copy(update={"source": "/elsewhere/acme__widget.git"})})
    assert task_hash(moved) == task_hash(task)
    other = task.model_copy(update={"swe": task.swe.model_copy(update={"base_commit": "c" * 40})})
    assert task_hash(other) != task_hash(task)
