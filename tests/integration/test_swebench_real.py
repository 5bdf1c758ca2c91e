"""Official SWE-bench rows out of the box, and environment faults kept apart from agent failures.

Real Docker, real git, real pip: swe-lite holds four SWE-bench Lite rows exactly as published (no specs
file: the built-in recipes build them) with shallow mirrors; the fault cases bend a copy of swe-mini
(a recipe that cannot build, a Python no Debian release has, a test command that does not exist)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agentbench.sandbox.network import machine_has_network
from agentbench.store import RunStore

from .conftest import ROOT, run_cli

pytestmark = pytest.mark.integration

LITE = str(ROOT / "experiments" / "swe-lite.yaml")
MINI = str(ROOT / "experiments" / "swe-mini.yaml")
STALL = str(ROOT / "tests" / "integration" / "graphs" / "fix_then_stall.py") + ":build_graph"


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _mini_copy(tmp_path: Path, edit) -> Path:
    """A copy of swe-mini whose specs.yaml `edit(specs)` changes."""
    suite = tmp_path / "suite"
    shutil.copytree(ROOT / "tasks" / "swe-mini", suite, ignore=shutil.ignore_patterns("src", "__pycache__"))
    specs = yaml.safe_load((suite / "specs.yaml").read_text())
    edit(specs)
    (suite / "specs.yaml").write_text(yaml.safe_dump(specs))
    return suite


def test_official_rows_validate_with_built_in_recipes():
    proc = run_cli("tasks", "validate", "swe-lite", timeout=3600)
    assert "4 valid, 0 invalid" in proc.stdout, proc.stdout[-4000:]


def test_the_validation_campaign_on_real_rows_writes_data_and_resumes(tmp_path):
    """CI's real subset of the campaign (bench/swe_validate.py): swe-lite's rows, one per (repo, version), with
    the built-in recipes (images cached by the test above); a second run resumes: nothing run again."""
    lite = ROOT / "tasks" / "swe-lite"
    out, md, readme = tmp_path / "v.csv", tmp_path / "v.md", tmp_path / "README.md"
    cmd = [sys.executable, str(ROOT / "bench" / "swe_validate.py"), "--data", f"lite_test={lite / 'instances.jsonl'}",
           "--mirrors", str(lite / "mirrors"), "--out", str(out), "--log", str(tmp_path / "build.log")]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=ROOT)
    assert first.returncode == 0, first.stderr[-4000:]
    rows = list(csv.DictReader(out.open()))
    assert {(r["repo"], r["version"]) for r in rows} == {("pylint-dev/pylint", "2.15"), ("sympy/sympy", "1.1")}
    assert all(r["valid"] == "true" and r["python"] == "3.9" and float(r["grade_s"]) > 0 for r in rows), rows
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert again.returncode == 0 and list(csv.DictReader(out.open())) == rows, again.stderr[-2000:]
    readme.write_text("x\n<!-- swebench-validation:start -->\n<!-- swebench-validation:end -->\n")
    summary = subprocess.run([*cmd[:2], "--summarize", "--out", str(out), "--md", str(md), "--readme", str(readme)],
                             capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert summary.returncode == 0, summary.stderr[-2000:]
    assert "pylint-dev/pylint" in md.read_text() and "sympy/sympy" in readme.read_text()


def test_official_rows_oracle_resolves_all_and_null_none(tmp_path):
    for graph, rate in (("oracle", 1.0), ("null", 0.0)):
        out = tmp_path / graph
        run_cli("run", LITE, "--out", str(out), "--quiet", "--set", f"graph={graph}", timeout=3600)
        summary = _summary(out)
        assert summary["attempts"] == 4 and summary["error"] == 0, summary["errors"]
        assert summary["completion_rate"] == rate, (graph, summary["per_task"])
        if graph == "oracle":  # graded by swebench's own report, as the leaderboard does
            for task in summary["per_task"]:
                report = json.loads((out / "swebench" / task["task_id"] / "report.json").read_text())
                assert report[task["task_id"]]["resolved"] is True


def test_a_failed_build_is_error_for_its_task_and_the_run_goes_on(tmp_path):
    def edit(specs):
        specs["agentbench-fixtures/moneta"]["1.0"]["pip_packages"] = ["agentbench-no-such-package==0.0.0"]

    suite = _mini_copy(tmp_path, edit)
    out = tmp_path / "run"
    proc = run_cli("run", MINI, "--out", str(out), "--quiet", "--set", "graph=oracle", "--set", f"suite.name={suite}",
                   "--set", "suite.ids=[agentbench-fixtures__moneta-5,agentbench-fixtures__semver-7]", timeout=1800)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    summary = _summary(out)
    by_task = {t["task_id"]: t for t in summary["per_task"]}
    assert by_task["agentbench-fixtures__semver-7"]["solved"] == 1
    assert summary["error"] == 1 and summary["environment_errors"] == 1
    (error,) = summary["errors"]
    assert error["task_id"] == "agentbench-fixtures__moneta-5"
    assert error["error"].startswith("environment:") and "agentbench-no-such-package" in error["error"], error
    # the build log's tail is the attempt's error, and `show` prints it
    assert "lines of the build log:\n  | " in error["error"], error
    tail_line = error["error"].split("\n")[-1].removeprefix("  | ")
    shown = run_cli("show", str(out), "agentbench-fixtures__moneta-5").stdout
    assert "lines of the build log:" in shown and tail_line.strip()[:60] in shown, shown[-3000:]


def test_a_python_no_debian_has_is_error_before_any_model_call(tmp_path):
    def edit(specs):
        specs["agentbench-fixtures/semver"]["1.0"].pop("debian", None)
        specs["agentbench-fixtures/semver"]["1.0"]["python"] = "3.6"

    suite = _mini_copy(tmp_path, edit)
    out = tmp_path / "run"
    proc = run_cli("run", MINI, "--out", str(out), "--quiet", "--set", "graph=oracle", "--set",
                   f"suite.name={suite}", "--set", "suite.ids=[agentbench-fixtures__semver-7]", timeout=900, check=False)
    assert proc.returncode == 1 and "no attempt could be scored" in proc.stderr  # all `error`: the run failed
    summary = _summary(out)
    assert summary["error"] == 1 and summary["failed"] == 0, summary
    reason = summary["errors"][0]["error"]
    assert "Python 3.6 is in no Debian release" in reason and "swe_python: conda" in reason and "\n" not in reason
    store = RunStore(out / "run.sqlite")
    attempt_id, _ = store.find_attempt("agentbench-fixtures__semver-7", 0)
    assert [e.type for e in store.events(attempt_id)] == ["attempt_start", "error", "attempt_end"]
    store.close()


@pytest.mark.parametrize("env_check", ["tests", "off"])  # found before the run / when the attempt is graded
def test_an_environment_that_cannot_run_its_tests_is_error_not_failed(tmp_path, env_check):
    def edit(specs):
        specs["agentbench-fixtures/datespan"]["1.0"]["test_cmd"] = "agentbench-no-such-test-runner -rA"

    suite = _mini_copy(tmp_path, edit)
    out = tmp_path / "run"
    task_id = "agentbench-fixtures__datespan-9"
    proc = run_cli("run", MINI, "--out", str(out), "--quiet", "--set", "graph=oracle", "--set",
                   f"suite.name={suite}", "--set", f"suite.ids=[{task_id}]", "--set", f"run.env_check={env_check}",
                   timeout=900, check=False)
    assert proc.returncode == 1 and "environment 1" in proc.stderr  # all `error`: the run failed
    summary = _summary(out)
    assert summary["error"] == 1 and summary["failed"] == 0 and summary["solved"] == 0, summary
    assert summary["environment_errors"] == 1, summary["errors"]
    # the end of the log that showed the fault is kept with the attempt, and `show` prints it
    missing = "agentbench-no-such-test-runner: command not found"
    store = RunStore(out / "run.sqlite")
    _, record = store.find_attempt(task_id, 0)
    store.close()
    if env_check == "tests":  # the check before the run: the attempt's error says why, then the tail
        assert record.error.startswith("environment: test_command_not_found: ") and record.score is None
        kept = record.error
        assert "lines of the test log without a patch:\n" in kept
    else:  # graded: the score keeps it, the error names the reason
        assert record.error == "environment: test_command_not_found" and record.score.env_error
        kept = record.score.details["env_log_tail"]
        assert kept.startswith("last ") and " lines of the test log:\n" in kept
        assert record.score.details["grading_network"] is machine_has_network()  # sandbox.grading_network: auto
    assert any(line.startswith("  | ") and missing in line for line in kept.split("\n")), kept
    shown = run_cli("show", str(out), task_id).stdout
    assert missing in shown and "lines of the test log" in shown, shown[-3000:]


@pytest.mark.parametrize("on_limit,wrong,status,graded", [
    ("grade", False, "solved", {"graded": 1, "resolved": 1}),
    ("grade", True, "limit", {"graded": 1, "resolved": 0}),
    ("discard", False, "limit", {"graded": 0, "resolved": 0}),
])
def test_the_work_left_at_a_limit_is_graded(tmp_path, on_limit, wrong, status, graded):
    out = tmp_path / "run"
    run_cli("run", MINI, "--out", str(out), "--quiet", "--set", f"graph={STALL}", "--set", "suite.ids=[agentbench-fixtures__semver-7]",
            "--set", "limits.timeout_s=20", "--set", f"limits.on_limit={on_limit}",
            "--set", f"graph_params.wrong={str(wrong).lower()}", "--set", "run.env_check=off", timeout=900)
    summary = _summary(out)
    assert summary[status] == 1, summary
    assert summary["limit_graded"] == graded


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_stage_repo_takes_one_commit_from_a_full_mirror_and_from_a_bundle(tmp_path):
    from agentbench.sandbox.swe_images import stage_repo

    work = tmp_path / "work"
    work.mkdir()
    _git("init", "-q", cwd=work)
    shas = []
    for i in range(3):
        (work / "f.txt").write_text(f"version {i}\n" * 200)
        _git("add", "f.txt", cwd=work)
        _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", f"c{i}", cwd=work)
        shas.append(_git("rev-parse", "HEAD", cwd=work))
    bare = tmp_path / "mirror.git"
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    staged = tmp_path / "staged"
    stage_repo(str(bare), shas[1], staged)
    assert _git("rev-parse", "HEAD", cwd=staged) == shas[1]
    assert _git("rev-parse", "--is-shallow-repository", cwd=staged) == "true"
    assert _git("rev-list", "--count", "--all", cwd=staged) == "1"  # nothing after (or before) the commit
    assert (staged / "f.txt").read_text().startswith("version 1")

    bundle = tmp_path / "repo.bundle"
    _git("bundle", "create", str(bundle), "--all", cwd=work)
    from_bundle = tmp_path / "from-bundle"
    stage_repo(str(bundle), shas[0], from_bundle, bare=True)
    assert _git("rev-parse", "refs/agentbench/commit", cwd=from_bundle) == shas[0]


def test_an_official_image_from_a_registry_runs_the_row(tmp_path, docker_client):
    """The pull path end to end: the row's environment pushed to a real registry on loopback under the
    row's official `image` name, removed here, then a run with `swe_images: pull` pulls it and resolves."""
    from agentbench.sandbox.official_images import push_image, qualified
    from agentbench.sandbox.swe_images import EnvSettings, ensure_env_image
    from agentbench.suites.loader import load_suite
    from agentbench.testing.loopback_registry import loopback_registry

    _, tasks = load_suite("swe-lite")
    task = next(t for t in tasks if t.id == "sympy__sympy-13480")
    built = ensure_env_image(docker_client, task.swe, EnvSettings(images="build"), log=lambda _: None)
    with loopback_registry(tmp_path / "registry") as registry:
        official = task.swe.image
        pulled = qualified(official, registry)
        push_image(docker_client, built, registry, official)
        docker_client.images.remove(pulled, force=True)
        assert not [i for i in docker_client.images.list() if pulled in i.tags]
        out = tmp_path / "run"
        run_cli("run", LITE, "--out", str(out), "--quiet", "--set", "graph=oracle", "--set",
                "suite.ids=[sympy__sympy-13480]", "--set", "sandbox.swe_images=pull",
                "--set", f"sandbox.swe_registry={registry}", timeout=1800)
        summary = _summary(out)
        assert summary["solved"] == 1 and summary["error"] == 0, summary["errors"]
        assert docker_client.images.get(pulled).id == docker_client.images.get(built).id  # it came back by pull
        docker_client.images.remove(pulled, force=True)
    # no registry now: `pull` cannot work, and says so as the task's error (the run finishes, and exits 1:
    # nothing could be scored)
    out = tmp_path / "run-down"
    proc = run_cli("run", LITE, "--out", str(out), "--quiet", "--set", "graph=oracle", "--set",
                   "suite.ids=[sympy__sympy-13480]", "--set", "sandbox.swe_images=pull",
                   "--set", f"sandbox.swe_registry={registry}", timeout=900, check=False)
    assert proc.returncode == 1 and "no attempt could be scored" in proc.stderr
    summary = _summary(out)
    assert summary["error"] == 1 and "pulling image" in summary["errors"][0]["error"], summary["errors"]
