"""SWE-bench grading, by the official harness's rules, in a fresh container from the task's image.

1. The patch of an attempt is `git diff` of the sandbox repo against the base commit (new files included),
   test files and caches excluded (`collect_patch`).
2. Grading opens a fresh sandbox (same image, same base commit), applies the model patch the way the
   official harness does (`git apply -v`, then `--3way`, then `patch --batch --fuzz=5 -p1`; a patch that is
   already applied counts), then runs the eval script — the row's own (SWE-bench 5.x) unchanged, or one
   made from the suite's recipe in the official shape: check out the test files, apply the test patch, run
   the tests between `>>>>> Start Test Output` / `>>>>> End Test Output`, record the test command's exit
   code, restore the test files.
3. The log is parsed by swebench's own log parsers and graded by its `get_eval_report` (FULL / PARTIAL /
   NO from `get_resolution_status`). A patch that does not apply is `failed`; an engine fault raises (the
   attempt becomes `error`). The test log travels in the score's details (kept as the `score` event).
"""

from __future__ import annotations

import re
import shlex
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentbench.protocols import Outcome, Sandbox, SandboxProvider, Score, Task
from agentbench.suites.swebench import TESTBED, patch_files

APPLY_COMMANDS = ("git apply --verbose", "git apply --verbose --3way", "patch --batch --forward --fuzz=5 -p1 -i")
PATCH_PATH = "/tmp/agentbench-model.patch"
EVAL_PATH = "/tmp/agentbench-eval.sh"
LOG_PATH = "/tmp/agentbench-eval.log"
HEREDOC = "EOF_114329324912"  # the delimiter SWE-bench's eval scripts use
MAX_LOG_CHARS = 200_000
_TEST_PATH = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*\.py$|_tests?\.py$|(^|/)conftest\.py$")
_CACHE_EXCLUDES = ("':(exclude,glob)**/__pycache__/**'", "':(exclude,glob)**/*.pyc'",
                   "':(exclude,glob).pytest_cache/**'", "':(exclude,glob)**/*.egg-info/**'")


def is_test_path(path: str) -> bool:
    """SWE-bench's notion of a test file: under a tests/testing folder, test_*.py, *_test(s).py, conftest.py."""
    return bool(_TEST_PATH.search(path))


def split_diff(diff: str) -> list[tuple[str, str]]:
    """(path, section) for every `diff --git` section of a unified diff."""
    sections = re.split(r"(?m)^(?=diff --git )", diff)
    out = []
    for section in sections:
        if not section.startswith("diff --git "):
            continue
        files = patch_files(section.splitlines()[0] + "\n")
        out.append((files[0] if files else "", section))
    return out


def strip_test_files(diff: str) -> str:
    """The diff without its sections on test files (the model's patch must not change the tests)."""
    return "".join(section for path, section in split_diff(diff) if not is_test_path(path))


async def collect_patch(sandbox: Sandbox, task: Task) -> str:
    """The attempt's patch: every change in the repo since the base commit, test files excluded."""
    base = shlex.quote(task.inputs.base_commit or "HEAD")
    out = "/tmp/agentbench-diff.patch"
    result = await sandbox.exec(
        f"git add -A . && git -c core.fileMode=false diff --cached --no-color --text {base} -- . "
        f"{' '.join(_CACHE_EXCLUDES)} > {out}", cwd=TESTBED, timeout=120)
    if result.exit_code != 0:
        raise RuntimeError(f"git diff in the sandbox failed ({result.exit_code}): {result.stderr.strip()[-500:]}")
    return strip_test_files((await sandbox.read_file(out)).decode("utf-8", errors="replace"))


def make_eval_script(task: Task) -> str:
    """The row's eval_script unchanged, or one in the official shape made from the suite's recipe."""
    from swebench.harness.utils import record_test_exit_code

    meta = task.metadata
    if meta.get("eval_script"):
        return str(meta["eval_script"])
    base = shlex.quote(task.inputs.base_commit or "HEAD")
    test_files = " ".join(shlex.quote(f) for f in patch_files(meta.get("test_patch", "")))
    directives = " ".join(shlex.quote(d) for d in meta.get("test_directives") or [])
    body = [
        "source /opt/miniconda3/bin/activate", "conda activate testbed", f"cd {TESTBED}",
        "git status", "git show --stat HEAD", f"git -c core.fileMode=false diff {base}",
        f"git checkout {base} {test_files}" if test_files else "true",
        f"git apply -v - <<'{HEREDOC}'\n{meta.get('test_patch', '')}\n{HEREDOC}",
        ": '>>>>> Start Test Output'", f"{meta.get('test_cmd', 'pytest -rA')} {directives}".strip(),
        ": '>>>>> End Test Output'",
        f"git checkout {base} {test_files}" if test_files else "true",
    ]
    return "\n".join(["#!/bin/bash", "set -uxo pipefail", *record_test_exit_code(body)]) + "\n"


def resolution_report(task: Task, patch: str | None, log: str, model_name: str = "agentbench") -> dict[str, Any]:
    """swebench's get_eval_report over the log: the official per-instance report (pure, apart from the
    temp file the official function reads the log from)."""
    from swebench.harness.grading import get_eval_report, get_resolution_status
    from swebench.types import TestSpec

    spec = TestSpec(instance_id=task.id, image="", eval_script_list=[], repo=task.metadata.get("repo", ""),
                    version=str(task.metadata.get("version", "")), FAIL_TO_PASS=task.expected.fail_to_pass,
                    PASS_TO_PASS=task.expected.pass_to_pass,
                    log_parser=task.metadata.get("log_parser") or "parse_log_pytest", eval_type="pass_and_fail")
    prediction = {"instance_id": task.id, "model_name_or_path": model_name, "model_patch": patch}
    with tempfile.NamedTemporaryFile("w", suffix=".log", encoding="utf-8") as fh:
        fh.write(log)
        fh.flush()
        report = get_eval_report(spec, prediction, fh.name, include_tests_status=True)[task.id]
    status = report.get("tests_status")
    report["resolution"] = get_resolution_status(status) if status else "RESOLVED_NO"
    return report


def _clip(text: str) -> str:
    if len(text) <= MAX_LOG_CHARS:
        return text
    half = MAX_LOG_CHARS // 2
    return text[:half] + f"\n[... agentbench: {len(text) - 2 * half} chars of the test log dropped ...]\n" + text[-half:]


class SweBenchScorer:
    """Grades a patch in a fresh sandbox from `provider` (the run's, so the same image and isolation)."""

    def __init__(self, provider: SandboxProvider, eval_timeout_s: float = 1800.0) -> None:
        self._provider = provider
        self._eval_timeout_s = eval_timeout_s

    async def score(self, task: Task, outcome: Outcome) -> Score:
        patch = outcome.patch if outcome.patch and outcome.patch.strip() else None
        if patch is None:  # nothing to grade: the official report's patch_is_None
            report = {"patch_is_None": True, "patch_exists": False, "patch_successfully_applied": False,
                      "resolved": False, "resolution": "RESOLVED_NO"}
            return Score(passed=False, details={"report": report, "test_log": ""})
        return await self.evaluate(task, patch)

    async def evaluate(self, task: Task, patch: str | None) -> Score:
        """Apply `patch` (None: run the tests on the base commit as it is), run the eval script, grade."""
        async with self._provider.open(task) as sandbox:
            applied_with = "no patch"
            if patch is not None:
                applied_with = await apply_patch(sandbox, patch)
                if applied_with is None:
                    report = {"patch_is_None": False, "patch_exists": True, "patch_successfully_applied": False,
                              "resolved": False, "resolution": "RESOLVED_NO"}
                    return Score(passed=False, details={"report": report, "test_log": ">>>>> Patch Apply Failed"})
            await sandbox.write_file(EVAL_PATH, make_eval_script(task).encode())
            run = await sandbox.exec(f"bash {EVAL_PATH} > {LOG_PATH} 2>&1", cwd=TESTBED, timeout=self._eval_timeout_s)
            log = (await sandbox.read_file(LOG_PATH)).decode("utf-8", errors="replace")
            if run.timed_out:
                log += "\n>>>>> Tests Timed Out\n"
        report = resolution_report(task, patch if patch is not None else "", log)
        f2p = report.get("tests_status", {}).get("FAIL_TO_PASS", {})
        total = len(f2p.get("success", [])) + len(f2p.get("failure", []))
        value = len(f2p.get("success", [])) / total if total else float(report["resolved"])
        return Score(passed=bool(report["resolved"]), value=value,
                     details={"report": report, "applied_with": applied_with, "test_log": _clip(log)})

    async def test_patch_applies(self, task: Task) -> bool:
        async with self._provider.open(task) as sandbox:
            await sandbox.write_file(PATCH_PATH, task.metadata.get("test_patch", "").encode())
            return (await sandbox.exec(f"git apply --check {PATCH_PATH}", cwd=TESTBED, timeout=120)).exit_code == 0


class Validation(BaseModel):
    """`agentbench tasks validate`: the suite's own proof of one instance."""

    instance_id: str
    test_patch_applies: bool
    gold_resolves: bool
    empty_fails: bool
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.test_patch_applies and self.gold_resolves and self.empty_fails


async def validate_instance(scorer: SweBenchScorer, task: Task) -> Validation:
    applies = await scorer.test_patch_applies(task)
    gold = await scorer.evaluate(task, task.metadata.get("patch") or "")
    empty = await scorer.evaluate(task, None)
    detail = ""
    if not gold.passed:
        status = gold.details.get("report", {}).get("tests_status", {})
        detail = f"gold patch: {gold.details['report'].get('resolution')} {status}"[:2000]
    elif empty.passed:
        detail = "the tests pass without any patch: FAIL_TO_PASS is wrong"
    return Validation(instance_id=task.id, test_patch_applies=applies, gold_resolves=gold.passed,
                      empty_fails=not empty.passed, detail=detail)


async def apply_patch(sandbox: Sandbox, patch: str) -> str | None:
    """Apply like the official harness; returns the command that worked, or None when none did."""
    await sandbox.write_file(PATCH_PATH, (patch if patch.endswith("\n") else patch + "\n").encode())
    for i, command in enumerate(APPLY_COMMANDS):
        if i:  # a failed try can leave partial state: start again from a clean tree
            await sandbox.exec("git checkout -- . && git clean -fdq", cwd=TESTBED, timeout=120)
        if (await sandbox.exec(f"{command} {PATCH_PATH}", cwd=TESTBED, timeout=120)).exit_code == 0:
            return command
    if (await sandbox.exec(f"git apply --check --reverse {PATCH_PATH}", cwd=TESTBED, timeout=120)).exit_code == 0:
        return "already applied"
    return None
