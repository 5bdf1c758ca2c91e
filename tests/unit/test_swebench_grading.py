"""SWE-bench grading without Docker: the apply chain, eval_type, environment faults told apart from agent
failures (`classify_eval_log`, pure) and the scoring rule built on them (`SweBenchScorer` over a fake
provider whose sandboxes answer the eval script with canned logs). The Docker path is tested elsewhere."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Callable

import pytest

from agentbench.protocols import ExecResult, Outcome, Sandbox, Task
from agentbench.scoring.swebench import (APPLY_COMMANDS, CLEAN_TREE, EVAL_PATH, LOG_PATH, PATCH_PATH, EnvFault,
                                         SweBenchScorer, SweTestSpec, classify_eval_log, collect_patch,
                                         make_test_spec, resolution_report, status_map, validate_instance)
from agentbench.suites.swebench import SweRow, task_from_row
from agentbench.swe_spec import EnvSpec

BASE = "a" * 40
TEST_PATCH = ("diff --git a/tests/test_core.py b/tests/test_core.py\n--- a/tests/test_core.py\n"
              "+++ b/tests/test_core.py\n@@ -1 +1,2 @@\n def test_b(): pass\n+def test_a(): pass\n")
GOLD = "diff --git a/pkg/core.py b/pkg/core.py\n--- a/pkg/core.py\n+++ b/pkg/core.py\n@@ -1 +1 @@\n-a\n+b\n"
MODEL = GOLD.replace("+b", "+c")
ROW = {"repo": "acme/widget", "instance_id": "acme__widget-1", "base_commit": BASE, "patch": GOLD,
       "test_patch": TEST_PATCH, "problem_statement": "widgets break", "version": "1.0",
       "FAIL_TO_PASS": ["tests/test_core.py::test_a"], "PASS_TO_PASS": ["tests/test_core.py::test_b"],
       "environment_setup_commit": "b" * 40}


def make_task(**extra) -> Task:
    return task_from_row(SweRow.model_validate({**ROW, **extra}), EnvSpec(install=["python -m pip install -e ."]),
                         "/mirror", "test")


def spec_of(task: Task | None = None) -> SweTestSpec:
    return make_test_spec((task or make_task()).swe)


def run_log(section: str, exit_code: int = 0, before: str = "") -> str:
    """An eval log as `bash eval.sh` writes it under `set -x` (a generated script, recording the exit code)."""
    return ("+ source /opt/miniconda3/bin/activate\n+ conda activate testbed\n+ cd /testbed\n+ git status\n"
            f"HEAD detached at aaaaaaa\n{before}+ git checkout {BASE} tests/test_core.py\n"
            "+ git apply -v -\nChecking patch tests/test_core.py...\nApplied patch tests/test_core.py cleanly.\n"
            "+ : '>>>>> Start Test Output'\n+ pytest -rA tests/test_core.py\n"
            f"{section}+ SWEBENCH_TEST_EXIT_CODE={exit_code}\n+ : '>>>>> End Test Output'\n"
            f"+ echo '>>>>> Test Exit Code: {exit_code}'\n>>>>> Test Exit Code: {exit_code}\n"
            f"+ git checkout {BASE} tests/test_core.py\nUpdated 1 path from 5f6e7d8\n")


def pytest_summary(*lines: str, tail: str = "") -> str:
    return ("============================= test session starts ==============================\n"
            "collected 2 items\n\ntests/test_core.py ..                                   [100%]\n\n"
            "=========================== short test summary info ============================\n"
            + "".join(f"{line}\n" for line in lines) + tail)


PASSING = run_log(pytest_summary("PASSED tests/test_core.py::test_a", "PASSED tests/test_core.py::test_b",
                                 tail="============================== 2 passed in 0.01s ==========\n"))
FAILING = run_log(pytest_summary("PASSED tests/test_core.py::test_b", "FAILED tests/test_core.py::test_a - assert 0",
                                 tail="========================= 1 failed, 1 passed in 0.02s =====\n"), exit_code=1)


def collection_error(error: str) -> str:
    return run_log("============================= test session starts ==============================\n"
                   "collected 0 items / 1 error\n\n"
                   "==================================== ERRORS ====================================\n"
                   "_____________________ ERROR collecting tests/test_core.py ______________________\n"
                   "ImportError while importing test module '/testbed/tests/test_core.py'.\n"
                   "Hint: make sure your test modules/packages have valid Python names.\nTraceback:\n"
                   "tests/test_core.py:1: in <module>\n    from pkg.core import helper\n"
                   f"E   {error}\n"
                   "=========================== short test summary info ============================\n"
                   "ERROR tests/test_core.py\n"
                   "!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!\n"
                   "=============================== 1 error in 0.05s ===============================\n",
                   exit_code=2)


NEW_NAME_MISSING = collection_error("ImportError: cannot import name 'helper' from 'pkg.core' (/testbed/pkg/core.py)")
NUMPY_MISSING = collection_error("ModuleNotFoundError: No module named 'numpy'")
NOT_FOUND = run_log("/tmp/agentbench-eval.sh: line 21: pytest: command not found\n", exit_code=127)


def classify(log: str, task: Task | None = None) -> EnvFault | None:
    return classify_eval_log(log, status_map(spec_of(task), log))


# --- classify_eval_log -------------------------------------------------------------------------------------

def test_tests_that_ran_show_no_fault():
    assert classify(PASSING) is None
    assert classify(FAILING) is None  # failing tests are the patch's business


def test_mentions_are_not_faults_when_tests_ran():
    named = run_log(pytest_summary("PASSED tests/test_core.py::test_a",
                                   "PASSED tests/test_core.py::test_raises_ModuleNotFoundError",
                                   "PASSED tests/test_core.py::test_b"))
    assert "ModuleNotFoundError" in named and classify(named) is None
    # a failing test printing pytest's own collection messages and a network error (pytest's own suite)
    noisy = run_log(pytest_summary(
        "PASSED tests/test_core.py::test_b", "FAILED tests/test_core.py::test_a - AssertionError",
        tail="----- Captured stdout call -----\n_____ ERROR collecting inner/test_x.py _____\n"
             "ImportError while importing test module '/tmp/inner/test_x.py'.\nCould not resolve host: pypi.org\n"
             "Killed\n"), exit_code=1)
    assert classify(noisy) is None
    # before the test output section (pip's own noise) nothing counts
    assert classify(run_log(PASSING.split("+ pytest -rA tests/test_core.py\n")[1].split("+ SWEBENCH")[0],
                            before="ModuleNotFoundError: No module named 'wheel'\nCannot allocate memory\n")) is None


def test_no_start_marker_means_the_tests_never_ran():
    fault = classify("+ source /opt/miniconda3/bin/activate\nbash: /opt/miniconda3/bin/activate: No such file\n")
    assert fault == EnvFault(reason="tests_not_run", tier="environment", detail=fault.detail)
    assert "No such file" in fault.detail
    hung = "+ python -m pip install -e .\n>>>>> Tests Timed Out\nTimeout error: 60 seconds exceeded.\n"
    assert (classify(hung).reason, classify(hung).tier) == ("tests_timed_out", "ambiguous")


def test_a_missing_test_command_is_the_environment():
    fault = classify(NOT_FOUND)
    assert (fault.reason, fault.tier) == ("test_command_not_found", "environment")
    assert "pytest: command not found" in fault.detail
    by_code = run_log("/usr/bin/env: 'python': No such file or directory\n", exit_code=127)
    assert (classify(by_code).reason, classify(by_code).tier) == ("test_command_not_found", "environment")


def test_command_not_found_inside_tests_that_ran_is_not_a_fault():
    log = run_log(pytest_summary("PASSED tests/test_core.py::test_b", "FAILED tests/test_core.py::test_a - boom",
                                 tail="bash: line 1: svn: command not found\n"), exit_code=1)
    assert classify(log) is None


@pytest.mark.parametrize("line,reason", [("Killed", "out_of_memory"),
                                         ("OSError: [Errno 12] Cannot allocate memory", "out_of_memory"),
                                         ("curl: (6) Could not resolve host: example.org", "network_unreachable")])
def test_environment_signatures(line, reason):
    fault = classify(run_log(f"collecting ...\n{line}\n", exit_code=1))
    assert (fault.reason, fault.tier) == (reason, "environment") and line in fault.detail


def test_collection_import_errors_are_ambiguous():
    for log, error in ((NEW_NAME_MISSING, "cannot import name 'helper'"), (NUMPY_MISSING, "No module named 'numpy'")):
        assert status_map(spec_of(), log) == {"tests/test_core.py": "ERROR"}
        fault = classify(log)
        assert (fault.reason, fault.tier) == ("collection_import_error", "ambiguous")
        assert "ImportError while importing test module" in fault.detail and error in fault.detail
    conftest = run_log("ImportError while loading conftest '/testbed/conftest.py'.\n"
                       "conftest.py:3: in <module>\n    import numpy\n"
                       "E   ModuleNotFoundError: No module named 'numpy'\n",
                       exit_code=4)
    assert classify(conftest).reason == "collection_import_error"


def test_ambiguous_signatures_and_no_results():
    sympy = run_log("Traceback (most recent call last):\n  File \"bin/test\", line 105, in <module>\n"
                    "ModuleNotFoundError: No module named 'mpmath'\n", exit_code=1)
    assert (classify(sympy).reason, classify(sympy).tier) == ("missing_module", "ambiguous")
    nothing = run_log("Segmentation fault (core dumped)\n", exit_code=139)
    fault = classify(nothing)
    assert (fault.reason, fault.tier) == ("no_test_results", "ambiguous") and "Segmentation fault" in fault.detail
    timed_out = run_log("tests/test_core.py ") + "\n>>>>> Tests Timed Out\nTimeout error: 60 seconds exceeded.\n"
    assert classify(timed_out.replace("+ : '>>>>> End Test Output'", "")).reason == "tests_timed_out"


def test_a_test_patch_that_does_not_apply():
    log = PASSING.replace("Applied patch tests/test_core.py cleanly.",
                          "error: patch failed: tests/test_core.py:1\nerror: tests/test_core.py: patch does not apply")
    fault = classify_eval_log(log, {"tests/test_core.py::test_b": "PASSED"})
    assert (fault.reason, fault.tier) == ("test_patch_not_applied", "ambiguous") and "patch failed" in fault.detail
    earlier = run_log(PASSING.split("+ pytest -rA tests/test_core.py\n")[1].split("+ SWEBENCH")[0],
                      before="error: subprocess-exited-with-error\n")
    assert classify(earlier) is None  # an error before the test patch is applied is not about it


# --- grading: eval_type -------------------------------------------------------------------------------------

def test_eval_type_reaches_the_official_report():
    log = run_log(pytest_summary("PASSED tests/test_core.py::test_b"))  # test_a absent from the log
    assert not resolution_report(spec_of(), MODEL, log)["resolved"]
    fail_only = spec_of(make_task(eval_type="fail_only"))  # the row's own eval_type
    assert fail_only.eval_type == "fail_only" and spec_of().eval_type == "pass_and_fail"
    assert resolution_report(fail_only, MODEL, log)["resolved"]  # fail-only: only a recorded failure fails
    by_repo = spec_of(make_task(repo="eslint/eslint"))  # graded fail-only by the official harness
    assert by_repo.eval_type == "fail_only" and resolution_report(by_repo, MODEL, log)["resolved"]


# --- the scorer over fake sandboxes ---------------------------------------------------------------------------

class FakeSandbox(Sandbox):
    """Files in a dict, every command recorded; `bash EVAL_PATH` writes the provider's canned log for the
    patch written to PATCH_PATH (None: no patch), the apply commands exit as the provider says."""

    workdir = "/testbed"

    def __init__(self, provider: FakeProvider) -> None:
        self.provider, self.files, self.calls = provider, {}, []

    async def exec(self, cmd: str, timeout: float | None = None, cwd: str | None = None) -> ExecResult:
        self.calls.append(cmd)
        patch = self.files.get(PATCH_PATH)
        if cmd == f"bash {EVAL_PATH} > {LOG_PATH} 2>&1":
            self.files[LOG_PATH] = self.provider.log(patch.decode() if patch is not None else None).encode()
            return ExecResult(exit_code=0, timed_out=self.provider.timed_out)
        for command in APPLY_COMMANDS:
            if cmd == f"{command} {PATCH_PATH}":
                return ExecResult(exit_code=0 if command in self.provider.applies else 1)
        if cmd.startswith("git add -A . && "):
            self.files[cmd.rsplit("> ", 1)[1]] = self.provider.diff.encode()
        return ExecResult(exit_code=0)

    async def read_file(self, path: str) -> bytes:
        return self.files[path]

    async def write_file(self, path: str, data: bytes) -> None:
        self.files[path] = data


class FakeProvider:
    name = "fake"

    def __init__(self, log: Callable[[str | None], str], applies: tuple[str, ...] = APPLY_COMMANDS[:1],
                 timed_out: bool = False, diff: str = "") -> None:
        self.log, self.applies, self.timed_out, self.diff = log, applies, timed_out, diff
        self.opened: list[FakeSandbox] = []

    def prepare(self, tasks: list[Task]) -> None: ...

    @asynccontextmanager
    async def open(self, task: Task):
        sandbox = FakeSandbox(self)
        self.opened.append(sandbox)
        await asyncio.sleep(0)  # let concurrent callers interleave
        yield sandbox

    async def aclose(self) -> None: ...

    def patches(self) -> list[str | None]:
        """What each sandbox was graded with: the patch written, or None for a bare run."""
        return [s.files[PATCH_PATH].decode() if PATCH_PATH in s.files else None for s in self.opened]


def logs(model: str, bare: str = FAILING, gold: str = PASSING) -> Callable[[str | None], str]:
    return lambda patch: {None: bare, GOLD: gold}.get(patch, model)


async def test_a_resolving_patch_passes_without_an_environment_check():
    provider = FakeProvider(logs(PASSING))
    score = await SweBenchScorer(provider).score(make_task(), Outcome(patch=MODEL))
    assert score.passed and score.value == 1.0 and score.details["report"]["resolution"] == "RESOLVED_FULL"
    assert score.details["tests_ran"] == 2 and score.details["env_fault"] is None and score.env_error is None
    assert score.details["applied_with"] == "git apply --verbose" and provider.patches() == [MODEL]
    script = provider.opened[0].files[EVAL_PATH].decode()
    assert script == spec_of().eval_script and "git apply -v - <<'EOF_114329324912'" in script


async def test_a_plain_failure_stays_a_failure():
    provider = FakeProvider(logs(FAILING))
    score = await SweBenchScorer(provider).score(make_task(), Outcome(patch=MODEL))
    assert not score.passed and score.details["env_fault"] is None and score.env_error is None
    assert "failure_reason" not in score.details and len(provider.opened) == 1


async def test_the_official_apply_chain_in_order_on_a_clean_tree():
    provider = FakeProvider(logs(PASSING), applies=())
    score = await SweBenchScorer(provider).score(make_task(), Outcome(patch=MODEL))
    assert not score.passed and score.details["failure_reason"] == "patch_does_not_apply"
    assert score.env_error is None and score.details["report"]["patch_successfully_applied"] is False
    assert provider.opened[0].calls == ["git apply --verbose /tmp/agentbench-model.patch", CLEAN_TREE,
                                        "git apply --verbose --reject /tmp/agentbench-model.patch", CLEAN_TREE,
                                        "patch --batch --fuzz=5 -p1 -i /tmp/agentbench-model.patch"]
    for applies in APPLY_COMMANDS[1:]:
        provider = FakeProvider(logs(PASSING), applies=(applies,))
        score = await SweBenchScorer(provider).score(make_task(), Outcome(patch=MODEL))
        assert score.passed and score.details["applied_with"] == applies


async def test_the_patch_is_applied_as_submitted():
    with_tests = MODEL + TEST_PATCH.replace("+def test_a", "+def test_mine")  # it edits a test file too
    provider = FakeProvider(lambda patch: PASSING)
    await SweBenchScorer(provider).score(make_task(), Outcome(patch=with_tests.rstrip("\n")))
    assert provider.patches() == [with_tests.rstrip("\n")]


async def test_collect_patch_is_the_whole_diff_less_caches():
    diff = MODEL + TEST_PATCH + "diff --git a/new.py b/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/new.py\n"
    provider = FakeProvider(lambda patch: PASSING, diff=diff)
    async with provider.open(make_task()) as sandbox:
        assert await collect_patch(sandbox, make_task()) == diff
    (command,) = sandbox.calls
    assert command.startswith("git add -A . && git -c core.fileMode=false diff --cached --no-color --text "
                              f"$(git rev-parse -q --verify refs/agentbench/env || echo {BASE}) -- . ")
    excludes = [p for p in command.split() if p.startswith("':(exclude")]
    assert excludes == ["':(exclude,glob)**/__pycache__/**'", "':(exclude,glob)**/*.pyc'",
                        "':(exclude,glob)**/.pytest_cache/**'", "':(exclude,glob)**/*.egg-info/**'"]


async def test_an_environment_fault_is_an_env_error_without_more_runs():
    provider = FakeProvider(logs(NOT_FOUND))
    score = await SweBenchScorer(provider).score(make_task(), Outcome(patch=MODEL))
    assert not score.passed and score.env_error is not None
    assert score.env_error == "test_command_not_found"
    assert score.details["env_fault"]["tier"] == "environment" and score.details["tests_ran"] == 0
    assert len(provider.opened) == 1


async def test_an_ambiguous_fault_on_a_sound_environment_is_the_patchs_failure():
    provider = FakeProvider(logs(NUMPY_MISSING, bare=FAILING))
    score = await SweBenchScorer(provider).score(make_task(), Outcome(patch=MODEL))
    assert not score.passed and score.env_error is None
    assert score.details["failure_reason"] == "patch_broke_tests: collection_import_error"
    assert score.details["env_check"] == {"ok": True, "reason": "", "tests_ran": 2, "detail": ""}
    assert provider.patches() == [MODEL, None]  # the bare run, no gold needed


async def test_an_ambiguous_fault_on_a_broken_environment_is_an_env_error():
    provider = FakeProvider(logs(NUMPY_MISSING, bare=NUMPY_MISSING, gold=NUMPY_MISSING))
    score = await SweBenchScorer(provider).score(make_task(), Outcome(patch=MODEL))
    assert not score.passed and score.env_error is not None
    assert score.env_error == "collection_import_error"
    check = score.details["env_check"]
    assert check["ok"] is False and "No module named 'numpy'" in check["detail"]
    assert provider.patches() == [MODEL, None, GOLD]


async def test_a_bare_run_failing_as_it_should_is_settled_by_the_gold_patch():
    """FAIL_TO_PASS in a test module importing what the fix adds: without a patch the module fails at
    collection, which looks like a broken environment until the gold patch resolves in it."""
    provider = FakeProvider(logs(NEW_NAME_MISSING, bare=NEW_NAME_MISSING, gold=PASSING))
    scorer = SweBenchScorer(provider)
    score = await scorer.score(make_task(), Outcome(patch=MODEL))
    assert score.env_error is None
    assert score.details["failure_reason"] == "patch_broke_tests: collection_import_error"
    assert score.details["env_check"]["ok"] and "the gold patch resolves" in score.details["env_check"]["detail"]
    no_gold = SweBenchScorer(FakeProvider(logs(NEW_NAME_MISSING, bare=NEW_NAME_MISSING)))
    check = await no_gold.check_environment(make_task(patch=""))  # nothing to settle it with: broken
    assert not check.ok and check.reason == "collection_import_error"


async def test_the_environment_check_runs_once_per_task():
    provider = FakeProvider(logs(NUMPY_MISSING, bare=FAILING))
    scorer = SweBenchScorer(provider)
    task = make_task()
    scores = await asyncio.gather(*(scorer.score(task, Outcome(patch=MODEL)) for _ in range(3)))
    assert all(s.details["failure_reason"].startswith("patch_broke_tests") for s in scores)
    await scorer.score(task, Outcome(patch=MODEL))
    assert provider.patches().count(None) == 1 and provider.patches().count(MODEL) == 4
    other = make_task(instance_id="acme__widget-2")
    assert (await scorer.check_environment(other)).ok and provider.patches().count(None) == 2


async def test_one_test_spec_per_task_made_once_and_every_run_reads_it():
    provider = FakeProvider(logs(NUMPY_MISSING, bare=NUMPY_MISSING, gold=PASSING))
    scorer, task = SweBenchScorer(provider), make_task()
    spec = scorer.test_spec(task)
    await scorer.score(task, Outcome(patch=MODEL))  # the model's run, the bare run, the gold run
    assert scorer.test_spec(task) is spec and len(provider.opened) == 3
    assert {s.files[EVAL_PATH].decode() for s in provider.opened} == {spec.eval_script}
    with pytest.raises(ValueError, match="not a SWE-bench instance"):
        scorer.test_spec(Task(id="q", kind="qa", prompt="?"))


async def test_check_environment_on_a_bare_environment():
    check = await SweBenchScorer(FakeProvider(logs(PASSING, bare=FAILING))).check_environment(make_task())
    assert check.ok and check.tests_ran == 2 and check.reason == ""
    check = await SweBenchScorer(FakeProvider(logs(PASSING, bare=NOT_FOUND))).check_environment(make_task())
    assert not check.ok and check.reason == "test_command_not_found" and check.tests_ran == 0


async def test_a_timeout_is_ambiguous():
    provider = FakeProvider(lambda patch: run_log("tests/test_core.py ").split("+ SWEBENCH")[0], timed_out=True)
    run = await SweBenchScorer(provider, eval_timeout_s=60).evaluate(make_task(), MODEL)
    assert "Timeout error: 60 seconds exceeded." in run.test_log
    assert run.fault.reason == "tests_timed_out" and run.fault.tier == "ambiguous"


async def test_an_empty_patch_is_a_failure():
    provider = FakeProvider(logs(PASSING))
    score = await SweBenchScorer(provider).score(make_task(), Outcome(patch="  \n"))
    assert not score.passed and score.details["report"]["patch_is_None"] and score.env_error is None
    assert provider.opened == []


async def test_validation_reports_the_environment():
    good = await validate_instance(SweBenchScorer(FakeProvider(logs(PASSING, bare=FAILING))), make_task())
    assert good.ok and good.env_ok and good.gold_resolves and good.empty_fails and good.detail == ""
    scorer = SweBenchScorer(provider := FakeProvider(logs(PASSING, bare=NOT_FOUND, gold=NOT_FOUND)))
    broken = await validate_instance(scorer, make_task())
    assert not broken.ok and not broken.env_ok and not broken.gold_resolves
    assert broken.detail.startswith("environment broken: test_command_not_found")
    assert not (await scorer.check_environment(make_task())).ok  # remembered: no more runs
    assert len(provider.opened) == 3  # the test-patch check, gold, bare
    only_env = await validate_instance(SweBenchScorer(FakeProvider(logs(PASSING, bare=NUMPY_MISSING,
                                                                       gold=PASSING))), make_task())
    assert only_env.env_ok and only_env.ok  # the gold patch settles the bare run's ambiguous fault
