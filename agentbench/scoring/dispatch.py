"""The run's scorer: `KindScorer` dispatches on the task's kind, GAIA matching for `qa`, SWE-bench grading (in
a fresh sandbox) for `swe`."""

from __future__ import annotations

from agentbench.protocols import Outcome, Sandbox, SandboxProvider, Score, Scorer, Task
from agentbench.scoring.gaia import GaiaScorer
from agentbench.scoring.swebench import SweBenchScorer


class KindScorer:
    """A `Scorer` by task kind; `swe` is the SWE-bench scorer (its environment checks run through it)."""

    def __init__(self, sandboxes: SandboxProvider) -> None:
        self.swe = SweBenchScorer(sandboxes)
        self._by_kind: dict[str, Scorer] = {"qa": GaiaScorer(), "swe": self.swe}

    async def collect(self, task: Task, sandbox: Sandbox) -> Outcome:
        return await self._by_kind[task.kind].collect(task, sandbox)

    async def score(self, task: Task, outcome: Outcome) -> Score:
        return await self._by_kind[task.kind].score(task, outcome)
