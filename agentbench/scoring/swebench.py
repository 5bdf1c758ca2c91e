"""SWE-bench grading, by the official harness's rules, in a fresh container from the task's image.

1. The patch of an attempt is `git diff` of the sandbox repo against the environment's commit (ENV_REF:
   the base commit plus the build's own edits; the base commit in an image without it), new files
   included, caches excluded (`collect_patch`); it is graded as submitted, test files included (the eval
   script puts the test patch's files back before applying the test patch, as the official one does).
2. Grading opens a fresh sandbox (same image, same reset to ENV_REF), applies the patch with the official chain
   (`git apply --verbose`, then `--reject`, then `patch --batch --fuzz=5 -p1 -i`, each on a clean tree),
   then runs the eval script of the instance's test spec (`make_test_spec(task.swe)`, swebench_spec.py:
   made once per task and kept).
3. The log is parsed by swebench's own log parsers and graded by its `get_eval_report` (FULL / PARTIAL /
   NO from `get_resolution_status`), with the row's `eval_type`. A patch that does not apply is `failed`;
   an engine fault raises (the attempt becomes `error`). One run's result is an `EvalRun` (typed): the
   scorer decides on its fields, and `EvalRun.score()` writes `Score.details` once, for reports.
4. An unresolved run is checked for environment faults (`classify_eval_log`, `EvalRun.fault`). An
   `environment` fault is an environment error; an `ambiguous` one is settled by `check_environment`, the
   tests run without the model's patch: a broken environment is an environment error, a sound one makes
   it the patch's failure (`details["failure_reason"] = "patch_broke_tests: ..."`). `Score.env_error`
   carries the reason (the scorer's one way to say it; the attempt then becomes `error`, reason
   `environment`, the one place reports read it from). The end of the log that decided it is
   kept with the attempt: `details["env_log_tail"]` (`last N lines of the test log[ without a patch]:`
   then the lines, as an image build error shows its build log's tail); `EnvCheck.explained()` is the same
   for the check made before any attempt.
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
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from agentbench.protocols import FileTooLargeError, Outcome, Sandbox, SandboxProvider, Score, Task
from agentbench.scoring.swebench_eval import TIMED_OUT, EnvFault, classify_eval_log, log_tail, stored_log, tail_block
from agentbench.scoring.swebench_spec import SweTestSpec, graded, make_test_spec, resolution_report, status_map
from agentbench.swe_spec import SweSpec
from agentbench.swebench_layout import ENV_REF, TESTBED, patch_files

__all__ = ["APPLY_COMMANDS", "EnvCheck", "EnvFault", "EvalRun", "GradingSandboxes", "SweBenchScorer", "SweTestSpec",
           "Validation", "apply_patch", "classify_eval_log", "collect_patch", "judge_environment", "make_test_spec",
           "resolution_report", "split_diff", "status_map", "swe_of", "validate_instance"]

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


def swe_of(task: Task) -> SweSpec:
    """The task's SweSpec; ValueError for a task that is not a SWE-bench instance."""
    if task.swe is None:
        raise ValueError(f"task {task.id} is not a SWE-bench instance (it has no `swe` spec)")
    return task.swe


async def collect_patch(sandbox: Sandbox, task: Task) -> str:
    """The attempt's patch: every change in the repo since the sandbox's reset (ENV_REF, the state the
    build left; the base commit in an image without it), new files included, caches excluded; nothing else
    is taken out. Grading applies it on the same state."""
    fallback = task.swe.base_commit if task.swe is not None else "HEAD"  # HEAD: a repo that is no SWE-bench row's
    base = f"$(git rev-parse -q --verify {ENV_REF} || echo {shlex.quote(fallback)})"
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


class EvalRun(BaseModel):
    """One grading run (the eval script after the patch; or the patch that never got that far): the scorer's
    own result, which its decisions read. `score()` is the Score it stores."""

    resolved: bool = False
    value: float = 0.0
    report: dict[str, Any] = Field(description="swebench's get_eval_report fields plus `resolution`")
    applied_with: str | None = Field(None, description="the apply command that worked; `no patch` for a bare run")
    test_log: str = Field("", description="the log as stored (stored_log, then MAX_LOG_CHARS)")
    tests_ran: int = Field(0, description="the status map's size")
    fault: EnvFault | None = Field(None, description="an unresolved run's environment fault")
    fault_log_tail: str = Field("", description="with a fault: the end of the log (tail_block)")
    grading_network: bool | None = Field(None, description="whether the grading sandbox had a network; None: "
                                                           "the tests did not run")
    log_left_out: int = 0
    failure_reason: str | None = Field(None, description="`empty_patch`, `patch_does_not_apply`")

    @classmethod
    def unapplied(cls, reason: str, patch_is_none: bool) -> EvalRun:
        report = {"patch_is_None": patch_is_none, "patch_exists": not patch_is_none,
                  "patch_successfully_applied": False, "resolved": False, "resolution": "RESOLVED_NO"}
        return cls(report=report, test_log="" if patch_is_none else ">>>>> Patch Apply Failed", failure_reason=reason)

    def score(self, env_error: str | None = None, check: EnvCheck | None = None) -> Score:
        """The Score, its details written here once: `env_error` (why the environment failed: the attempt
        becomes `error`), `check` (the run without a patch that settled an ambiguous fault)."""
        details: dict[str, Any] = {"report": self.report, "applied_with": self.applied_with, "test_log": self.test_log,
                                   "tests_ran": self.tests_ran, "env_fault": self.fault.model_dump() if self.fault
                                   else None}
        if self.grading_network is not None:
            details.update(grading_network=self.grading_network, eval_log_left_out=self.log_left_out)
        if self.fault is not None and (check is None or not check.ok):
            details["env_log_tail"] = check.log_tail if check is not None else self.fault_log_tail
        if check is not None:
            details["env_check"] = check.model_dump(exclude={"log_tail"})  # the tail: env_log_tail, when it counts
        failure = self.failure_reason
        if check is not None and check.ok and self.fault is not None:
            failure = f"patch_broke_tests: {self.fault.reason}"
        if failure is not None:
            details["failure_reason"] = failure
        return Score(passed=self.resolved, value=self.value, details=details, env_error=env_error)


def judge_environment(bare: EvalRun, gold: EvalRun | None = None) -> EnvCheck:
    """The verdict on a run without the model's patch (`bare`): sound iff it shows no fault. An ambiguous
    fault there is a broken environment, unless the gold patch resolves the task in the same environment
    (`gold`): then the fault is the FAIL_TO_PASS tests failing as they should (say, a test module importing
    the function the fix adds fails at collection)."""
    fault = bare.fault
    if fault is None:
        return EnvCheck(ok=True, tests_ran=bare.tests_ran)
    what = f"{fault.reason}: {fault.detail}"
    if fault.tier == "ambiguous" and gold is not None and gold.resolved:
        return EnvCheck(ok=True, tests_ran=bare.tests_ran, detail=f"without a patch {what}; the gold patch resolves")
    return EnvCheck(ok=False, reason=fault.reason, tests_ran=bare.tests_ran, detail=what, log_tail=bare.fault_log_tail)


class SweBenchScorer:
    """Grades a patch in a fresh sandbox from `provider` (the run's, so the same image and isolation)."""

    def __init__(self, provider: SandboxProvider, eval_timeout_s: float = 1800.0) -> None:
        self._provider = provider
        self._eval_timeout_s = eval_timeout_s
        self._specs: dict[str, SweTestSpec] = {}
        self._env_checks: dict[str, EnvCheck] = {}
        self._env_locks: dict[str, asyncio.Lock] = {}

    def test_spec(self, task: Task) -> SweTestSpec:
        """The task's test spec, made at its first grading and kept."""
        spec = self._specs.get(task.id)
        if spec is None:
            spec = self._specs[task.id] = make_test_spec(swe_of(task))
        return spec

    async def collect(self, task: Task, sandbox: Sandbox) -> Outcome:
        """The attempt's outcome in the sandbox: the repo's diff against the base commit (`collect_patch`)."""
        return Outcome(patch=await collect_patch(sandbox, task))

    async def score(self, task: Task, outcome: Outcome) -> Score:
        patch = outcome.patch if outcome.patch and outcome.patch.strip() else None
        if patch is None:  # nothing to grade: the official report's patch_is_None
            return EvalRun.unapplied("empty_patch", patch_is_none=True).score()
        run = await self.evaluate(task, patch)
        if run.fault is None:
            return run.score()
        if run.fault.tier == "environment":
            return run.score(env_error=run.fault.reason)
        env = await self.check_environment(task)  # ambiguous: what decides is the run without the patch
        return run.score(env_error=None if env.ok else env.reason or "unknown", check=env)

    async def evaluate(self, task: Task, patch: str | None) -> EvalRun:
        """Apply `patch` (None: run the tests on the environment as it is), run the eval script, grade."""
        spec = self.test_spec(task)
        async with self._open(task) as sandbox:
            applied_with = "no patch"
            if patch is not None:
                applied_with = await apply_patch(sandbox, patch)
                if applied_with is None:
                    return EvalRun.unapplied("patch_does_not_apply", patch_is_none=False)
            await sandbox.write_file(EVAL_PATH, spec.eval_script.encode())
            run = await sandbox.exec(f"bash {EVAL_PATH} > {LOG_PATH} 2>&1", cwd=TESTBED, timeout=self._eval_timeout_s)
            log, left_out = await read_eval_log(sandbox)
            if run.timed_out:  # agentbench's marker, then the official harness's words
                log += f"\n{TIMED_OUT}\nTimeout error: {int(self._eval_timeout_s)} seconds exceeded.\n"
        statuses, report = graded(spec, log, patch if patch is not None else "")
        resolved = bool(report["resolved"])
        fault = None if resolved else classify_eval_log(log, statuses)
        f2p = report.get("tests_status", {}).get("FAIL_TO_PASS", {})
        total = len(f2p.get("success", [])) + len(f2p.get("failure", []))
        what = "test log" if patch is not None else "test log without a patch"
        return EvalRun(resolved=resolved, value=len(f2p.get("success", [])) / total if total else float(resolved),
                       report=report, applied_with=applied_with, test_log=_clip(log), tests_ran=len(statuses),
                       fault=fault, fault_log_tail=tail_block(log_tail(log), what).lstrip("\n") if fault else "",
                       grading_network=self.grading_network(), log_left_out=left_out)

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
                bare, gold_patch = await self.evaluate(task, None), swe_of(task).patch
                settle = bare.fault is not None and bare.fault.tier == "ambiguous" and gold_patch
                gold = await self.evaluate(task, gold_patch) if settle else None
                self._env_checks[task.id] = judge_environment(bare, gold)
            return self._env_checks[task.id]

    def remember_environment(self, task: Task, bare: EvalRun, gold: EvalRun | None) -> EnvCheck:
        """check_environment's verdict from runs already made (validation makes both); cached the same way."""
        check = self._env_checks[task.id] = judge_environment(bare, gold)
        return check

    async def test_patch_applies(self, task: Task) -> bool:
        async with self._open(task) as sandbox:
            await sandbox.write_file(PATCH_PATH, swe_of(task).test_patch.encode())
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
    gold = await scorer.evaluate(task, swe_of(task).patch)
    empty = await scorer.evaluate(task, None)
    env = scorer.remember_environment(task, empty, gold)
    detail = ""
    if not env.ok:
        detail = f"environment broken: {env.detail}"[:2000]
    elif not gold.resolved:
        detail = f"gold patch: {gold.report.get('resolution')} {gold.report.get('tests_status', {})}"[:2000]
    elif empty.resolved:
        detail = "the tests pass without any patch: FAIL_TO_PASS is wrong"
    return Validation(instance_id=task.id, test_patch_applies=applies, gold_resolves=gold.resolved,
                      empty_fails=not empty.resolved, env_ok=env.ok, detail=detail)
