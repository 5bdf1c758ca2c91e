"""SWE-bench grading, by the official harness's rules, in a fresh container from the task's image.

1. The patch of an attempt is `git diff` of the sandbox repo against the environment's commit (ENV_REF:
   the base commit plus the build's own edits; the base commit in an image without it), new files
   included, caches excluded (`collect_patch`); it is graded as submitted, test files included (the eval
   script puts the test patch's files back before applying the test patch, as the official one does).
2. Grading opens a fresh sandbox (same image, same reset to ENV_REF), applies the patch with the official chain
   (`git apply --verbose`, then `--reject`, then `patch --batch --fuzz=5 -p1 -i`, each on a clean tree),
   then runs `make_eval_script(task)` (see `swebench_eval`).
3. The log is parsed by swebench's own log parsers and graded by its `get_eval_report` (FULL / PARTIAL /
   NO from `get_resolution_status`), with the row's `eval_type`. A patch that does not apply is `failed`;
   an engine fault raises (the attempt becomes `error`).
4. An unresolved run is checked for environment faults (`classify_eval_log`). An `environment` fault sets
   `details["env_error"]`; an `ambiguous` one is settled by `check_environment`, the tests run without the
   model's patch: a broken environment sets `env_error`, a sound one makes it the patch's failure
   (`details["failure_reason"] = "patch_broke_tests: ..."`). `Score.env_error` carries the reason
   (`details["env_error_reason"]`, kept with `details["env_error"]` for reports); the attempt then becomes
   `error`. The end of the log that decided it is kept with the attempt: `details["env_log_tail"]`
   (`last N lines of the test log[ without a patch]:` then the lines, as an image build error shows its
   build log's tail); `EnvCheck.explained()` is the same for the check made before any attempt.
5. Grading sandboxes may have the network the agent's never has: a provider with `open_grading` (the
   Docker one, `sandbox.grading_network`) opens them; `details["grading_network"]` records whether the
   grading sandbox had a network.
6. The stored test log (`details["test_log"]`) keeps at most DUMP_MAX_LINES of each `git show` / `git
   diff` dump (`swebench_eval.stored_log`) and then MAX_LOG_CHARS; grading read the whole log.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import tempfile
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from agentbench.protocols import FileTooLargeError, Outcome, Sandbox, SandboxProvider, Score, Task
from agentbench.scoring.swebench_eval import (TIMED_OUT, EnvFault, classify_eval_log, log_tail, make_eval_script,
                                              stored_log, tail_block)
from agentbench.swebench_layout import ENV_REF, TESTBED, patch_files

__all__ = ["APPLY_COMMANDS", "EnvCheck", "EnvFault", "GradingSandboxes", "SweBenchScorer", "Validation", "apply_patch",
           "classify_eval_log", "collect_patch", "judge_environment", "make_eval_script", "resolution_report",
           "split_diff", "status_map", "validate_instance"]

APPLY_COMMANDS = ("git apply --verbose", "git apply --verbose --reject", "patch --batch --fuzz=5 -p1 -i")
CLEAN_TREE = "git checkout -- . ; git clean -fdq"
PATCH_PATH = "/tmp/agentbench-model.patch"
EVAL_PATH = "/tmp/agentbench-eval.sh"
LOG_PATH = "/tmp/agentbench-eval.log"
MAX_LOG_CHARS = 200_000
_CACHE_EXCLUDES = ("':(exclude,glob)**/__pycache__/**'", "':(exclude,glob)**/*.pyc'",
                   "':(exclude,glob)**/.pytest_cache/**'", "':(exclude,glob)**/*.egg-info/**'")


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


async def collect_patch(sandbox: Sandbox, task: Task) -> str:
    """The attempt's patch: every change in the repo since the sandbox's reset (ENV_REF, the state the
    build left; the base commit in an image without it), new files included, caches excluded; nothing else
    is taken out. Grading applies it on the same state."""
    base = f"$(git rev-parse -q --verify {ENV_REF} || echo {shlex.quote(task.inputs.base_commit or 'HEAD')})"
    out = "/tmp/agentbench-diff.patch"
    result = await sandbox.exec(
        f"git add -A . && git -c core.fileMode=false diff --cached --no-color --text {base} -- . "
        f"{' '.join(_CACHE_EXCLUDES)} > {out}", cwd=TESTBED, timeout=120)
    if result.exit_code != 0:
        raise RuntimeError(f"git diff in the sandbox failed ({result.exit_code}): {result.stderr.strip()[-500:]}")
    return (await sandbox.read_file(out)).decode("utf-8", errors="replace")


async def apply_patch(sandbox: Sandbox, patch: str) -> str | None:
    """Apply the patch as submitted with the official chain; the command that worked, or None."""
    await sandbox.write_file(PATCH_PATH, patch.encode())
    for i, command in enumerate(APPLY_COMMANDS):
        if i:  # a failed try (notably --reject) leaves partial state: start again from a clean tree
            await sandbox.exec(CLEAN_TREE, cwd=TESTBED, timeout=120)
        if (await sandbox.exec(f"{command} {PATCH_PATH}", cwd=TESTBED, timeout=120)).exit_code == 0:
            return command
    return None


def _test_spec(task: Task) -> Any:
    from swebench.types import TestSpec

    meta = task.metadata
    return TestSpec(instance_id=task.id, image="", eval_script_list=[], repo=meta.get("repo", ""),
                    version=str(meta.get("version", "")), FAIL_TO_PASS=task.expected.fail_to_pass,
                    PASS_TO_PASS=task.expected.pass_to_pass, log_parser=meta.get("log_parser") or "parse_log_pytest",
                    eval_type=meta.get("eval_type") or "pass_and_fail")


def _graded(task: Task, log: str, patch: str | None, report: bool = True) -> tuple[dict[str, str], dict[str, Any]]:
    """(get_logs_eval's status map, get_eval_report's report for `patch` plus `resolution`; {} without
    `report`), from one temporary copy of the log (the official functions read files)."""
    from swebench.harness.grading import get_eval_report, get_logs_eval, get_resolution_status

    spec = _test_spec(task)
    with tempfile.NamedTemporaryFile("w", suffix=".log", encoding="utf-8") as fh:
        fh.write(log)
        fh.flush()
        status = get_logs_eval(spec, fh.name)[0]
        if not report:
            return status, {}
        prediction = {"instance_id": task.id, "model_name_or_path": "agentbench", "model_patch": patch}
        graded = get_eval_report(spec, prediction, fh.name, include_tests_status=True)[task.id]
    tests = graded.get("tests_status")
    graded["resolution"] = get_resolution_status(tests) if tests else "RESOLVED_NO"
    return status, graded


def status_map(task: Task, log: str) -> dict[str, str]:
    """The test statuses swebench's get_logs_eval reads from the log ({} when the run is not valid)."""
    return _graded(task, log, None, report=False)[0]


def resolution_report(task: Task, patch: str | None, log: str) -> dict[str, Any]:
    """swebench's get_eval_report over the log (the row's log parser and eval_type), plus `resolution`
    (get_resolution_status: RESOLVED_FULL / PARTIAL / NO)."""
    return _graded(task, log, patch)[1]


async def read_eval_log(sandbox: Sandbox) -> tuple[str, int]:
    """The eval log and how many of its bytes were left out: all of it when it fits the sandbox's read cap
    (`sandbox.max_read_bytes`); past it, its first quarter-cap and its last bytes up to the cap, cut in the
    sandbox (the test patch's "Applied patch" lines sit near the head, the test output at the end), so no
    more than the cap ever reaches this process, however much a patch makes the tests print."""
    try:
        return (await sandbox.read_file(LOG_PATH)).decode("utf-8", errors="replace"), 0
    except FileTooLargeError as exc:
        head, tail = exc.limit // 4, exc.limit - exc.limit // 4 - 256
        size = exc.size or 0
        marker = f"\n[... agentbench: {max(size - head - tail, 0)} bytes of the eval log left out ...]\n"
        cut = (f"{{ head -c {head} {LOG_PATH}; printf %s {shlex.quote(marker)}; tail -c {tail} {LOG_PATH}; }} "
               f"> {LOG_PATH}.cut")
        result = await sandbox.exec(cut, cwd="/tmp", timeout=120)
        if result.exit_code != 0:
            raise RuntimeError(f"cutting the eval log ({size} bytes) failed: {result.stderr.strip()[-300:]}") from exc
        text = (await sandbox.read_file(f"{LOG_PATH}.cut")).decode("utf-8", errors="replace")
        return text, max(size - head - tail, 0)


def _clip(text: str) -> str:
    """The test log as stored: each `git show` / `git diff` dump cut (stored_log), then at most
    MAX_LOG_CHARS characters, its head and tail halves."""
    from agentbench.text import clip  # here, not at the top: this module's imports are being reworked

    return clip(stored_log(text), MAX_LOG_CHARS,
                marker="\n[... agentbench: {dropped} chars of the test log dropped ...]\n")


@runtime_checkable
class GradingSandboxes(Protocol):
    """A provider whose grading sandboxes differ from the agent's (the Docker one: they get a network
    where `sandbox.grading_network` allows it; the agent's never does)."""

    def open_grading(self, task: Task) -> AbstractAsyncContextManager[Sandbox]:
        ...

    def grading_has_network(self) -> bool:
        ...


def _unapplied(reason: str, patch_is_none: bool) -> Score:
    report = {"patch_is_None": patch_is_none, "patch_exists": not patch_is_none, "patch_successfully_applied": False,
              "resolved": False, "resolution": "RESOLVED_NO"}
    return Score(passed=False, details={"report": report, "applied_with": None, "test_log": "" if patch_is_none
                                        else ">>>>> Patch Apply Failed", "tests_ran": 0, "env_fault": None,
                                        "env_error": False, "failure_reason": reason})


class EnvCheck(BaseModel):
    """Whether the task's environment runs its tests (the eval script without the model's patch)."""

    ok: bool
    reason: str = ""
    tests_ran: int
    detail: str = ""
    log_tail: str = Field("", description="a broken environment: the end of the log without a patch, as "
                                          "`last N lines of the test log without a patch:` and the lines")

    def explained(self) -> str:
        """Why the environment is broken, on one line, then the log's tail on the lines below ("" when it is
        sound): what the attempts of a task whose environment failed the check before the run carry."""
        if self.ok:
            return ""
        why = " ".join((self.detail or self.reason or "the environment does not run the tests").split())
        return why + ("\n" + self.log_tail if self.log_tail else "")


def judge_environment(bare: Score, gold: Score | None = None) -> EnvCheck:
    """The verdict on a run without the model's patch (`bare`): sound iff it shows no fault. An ambiguous
    fault there is a broken environment, unless the gold patch resolves the task in the same environment
    (`gold`): then the fault is the FAIL_TO_PASS tests failing as they should (say, a test module importing
    the function the fix adds fails at collection)."""
    fault = bare.details.get("env_fault")
    ran = int(bare.details.get("tests_ran", 0))
    if not fault:
        return EnvCheck(ok=True, tests_ran=ran)
    what = f"{fault['reason']}: {fault['detail']}"
    if fault["tier"] == "ambiguous" and gold is not None and gold.passed:
        return EnvCheck(ok=True, tests_ran=ran, detail=f"without a patch {what}; the gold patch resolves")
    return EnvCheck(ok=False, reason=fault["reason"], tests_ran=ran, detail=what,
                    log_tail=str(bare.details.get("env_log_tail") or ""))


class SweBenchScorer:
    """Grades a patch in a fresh sandbox from `provider` (the run's, so the same image and isolation)."""

    def __init__(self, provider: SandboxProvider, eval_timeout_s: float = 1800.0) -> None:
        self._provider = provider
        self._eval_timeout_s = eval_timeout_s
        self._env_checks: dict[str, EnvCheck] = {}
        self._env_locks: dict[str, asyncio.Lock] = {}

    async def collect(self, task: Task, sandbox: Sandbox) -> Outcome:
        """The attempt's outcome in the sandbox: the repo's diff against the base commit (`collect_patch`)."""
        return Outcome(patch=await collect_patch(sandbox, task))

    async def score(self, task: Task, outcome: Outcome) -> Score:
        patch = outcome.patch if outcome.patch and outcome.patch.strip() else None
        if patch is None:  # nothing to grade: the official report's patch_is_None
            return _unapplied("empty_patch", patch_is_none=True)
        score = await self.evaluate(task, patch)
        fault = score.details.get("env_fault")
        if not fault:
            return score
        details = dict(score.details)
        if fault["tier"] == "environment":
            details.update(env_error=True, env_error_reason=fault["reason"])
        else:
            env = await self.check_environment(task)
            details["env_check"] = env.model_dump(exclude={"log_tail"})  # the tail: env_log_tail, when it counts
            if env.ok:
                details["failure_reason"] = f"patch_broke_tests: {fault['reason']}"
                details.pop("env_log_tail", None)  # the patch's failure: its test log says the rest
            else:  # what decided it is the run without the patch
                details.update(env_error=True, env_error_reason=env.reason, env_log_tail=env.log_tail)
        env_error = (details.get("env_error_reason") or "unknown") if details.get("env_error") else None
        return score.model_copy(update={"details": details, "env_error": env_error})

    async def evaluate(self, task: Task, patch: str | None) -> Score:
        """Apply `patch` (None: run the tests on the base commit as it is), run the eval script, grade.
        Details: `report`, `applied_with`, `test_log`, `tests_ran` (the status map's size), `env_fault`
        (an unresolved run's EnvFault, dumped, or None), with a fault `env_log_tail` (the log's end),
        `grading_network` and `env_error` (False: `score` decides)."""
        async with self._open(task) as sandbox:
            applied_with = "no patch"
            if patch is not None:
                applied_with = await apply_patch(sandbox, patch)
                if applied_with is None:
                    return _unapplied("patch_does_not_apply", patch_is_none=False)
            await sandbox.write_file(EVAL_PATH, make_eval_script(task).encode())
            run = await sandbox.exec(f"bash {EVAL_PATH} > {LOG_PATH} 2>&1", cwd=TESTBED, timeout=self._eval_timeout_s)
            log, left_out = await read_eval_log(sandbox)
            if run.timed_out:  # agentbench's marker, then the official harness's words
                log += f"\n{TIMED_OUT}\nTimeout error: {int(self._eval_timeout_s)} seconds exceeded.\n"
        statuses, report = _graded(task, log, patch if patch is not None else "")
        resolved = bool(report["resolved"])
        fault = None if resolved else classify_eval_log(log, statuses)
        f2p = report.get("tests_status", {}).get("FAIL_TO_PASS", {})
        total = len(f2p.get("success", [])) + len(f2p.get("failure", []))
        value = len(f2p.get("success", [])) / total if total else float(resolved)
        details = {"report": report, "applied_with": applied_with, "test_log": _clip(log),
                   "tests_ran": len(statuses), "env_fault": fault.model_dump() if fault else None,
                   "env_error": False, "grading_network": self.grading_network(), "eval_log_left_out": left_out}
        if fault is not None:
            what = "test log" if patch is not None else "test log without a patch"
            details["env_log_tail"] = tail_block(log_tail(log), what).lstrip("\n")
        return Score(passed=resolved, value=value, details=details)

    def _open(self, task: Task) -> AbstractAsyncContextManager[Sandbox]:
        """A fresh grading sandbox: the provider's grading one where it has one, else its plain one."""
        if isinstance(self._provider, GradingSandboxes):
            return self._provider.open_grading(task)
        return self._provider.open(task)

    def grading_network(self) -> bool:
        """Whether grading sandboxes have a network: the provider's answer; a provider that does not isolate
        (the local backend) runs on the host, which has whatever network the host has."""
        if isinstance(self._provider, GradingSandboxes):
            return self._provider.grading_has_network()
        return not getattr(self._provider, "isolates", True)

    async def check_environment(self, task: Task) -> EnvCheck:
        """Whether the environment runs the task's tests: the eval script without the model's patch in a
        fresh sandbox (and, only to settle an ambiguous fault there, with the gold patch). Once per task."""
        async with self._env_locks.setdefault(task.id, asyncio.Lock()):
            if task.id not in self._env_checks:
                bare = await self.evaluate(task, None)
                fault, gold_patch = bare.details.get("env_fault"), task.metadata.get("patch")
                gold = await self.evaluate(task, gold_patch) if (fault and fault["tier"] == "ambiguous"
                                                                 and gold_patch) else None
                self._env_checks[task.id] = judge_environment(bare, gold)
            return self._env_checks[task.id]

    def remember_environment(self, task: Task, bare: Score, gold: Score | None) -> EnvCheck:
        """check_environment's verdict from runs already made (validation makes both); cached the same way."""
        check = self._env_checks[task.id] = judge_environment(bare, gold)
        return check

    async def test_patch_applies(self, task: Task) -> bool:
        async with self._open(task) as sandbox:
            await sandbox.write_file(PATCH_PATH, task.metadata.get("test_patch", "").encode())
            return (await sandbox.exec(f"git apply --check {PATCH_PATH}", cwd=TESTBED, timeout=120)).exit_code == 0


class Validation(BaseModel):
    """`agentbench tasks validate` / `run --validate-env`: the suite's own proof of one instance."""

    instance_id: str
    test_patch_applies: bool
    gold_resolves: bool
    empty_fails: bool
    env_ok: bool
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.test_patch_applies and self.gold_resolves and self.empty_fails and self.env_ok


async def validate_instance(scorer: SweBenchScorer, task: Task) -> Validation:
    applies = await scorer.test_patch_applies(task)
    gold = await scorer.evaluate(task, task.metadata.get("patch") or "")
    empty = await scorer.evaluate(task, None)
    env = scorer.remember_environment(task, empty, gold)
    detail = ""
    if not env.ok:
        detail = f"environment broken: {env.detail}"[:2000]
    elif not gold.passed:
        status = gold.details.get("report", {}).get("tests_status", {})
        detail = f"gold patch: {gold.details['report'].get('resolution')} {status}"[:2000]
    elif empty.passed:
        detail = "the tests pass without any patch: FAIL_TO_PASS is wrong"
    return Validation(instance_id=task.id, test_patch_applies=applies, gold_resolves=gold.passed,
                      empty_fails=not empty.passed, env_ok=env.ok, detail=detail)
