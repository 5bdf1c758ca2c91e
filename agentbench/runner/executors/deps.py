"""What an attempt needs, assembled where it runs (the local executor in the driver, each Ray attempt worker
in its own process): the run's sandbox provider, and the `AttemptDeps` around it. The parts live with their
owners: the sandbox choice in sandbox/provider.py, the scorer in scoring/dispatch.py, the chat model in
runner/model_wiring.py."""

from __future__ import annotations

from typing import Any, Callable

from agentbench.config.schema import ExperimentConfig
from agentbench.protocols import GraphFactory, SandboxProvider, Scorer
from agentbench.runner.episode import AttemptDeps
from agentbench.runner.errors import RunError
from agentbench.sandbox.provider import SandboxUnavailable, make_sandbox_provider


def run_sandboxes(cfg: ExperimentConfig, log: Callable[[str], None], run_id: str | None = None,
                  labels: dict[str, str] | None = None) -> SandboxProvider:
    """The run's sandbox provider; one that cannot be made here stops the run (RunError)."""
    try:
        return make_sandbox_provider(cfg.sandbox, log=log, run_id=run_id, labels=labels)
    except SandboxUnavailable as exc:
        raise RunError(str(exc)) from None


def attempt_deps(cfg: ExperimentConfig, factory: GraphFactory, sandboxes: SandboxProvider, scorer: Scorer,
                 make_model: Callable[[int], Any]) -> AttemptDeps:
    """Everything `run_attempt` needs, from the run's config."""
    return AttemptDeps(make_model=make_model, sandboxes=sandboxes, factory=factory, scorer=scorer,
                       limits=cfg.limits, params=cfg.graph_params, command_timeout_s=cfg.sandbox.command_timeout_s,
                       seed=cfg.run.seed)
