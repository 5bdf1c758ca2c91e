"""An attempt's one status decision (`episode.settle`, pure) and the paths of `run_attempt` that lead to it:
what stopped the agent (a Verdict) and the grading decide, nowhere else. Fake sandboxes and scorers."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from agentbench.protocols import (ExecResult, LimitExceeded, Limits, Outcome, Sandbox, SandboxError, Score, Task,
                                  TaskExpected)
from agentbench.runner.attribution import Verdict
from agentbench.runner.episode import AttemptDeps, Ending, run_attempt, settle

SWE = Task(id="s1", kind="swe", prompt="fix it")
QA = Task(id="q1", kind="qa", prompt="6*7?", expected=TaskExpected(answer="42"))
DIFF = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n"
STEPS = Verdict("limit", "steps", "steps limit reached", "limit", "steps")
BUG = Verdict("failed", "agent_error", "agent error: KeyError: 'x'", "agent")


@pytest.mark.parametrize("stopped, score, crash, ending", [
    (None, Score(passed=True), None, Ending("solved")),
    (None, Score(passed=False), None, Ending("failed")),
    (None, Score(passed=False, env_error="tests_not_found"), None,
     Ending("error", "environment", "environment: tests_not_found")),
    (None, None, "scorer crashed: KeyError: 'x'", Ending("error", "scorer", "scorer crashed: KeyError: 'x'")),
    (BUG, None, None, Ending("failed", "agent_error", BUG.error)),
    (STEPS, None, None, Ending("limit", "steps", STEPS.error)),  # not graded (discard, or no diff)
    (STEPS, Score(passed=True), None, Ending("solved", "steps", STEPS.error, True, True)),
    (STEPS, Score(passed=False), None, Ending("limit", "steps", STEPS.error, True, False)),
    (STEPS, Score(passed=True, env_error="broken"), None, Ending("limit", "steps", STEPS.error, False, False)),
    (STEPS, None, "scorer crashed: boom", Ending("limit", "steps", STEPS.error, False, None)),
])
def test_settle_is_the_one_status_decision(stopped, score, crash, ending):
    assert settle(stopped, score, crash) == ending


class FakeSandbox(Sandbox):
    workdir = "/w"

    async def exec(self, cmd, timeout=None, cwd=None) -> ExecResult:
        return ExecResult(exit_code=0)

    async def read_file(self, path: str) -> bytes:
        return b""

    async def write_file(self, path: str, data: bytes) -> None: ...


class Provider:
    name = "fake"

    def __init__(self, open_error: BaseException | None = None, close_error: BaseException | None = None,
                 open_delay_s: float = 0.0) -> None:
        self.open_error, self.close_error, self.open_delay_s = open_error, close_error, open_delay_s

    def prepare(self, tasks): return {}

    @asynccontextmanager
    async def open(self, task: Task):
        await asyncio.sleep(self.open_delay_s)
        if self.open_error is not None:
            raise self.open_error
        yield FakeSandbox()
        if self.close_error is not None:
            raise self.close_error

    async def aclose(self) -> None: ...


class Scorer:
    def __init__(self, score: Score | Exception = Score(passed=True), patch: str | None = DIFF,
                 collect_error: Exception | None = None) -> None:
        self.verdict, self.patch, self.collect_error = score, patch, collect_error
        self.collected = self.scored = 0

    async def collect(self, task: Task, sandbox: Sandbox) -> Outcome:
        self.collected += 1
        if self.collect_error is not None:
            raise self.collect_error
        return Outcome(patch=self.patch if task.kind == "swe" else None)

    async def score(self, task: Task, outcome: Outcome) -> Score:
        self.scored += 1
        if isinstance(self.verdict, Exception):
            raise self.verdict
        return self.verdict


def deps(body, scorer: Scorer, provider: Provider | None = None, **limits) -> AttemptDeps:
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

    return AttemptDeps(make_model=lambda seed: None, sandboxes=provider or Provider(), factory=build_graph,
                       scorer=scorer, limits=Limits(**{"timeout_s": 30, **limits}))


def raises(exc: BaseException):
    def body():
        raise exc
    return body


def types(result) -> list[str]:
    return [e.type for e in result.events]


async def test_a_finished_graph_is_graded_with_its_answer():
    scorer = Scorer(Score(passed=True))
    result = await run_attempt(QA, 0, deps(lambda: {"answer": "42"}, scorer))
    record = result.record
    assert (record.status, record.reason, record.error, record.answer, record.answer_source) == (
        "solved", None, None, "42", "state")
    assert types(result) == ["attempt_start", "node_start", "node_end", "score", "attempt_end"]


async def test_the_graphs_own_exception_is_the_agents_and_nothing_is_collected_or_graded():
    scorer = Scorer()
    result = await run_attempt(SWE, 0, deps(raises(KeyError("x")), scorer))
    assert (result.record.status, result.record.reason) == ("failed", "agent_error")
    assert (scorer.collected, scorer.scored, result.record.patch, result.record.score) == (0, 0, None, None)
    (error,) = [e for e in result.events if e.type == "error"]
    assert error.payload["source"] == "agent" and "KeyError" in error.payload["traceback"]


async def test_a_limit_is_collected_and_graded_under_on_limit_grade_only():
    graded = await run_attempt(SWE, 0, deps(raises(LimitExceeded("steps")), Scorer(Score(passed=True))))
    assert (graded.record.status, graded.record.reason, graded.record.patch) == ("solved", "steps", DIFF)
    assert graded.record.metadata == {"level": None, "limit_graded": True, "limit_resolved": True}
    assert types(graded)[-4:] == ["patch", "error", "score", "attempt_end"]
    scorer = Scorer(Score(passed=True))
    discarded = await run_attempt(SWE, 0, deps(raises(LimitExceeded("steps")), scorer, on_limit="discard"))
    assert (discarded.record.status, discarded.record.patch, scorer.collected, scorer.scored) == ("limit", None, 0, 0)
    assert discarded.record.metadata == {"level": None}


async def test_the_scorer_crashing_or_blaming_the_environment_is_an_error():
    crashed = await run_attempt(SWE, 0, deps(lambda: {}, Scorer(RuntimeError("boom"))))
    assert (crashed.record.status, crashed.record.reason) == ("error", "scorer")
    assert crashed.record.error == "scorer crashed: RuntimeError: boom" and crashed.record.patch == DIFF
    broken = await run_attempt(SWE, 0, deps(lambda: {}, Scorer(Score(passed=False, env_error="tests_not_found"))))
    assert (broken.record.status, broken.record.reason, broken.record.error) == (
        "error", "environment", "environment: tests_not_found")
    assert broken.record.score.env_error == "tests_not_found"  # the scorer's typed signal, kept with its score


async def test_outside_the_graph_failures_are_infrastructure():
    sandbox = await run_attempt(QA, 0, deps(lambda: {"answer": "42"}, Scorer(),
                                            Provider(open_error=SandboxError("no container"))))
    assert (sandbox.record.status, sandbox.record.reason) == ("error", "sandbox")
    collect = await run_attempt(SWE, 0, deps(lambda: {}, Scorer(collect_error=OSError("git diff failed"))))
    assert (collect.record.status, collect.record.reason, collect.record.score) == ("error", "infra", None)
    slow = await run_attempt(QA, 0, deps(lambda: {"answer": "42"}, Scorer(), Provider(open_delay_s=5), timeout_s=0.2))
    assert (slow.record.status, slow.record.reason) == ("limit", "time")


async def test_a_failure_closing_the_sandbox_does_not_replace_the_graphs_verdict():
    closing = Provider(close_error=SandboxError("cleanup failed"))
    bug = await run_attempt(QA, 0, deps(raises(KeyError("x")), Scorer(), closing))
    assert (bug.record.status, bug.record.reason) == ("failed", "agent_error")
    finished = await run_attempt(QA, 0, deps(lambda: {"answer": "42"}, Scorer(), closing))
    assert (finished.record.status, finished.record.reason, finished.record.answer) == ("error", "sandbox", None)
