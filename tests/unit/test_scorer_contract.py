"""The `Scorer` contract the attempt speaks: `collect` (what of the sandbox is the outcome) and `score`
(a `Score` whose `env_error` says the environment, not the agent, failed). No engine: fake sandboxes."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

from agentbench.protocols import ExecResult, LimitExceeded, Limits, Outcome, Sandbox, Score, Task, TaskExpected
from agentbench.runner.episode import AttemptDeps, diff_files, run_attempt
from agentbench.scoring.dispatch import KindScorer
from agentbench.scoring.gaia import GaiaScorer
from agentbench.scoring.swebench import SweBenchScorer, split_diff
from tests.unit.test_swebench_grading import MODEL, NOT_FOUND, FakeProvider, logs, make_task

QA = Task(id="q1", kind="qa", prompt="6*7?", expected=TaskExpected(answer="42"))
DIFF = ("diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n"
        "diff --git a/b.py b/b.py\nnew file mode 100644\n--- /dev/null\n+++ b/b.py\n@@ -0,0 +1 @@\n+z\n")


class DiffSandbox(Sandbox):
    """Answers the diff command with `diff` and records what was run."""

    workdir = "/testbed"

    def __init__(self, diff: str = DIFF) -> None:
        self.diff, self.calls = diff, []

    async def exec(self, cmd, timeout=None, cwd=None) -> ExecResult:
        self.calls.append(cmd)
        return ExecResult(exit_code=0)

    async def read_file(self, path: str) -> bytes:
        return self.diff.encode()

    async def write_file(self, path: str, data: bytes) -> None: ...


class OneSandbox:
    name = "fake"

    def __init__(self) -> None:
        self.sandbox = DiffSandbox()

    def prepare(self, tasks): return {}

    @asynccontextmanager
    async def open(self, task: Task):
        yield self.sandbox

    async def aclose(self) -> None: ...


async def test_gaia_collects_nothing_from_the_sandbox():
    sandbox = DiffSandbox()
    assert await GaiaScorer().collect(QA, sandbox) == Outcome() and sandbox.calls == []


async def test_swebench_collects_the_repo_diff_as_the_patch():
    sandbox = DiffSandbox()
    outcome = await SweBenchScorer(FakeProvider(logs(MODEL))).collect(make_task(), sandbox)
    assert outcome == Outcome(patch=DIFF) and len(sandbox.calls) == 1 and "git" in sandbox.calls[0]


async def test_kind_scorer_dispatches_collect_and_score_by_kind():
    scorer = KindScorer(FakeProvider(logs(MODEL)))
    assert await scorer.collect(QA, DiffSandbox()) == Outcome()
    assert (await scorer.collect(make_task(), DiffSandbox())).patch == DIFF
    assert (await scorer.score(QA, Outcome(answer="42"))).passed


async def test_an_environment_fault_is_the_typed_env_error_and_the_details_stay():
    score = await SweBenchScorer(FakeProvider(logs(NOT_FOUND))).score(make_task(), Outcome(patch=MODEL))
    assert score.env_error == "test_command_not_found"
    assert score.env_error == "test_command_not_found"
    assert (await GaiaScorer().score(QA, Outcome(answer="41"))).env_error is None


def test_a_stored_score_without_the_field_reads_as_no_env_error():
    assert Score.model_validate({"passed": False, "details": {"env_error": True}}).env_error is None


def test_diff_files_counts_diff_sections_as_split_diff_does():
    for patch in ("", DIFF, MODEL, "not a diff\n", DIFF + " diff --git inline\n"):
        assert diff_files(patch) == len(split_diff(patch))


class FakeScorer:
    """collect: the sandbox's diff; score: `verdict`."""

    def __init__(self, verdict: Score) -> None:
        self.verdict, self.seen = verdict, []

    async def collect(self, task: Task, sandbox: Sandbox) -> Outcome:
        return Outcome(patch=(await sandbox.read_file("x")).decode())

    async def score(self, task: Task, outcome: Outcome) -> Score:
        self.seen.append(outcome)
        return self.verdict


def swe_deps(scorer: FakeScorer, body) -> AttemptDeps:
    class State(TypedDict, total=False):
        messages: list
        answer: str | None

    def build_graph(ctx):
        async def node(state: State) -> dict:
            return body()

        graph = StateGraph(State)
        graph.add_node("work", node)
        graph.add_edge(START, "work")
        graph.add_edge("work", END)
        return graph.compile()

    return AttemptDeps(make_model=lambda seed: None, sandboxes=OneSandbox(), factory=build_graph, scorer=scorer,
                       limits=Limits(timeout_s=30))


async def test_the_attempt_takes_the_collected_outcome_and_turns_env_error_into_error():
    scorer = FakeScorer(Score(passed=False, details={"why": "kept"}, env_error="tests_not_found"))
    result = await run_attempt(make_task(), 0, swe_deps(scorer, lambda: {"answer": None}))
    record = result.record
    assert record.status == "error" and record.error == "environment: tests_not_found"
    assert record.patch == DIFF and scorer.seen == [Outcome(patch=DIFF)]
    assert record.score.details == {"why": "kept"}
    (patch_event,) = [e for e in result.events if e.type == "patch"]
    assert patch_event.payload == {"chars": len(DIFF), "files": 2, "at_limit": False}


async def test_a_limit_graded_with_an_env_error_stays_limit_and_is_not_graded():
    def stop():
        raise LimitExceeded("steps")

    scorer = FakeScorer(Score(passed=True, env_error="broken"))
    result = await run_attempt(make_task(), 0, swe_deps(scorer, stop))
    assert result.record.status == "limit" and result.record.metadata["limit_graded"] is False
    good = await run_attempt(make_task(), 0, swe_deps(FakeScorer(Score(passed=True)), stop))
    assert good.record.status == "solved" and good.record.metadata == {"level": None, "limit_graded": True,
                                                                       "limit_resolved": True}


async def test_a_qa_attempt_records_no_patch():
    result = await run_attempt(QA, 0, swe_deps(GaiaScorer(), lambda: {"answer": "42"}))  # type: ignore[arg-type]
    assert result.record.status == "solved" and result.record.patch is None
    assert not [e for e in result.events if e.type == "patch"]

