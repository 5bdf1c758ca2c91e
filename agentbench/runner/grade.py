"""`agentbench grade PREDICTIONS --suite S`: patches another agent made, graded with agentbench's environments
and grader as an ordinary run, so `compare`, `report` and the exports work on it as on any run.

The run is the Runner's, unchanged, with three things set: the graph is `predictions` (graphs/predictions.py:
no model, nothing done in the sandbox), the suite is narrowed to the instances that have a prediction
(`suite.ids`, set only when some have none: those are the harness's `incomplete`, not graded, named in a
note), and the executor is
the local one with a scorer whose `collect` returns the instance's `model_patch` as submitted instead of the
sandbox's diff. Grading is then `SweBenchScorer.score` on that patch, as for every run: a fresh sandbox, the
official apply chain (a patch that does not apply, or is no diff at all, is `failed`, `patch_does_not_apply`),
the eval script, swebench's own report; an empty patch is `failed` (`empty_patch`, `patch_is_None`). The
run's model is the predictions' `model_name_or_path` (config `model.name`, `model_identity` provider
`predictions`); tokens and steps are 0. The file graded and its hash are `graph_params`, so running the same
command with the same `--out` resumes the run, and a changed file is refused as a changed config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentbench.config.loader import ConfigError, load_experiment, validate
from agentbench.config.schema import ExperimentConfig
from agentbench.protocols import AttemptRecord, Outcome, Sandbox, SandboxProvider, Task
from agentbench.runner.executors.base import ExecContext, Item
from agentbench.runner.executors.local import LocalExecutor
from agentbench.scoring.dispatch import KindScorer
from agentbench.suites.errors import SuiteError
from agentbench.suites.filters import filter_tasks
from agentbench.suites.predictions import Predictions, SuiteMatch, match_suite, read_predictions
from agentbench.suites.loader import load_suite

GRAPH = "predictions"  # graphs/predictions.py
PARAM = "predictions"  # its graph_params key: the file graded (graphs/predictions.py PARAM)
PROVIDER = "predictions"  # model_identity provider of a graded run


class GradePlan(BaseModel):
    """What `grade` runs: the resolved config, the predictions read, which instances are graded."""

    cfg: ExperimentConfig
    predictions: Predictions
    match: SuiteMatch

    def identity(self) -> dict[str, Any]:
        """The run's `model_identity` meta: the predictions' model, where they came from."""
        return {"provider": PROVIDER, "served_model_name": self.predictions.model,
                "source": self.cfg.graph_params.get(PARAM), "sha256": self.predictions.sha256}

    def provenance(self) -> dict[str, Any]:
        """The run's `predictions` meta."""
        p = self.predictions
        return {"source": self.cfg.graph_params.get(PARAM), "format": p.format, "sha256": p.sha256, "model": p.model,
                "count": len(p.items), "graded": self.match.graded, "missing": self.match.missing,
                "not_selected": self.match.not_selected,
                "empty": [i.instance_id for i in p.items if i.empty and i.instance_id in set(self.match.graded)]}


def run_name(model: str) -> str:
    """`grade-MODEL` with the model name made safe for a folder name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")[:80].strip("-.")
    return f"grade-{slug or 'predictions'}"


def plan_grade(path: Path, suite: str, overrides: list[str] = (), repo_mirror: Path | None = None) -> GradePlan:
    """Read the predictions, match them to the suite (after its filters from `--set suite.*`) and build the
    run's config: the defaults, `overrides`, then graph, graph_params, model.name and suite.ids set here.
    PredictionsError / SuiteError / ConfigError for what cannot be graded."""
    predictions = read_predictions(path)
    if any(o.partition("=")[0].strip().split(".")[0] in ("graph", "graph_params") for o in overrides):
        raise ConfigError("grade: the graph is `predictions` (the patches come from the file); do not --set graph "
                          "or graph_params")
    if repo_mirror is not None:
        overrides = [*overrides, f"suite.repo_mirror={Path(repo_mirror).resolve()}"]
    base = load_experiment(None, [f"suite.name={suite}", *overrides])
    if base.run.executor != "local":
        raise ConfigError("grade: run.executor must be local (grading runs in this process's sandboxes)")
    mirror = Path(base.suite.repo_mirror).expanduser() if base.suite.repo_mirror else None
    _, tasks = load_suite(base.suite.name, repo_mirror=mirror)
    swe = [t for t in tasks if t.kind == "swe"]
    if not swe:
        raise SuiteError(f"suite {base.suite.name}: no SWE-bench instances (grade takes a SWE-bench suite)")
    selected = filter_tasks(swe, base.suite.ids, base.suite.levels, base.suite.limit)
    match = match_suite(predictions, base.suite.name, [t.id for t in swe], [t.id for t in selected])
    data = base.model_dump(mode="json")
    if not any(o.partition("=")[0].strip() == "name" for o in overrides):
        data["name"] = run_name(predictions.model)
    data["graph"] = GRAPH
    data["graph_params"] = {PARAM: str(Path(path).resolve()), "predictions_sha256": predictions.sha256}
    data["model"]["name"] = predictions.model
    if match.missing:  # else the suite as selected, so `compare` with a run of it shows no suite.ids change
        data["suite"]["ids"] = match.graded
    cfg = validate(data, f"grade {path} --suite {suite}")
    return GradePlan(cfg=cfg, predictions=predictions, match=match)


class PredictedScorer(KindScorer):
    """The run's scorer, except that an attempt's outcome is its instance's `model_patch` as submitted (None
    for an empty one), not the sandbox's diff: grading is the official harness's, on the patch as written."""

    def __init__(self, sandboxes: SandboxProvider, patches: dict[str, str | None]) -> None:
        super().__init__(sandboxes)
        self._patches = patches

    async def collect(self, task: Task, sandbox: Sandbox) -> Outcome:
        patch = self._patches.get(task.id)
        return Outcome(patch=patch if patch and patch.strip() else None)


class GradeExecutor(LocalExecutor):
    """The local executor with `PredictedScorer`; it records where the predictions came from."""

    def __init__(self, plan: GradePlan) -> None:
        self.plan = plan

    def make_scorer(self, sandboxes: SandboxProvider) -> KindScorer:
        return PredictedScorer(sandboxes, self.plan.predictions.patches())

    async def run(self, todo: list[Item], ctx: ExecContext) -> None:
        ctx.set_meta("model_identity", self.plan.identity())  # after the runner's "(graph uses no model)"
        ctx.set_meta("predictions", self.plan.provenance())
        await super().run(todo, ctx)


def harness_counts(plan: GradePlan, attempts: list[AttemptRecord]) -> dict[str, int]:
    """The SWE-bench harness's tallies of a graded run (the latest epoch-0 try of each instance): total
    selected, submitted, incomplete (no prediction), empty patch, patch does not apply, resolved,
    unresolved, error (environment or infrastructure: agentbench's `error`)."""
    latest = {a.task_id: a for a in attempts if a.epoch == 0}
    graded = [latest[i] for i in plan.match.graded if i in latest]
    reason = lambda a: (a.score.details.get("failure_reason") if a.score else None)  # noqa: E731
    return {"total": len(plan.match.graded) + len(plan.match.missing), "submitted": len(plan.match.graded),
            "incomplete": len(plan.match.missing), "graded": len(graded),
            "resolved": sum(a.status == "solved" for a in graded),
            "unresolved": sum(a.status in ("failed", "limit") for a in graded),
            "empty_patch": sum(a.status == "failed" and reason(a) == "empty_patch" for a in graded),
            "patch_does_not_apply": sum(a.status == "failed" and reason(a) == "patch_does_not_apply" for a in graded),
            "error": sum(a.status == "error" for a in graded)}
