"""The SWE-bench validation campaign's pure parts (bench/swe_campaign.py, bench/swe_campaign_md.py): row
selection and order, resume, the csv, the network flag, a row's reason, the Markdown and the README table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentbench.swe_spec import EnvSpec
from bench.swe_campaign import (HEADER, CampaignError, CampaignRow, Candidate, append_row, campaign_order, matches,
                                network_flag, parse_csv, parse_only, read_csv, status_counts, to_run, verdict_reason)
from bench.swe_campaign_md import (END, START, marked_block, pair_state, pending_pairs, readme_table, replace_block,
                                   rows_per_hour, summary_markdown)

ROOT = Path(__file__).resolve().parents[2]


def cand(instance: str, repo: str = "a/x", version: str = "1.0", split: str = "lite") -> Candidate:
    return Candidate(split=split, instance=instance, repo=repo, version=version)


def row(instance: str, valid: bool = True, reason: str = "", repo: str = "a/x", version: str = "1.0",
        **kw) -> CampaignRow:
    return CampaignRow(split="lite", instance=instance, repo=repo, version=version, valid=valid, reason=reason, **kw)


# --- selection -------------------------------------------------------------------------------------------

def test_every_pair_gets_a_row_before_any_gets_a_second_round_robin_across_repos():
    rows = [cand("x1", "a/x", "1.0"), cand("x2", "a/x", "1.0"), cand("x3", "a/x", "1.10"), cand("x4", "a/x", "1.9"),
            cand("y1", "b/y", "2.0"), cand("y2", "b/y", "2.0"), cand("z1", "c/z", "0.1")]
    order = [c.instance for c in campaign_order(rows, per_pair=2)]
    # round 1: a/x 1.0, b/y 2.0, c/z 0.1, a/x 1.9, a/x 1.10 (versions in version order); round 2: x2, y2
    assert order == ["x1", "y1", "z1", "x4", "x3", "x2", "y2"]
    assert [c.instance for c in campaign_order(rows, per_pair=1)] == ["x1", "y1", "z1", "x4", "x3"]
    with pytest.raises(CampaignError, match="--per-pair 0"):
        campaign_order(rows, per_pair=0)


def test_an_instance_in_two_splits_runs_once_with_its_first_split():
    rows = [cand("x1", split="lite_test"), cand("x1", split="verified_test"), cand("x2", split="verified_test")]
    order = campaign_order(rows, per_pair=5)
    assert [(c.instance, c.split) for c in order] == [("x1", "lite_test"), ("x2", "verified_test")]


def test_only_filters_repo_and_version():
    only = parse_only(["a/x@1.0", "b/y"])
    assert only == [("a/x", "1.0"), ("b/y", None)]
    assert matches(cand("1", "a/x", "1.0"), only) and matches(cand("2", "b/y", "9"), only)
    assert not matches(cand("3", "a/x", "2.0"), only) and not matches(cand("4", "c/z"), only)
    assert matches(cand("5", "c/z"), [])
    for bad in ("django", "a/x@", "a b/c"):
        with pytest.raises(CampaignError, match="--only"):
            parse_only([bad])


def test_resume_skips_final_rows_and_retries_harness_errors_and_named_reasons():
    ordered = [cand("x1"), cand("x2"), cand("x3"), cand("x4"), cand("x5")]
    done = {"x1": row("x1"), "x2": row("x2", False, "gold_fails: RESOLVED_NO"),
            "x3": row("x3", False, "error: APIError: engine gone"), "x4": row("x4", False, "env_build_failed: pip")}
    assert [c.instance for c in to_run(ordered, done)] == ["x3", "x5"]
    assert [c.instance for c in to_run(ordered, done, rerun=["env_build_failed"])] == ["x3", "x4", "x5"]
    assert done["x3"].final is False and done["x4"].final and done["x1"].category == "valid"


# --- the csv ---------------------------------------------------------------------------------------------

def test_csv_append_and_read_back_last_row_wins(tmp_path):
    path = tmp_path / "out" / "campaign.csv"
    first = row("x1", False, "error: TimeoutError: read, timed out", build_s=1.25)
    append_row(path, first)
    append_row(path, row("x2", False, 'gold_fails: RESOLVED_NO: FAIL_TO_PASS 0/1, "quoted"', build_s=210.04,
                         grade_s=95.0, network="PASS_TO_PASS test_x: ConnectionError", built="env,inst",
                         detail="a | b"))
    append_row(path, row("x1", True, build_s=0.0, grade_s=30.0, built="none"))
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(HEADER)
    assert lines[0].startswith("split,instance,repo,version,python,valid,reason,build_s,grade_s")
    assert len(lines) == 4 and lines[2].count('""quoted""') == 1 and ",210.0,95.0," in lines[2]
    got = read_csv(path)
    assert list(got) == ["x2", "x1"]
    assert got["x1"].valid and got["x1"].build_s == 0.0 and got["x1"].grade_s == 30.0
    assert got["x2"].reason.endswith('"quoted"') and got["x2"].network.endswith("ConnectionError")
    assert got["x2"].build_s == 210.0 and got["x2"].built == "env,inst"
    assert read_csv(tmp_path / "missing.csv") == {}


def test_bad_csv_names_file_line_and_field(tmp_path):
    with pytest.raises(CampaignError, match=r"c\.csv: line 1: expected the columns"):
        parse_csv("instance,split\n", "c.csv")
    header = ",".join(HEADER)
    with pytest.raises(CampaignError, match=r"c\.csv: line 2: field 'valid'"):
        parse_csv(f"{header}\nlite,x1,a/x,1.0,3.9,maybe,,,,,,\n", "c.csv")
    with pytest.raises(CampaignError, match=r"c\.csv: line 3: field 'build_s'"):
        parse_csv(f"{header}\nlite,x1,a/x,1.0,3.9,true,,1,2,,,\nlite,x2,a/x,1.0,3.9,true,,slow,2,,,\n", "c.csv")


# --- a row's reason and its network flag -----------------------------------------------------------------

def test_verdict_reason_names_the_first_failed_check():
    report = {"resolution": "RESOLVED_PARTIAL", "tests_status": {
        "FAIL_TO_PASS": {"success": ["t1"], "failure": ["t2"]}, "PASS_TO_PASS": {"success": ["p"] * 40, "failure": []}}}
    assert status_counts(report) == "RESOLVED_PARTIAL: FAIL_TO_PASS 1/2, PASS_TO_PASS 40/40"
    assert verdict_reason(True, True, True, True, "", report) == ""
    assert verdict_reason(True, False, True, True, "gold patch: ...", report) == (
        "gold_fails: RESOLVED_PARTIAL: FAIL_TO_PASS 1/2, PASS_TO_PASS 40/40")
    assert verdict_reason(True, True, False, True, "", report).startswith("empty_passes")
    assert verdict_reason(False, False, True, True, "", report).startswith("test_patch_does_not_apply")
    env = verdict_reason(False, False, False, False, "environment broken: import_error: No module named 'x'\nmore", {})
    assert env == "env_broken: import_error: No module named 'x'"


PYTEST_LOG = """\
=================================== FAILURES ===================================
___________________ RequestsTestCase.test_HTTP_200_OK_GET ______________________
    def test_HTTP_200_OK_GET(self):
>       r = requests.get(httpbin('get'))
E   requests.exceptions.ConnectionError: HTTPConnectionPool(host='httpbin.org', port=80): Max retries exceeded
___________________ RequestsTestCase.test_unicode_header ______________________
E   AssertionError: assert 'a' == 'b'
=========================== short test summary info ============================
FAILED test_requests.py::RequestsTestCase::test_unicode_header
"""


def test_network_flag_names_the_tests_that_failed_with_a_network_error():
    failed = {"FAIL_TO_PASS": ["test_requests.py::RequestsTestCase::test_unicode_header"],
              "PASS_TO_PASS": ["test_requests.py::RequestsTestCase::test_HTTP_200_OK_GET"]}
    assert network_flag(PYTEST_LOG, failed) == "1 of 2 failed tests: ConnectionError: PASS_TO_PASS test_HTTP_200_OK_GET"
    short = "FAILED tests/test_io.py::test_fetch[url] - urllib.error.URLError: <urlopen error [Errno -3] " \
            "Temporary failure in name resolution>\n"
    assert network_flag(short, {"PASS_TO_PASS": ["tests/test_io.py::test_fetch[url]"]}) == (
        "1 of 1 failed tests: URLError: PASS_TO_PASS test_fetch[url]")
    many = "".join(f"FAILED t.py::test_{i} - ConnectionError: Name or service not known\n" for i in range(60))
    flag = network_flag(many, {"PASS_TO_PASS": [f"t.py::test_{i}" for i in range(60)], "FAIL_TO_PASS": ["t.py::x"]})
    assert flag.startswith("60 of 61 failed tests: ConnectionError: PASS_TO_PASS test_0, test_1,")
    assert len(flag) == 300 and flag.endswith("...")
    dns = "test_remote (test.test_x.T) ... ERROR\nsocket.gaierror: [Errno -2] Name or service not known\n"
    assert network_flag(dns, {"FAIL_TO_PASS": ["test_remote (test.test_x.T)"]}) == (
        "unattributed: socket.gaierror in the log, 1 tests failed")


def test_network_flag_is_empty_without_failures_or_network_errors():
    assert network_flag(PYTEST_LOG, {"FAIL_TO_PASS": [], "PASS_TO_PASS": []}) == ""
    assert network_flag("E   AssertionError\n", {"FAIL_TO_PASS": ["t::test_a"]}) == ""
    assert network_flag(PYTEST_LOG, {"PASS_TO_PASS": ["test_requests.py::RequestsTestCase::test_unicode_header"]}) \
        == "unattributed: ConnectionError in the log, 1 tests failed"


# --- Markdown from the csv -------------------------------------------------------------------------------

SPECS = {"a/x": {"1.0": EnvSpec(python="3.9"), "1.1": EnvSpec(python="3.9"), "2.0": EnvSpec(python="3.6")},
         "b/y": {"0.1": EnvSpec(python="3.11"), "0.2": EnvSpec(python="3.11")}}


def test_pair_state():
    assert pair_state([]) == "not run"
    assert pair_state([row("1"), row("2")]) == "valid"
    assert pair_state([row("1", False, "gold_fails: x"), row("2", False, "gold_fails: y")]) == "invalid: gold_fails"
    assert pair_state([row("1"), row("2", False, "empty_passes")]) == "mixed"
    assert pair_state([row("1", False, "repo_unavailable: no mirror")]) == "not run (repo_unavailable)"
    assert pair_state([row("1", False, "error: boom")]) == "not run (error)"


def test_readme_table_groups_versions_by_offline_state_and_verdict():
    rows = [row("x1", repo="a/x", version="1.0", python="3.9"),
            row("x2", False, "env_build_failed: pip", repo="a/x", version="1.1"),
            row("x3", False, "python_unavailable_offline: Python 3.6", repo="a/x", version="2.0"),
            row("y1", repo="b/y", version="0.1"), row("y2", repo="b/y", version="0.2")]
    table = readme_table(rows, SPECS)
    assert "| a/x | 1.0 | yes | valid | Debian bullseye python3.9, pip |" in table
    assert "| a/x | 1.1 | yes | invalid: env_build_failed | Debian bullseye python3.9, pip |" in table
    assert "| a/x | 2.0 | no | not run (python_unavailable_offline) | Python 3.6 is in no Debian release" in table
    assert "| b/y | 0.1, 0.2 | yes | valid | Debian bookworm python3.11, pip |" in table
    assert table.rstrip().endswith("3 valid, 1 invalid, 0 mixed, 1 not run.")
    assert "3 of 4" not in table and "4 of 5 (repo, version) entries build offline; 1 do not." in table
    assert "| not run |" in readme_table([], SPECS)


def test_replace_block_between_markers():
    text = f"intro\n{START}\nold table\n{END}\nafter\n"
    new = replace_block(text, "new table\n", "README.md")
    assert new == f"intro\n{START}\nnew table\n{END}\nafter\n" and marked_block(new) == "new table\n"
    with pytest.raises(CampaignError, match="README.md: no .*markers"):
        replace_block("no markers here\n", "x", "README.md")


def test_summary_markdown_and_rate():
    rows = [row("x1", repo="a/x", version="1.0", python="3.9", build_s=100.0, grade_s=20.0),
            row("x2", False, "gold_fails: RESOLVED_NO: FAIL_TO_PASS 0/1", repo="a/x", version="1.1", build_s=50.0,
                grade_s=10.0, network="PASS_TO_PASS test_a: ConnectionError"),
            row("d1", False, "repo_unavailable: no django__django.git", repo="django/django", version="4.1")]
    assert rows_per_hour(rows) == pytest.approx(3600 * 2 / 180)
    assert rows_per_hour(rows[2:]) is None
    pending = pending_pairs([("a/x", "1.0"), ("a/x", "1.1"), ("b/y", "0.2"), ("b/y", "0.1")], rows)
    assert pending == [("b/y", "0.2"), ("b/y", "0.1")]
    md = summary_markdown(rows, pending, "swebench-validation.csv")
    assert "**3 rows**: 1 valid, 1 invalid, 1 not runnable here, 0 harness errors" in md
    assert "Rate: 40.0 rows/hour" in md
    assert "| a/x | 1.1 |  | 1 | 0 | invalid: gold_fails | gold_fails: RESOLVED_NO: FAIL_TO_PASS 0/1 | " \
           "PASS_TO_PASS test_a: ConnectionError | 50 | 10 |" in md
    assert "- b/y: 0.1, 0.2" in md
    assert "django/django, matplotlib/matplotlib, scikit-learn/scikit-learn, pyvista/pyvista exceed the 500 MB" in md


def test_usage_errors_exit_2_without_traceback(tmp_path):
    script = ROOT / "bench" / "swe_validate.py"
    run = lambda *a: subprocess.run([sys.executable, str(script), *a], capture_output=True, text=True)  # noqa: E731
    missing = run("--data", f"lite={tmp_path / 'nope.parquet'}", "--mirrors", str(tmp_path), "--out",
                  str(tmp_path / "o.csv"))
    assert missing.returncode == 2 and "nope.parquet" in missing.stderr and "Traceback" not in missing.stderr
    bad = run("--data", "lite", "--mirrors", str(tmp_path))
    assert bad.returncode == 2 and "expected NAME=PATH" in bad.stderr
    assert run("--data", "x=y").returncode == 2  # no --mirrors


def test_rows_that_cannot_run_here_are_rows_with_a_reason(tmp_path):
    from agentbench.protocols import Task
    from agentbench.sandbox.swe_images import EnvSettings
    from agentbench.suites.swebench import SweRow
    from bench.swe_campaign_run import classify

    def swe(repo: str, version: str) -> tuple[Candidate, SweRow]:
        row = SweRow.model_validate({
            "repo": repo, "instance_id": f"{repo.replace('/', '__')}-1", "base_commit": "a" * 40, "patch": "",
            "test_patch": "diff --git a/t.py b/t.py\n", "problem_statement": "p", "version": version,
            "FAIL_TO_PASS": "[]", "PASS_TO_PASS": "[]", "environment_setup_commit": "b" * 40})
        return cand(row.instance_id, repo, version), row

    mirrors, settings = tmp_path / "mirrors", EnvSettings()
    (mirrors / "pallets__flask.git").mkdir(parents=True)
    got = {v: classify(*swe(r, v), mirrors, settings) for r, v in [("nobody/nothing", "1.0"), ("django/django", "3.0"),
                                                                  ("sympy/sympy", "1.1"), ("pallets/flask", "2.3")]}
    assert got["1.0"].reason.startswith("no_recipe: ") and got["1.0"].python == ""
    assert got["3.0"].category == "python_unavailable_offline" and got["3.0"].python == "3.6"
    assert got["1.1"].reason == "repo_unavailable: no sympy__sympy.git or .bundle in --mirrors"
    assert isinstance(got["2.3"], Task) and got["2.3"].swe.source == str((mirrors / "pallets__flask.git").resolve())
    assert all(not r.valid and r.build_s is None for r in got.values() if not isinstance(r, Task))


def test_the_csv_keeps_no_colour_codes_nor_local_mirror_paths():
    from bench.swe_campaign import first_line, one_line

    text = "git fetch file:///work/x/astropy+astropy/repo abc failed\n\x1b[91mERROR: /tmp/m/psf__requests.git\x1b[0m"
    assert first_line(text) == "git fetch MIRROR abc failed"
    assert one_line(text) == "git fetch MIRROR abc failed | ERROR: MIRROR"


def test_a_build_failure_is_named_by_its_cause_not_by_the_command():
    from bench.swe_campaign import cause_line

    log = ("The command '/bin/sh -c pip install -e .' returned a non-zero code: 1\n"
           "  File \"/testbed/ah_bootstrap.py\", line 53\n  ModuleNotFoundError: No module named 'pkg_resources'\n"
           "ERROR: Failed to build 'file:///testbed'\nRemoving intermediate container 30472d29ea3d")
    assert cause_line(log) == "ModuleNotFoundError: No module named 'pkg_resources'"
    assert cause_line("git fetch failed: remote: fatal: unable to read 4a48cb\nfatal: early EOF") == \
        "git fetch failed: remote: fatal: unable to read 4a48cb"
    assert cause_line("just one line") == "just one line"
