"""What the runner hands an executor (`ExecContext`) and what an executor is (`Executor`).

An executor runs the (task, epoch) pairs it is given: it prepares the sandboxes where attempts will run,
stores an environment error for each task whose sandbox cannot be made, runs `run_attempt` for the rest
and gives every finished try to `ctx.stored`, the runner's one write path (the driver is the store's only
writer). It decides where an attempt runs, never its status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

from agentbench.config.schema import ExperimentConfig
from agentbench.models.client import ChatSettings
from agentbench.models.endpoint import auth_message
from agentbench.models.tool_calls import tool_calls_message
from agentbench.protocols import AttemptRecord, GraphFactory, Task
from agentbench.runner.episode import AttemptResult, environment_error
from agentbench.tracing.tracer import Tracer

Item = tuple[Task, int]  # (task, epoch)


@dataclass
class ExecContext:
    """The run as an executor sees it. `store(result, counts)` writes one try (counts=False: a try that a
    newer one of the same attempt will supersede, e.g. a lost node's; progress does not count it);
    `ready()` returns when a new attempt may start (a managed model server is up); a reason appended to
    `stop` ends the run: no new attempt starts."""

    cfg: ExperimentConfig
    factory: GraphFactory
    base_dir: Path
    run_dir: Path
    run_uid: str
    chat: ChatSettings | None
    store: Callable[[AttemptResult, bool], None]
    set_meta: Callable[[str, Any], None]
    note: Callable[[str], None]
    ready: Callable[[], Awaitable[None]]
    engine_wait_s: float
    stop: list[str] = field(default_factory=list)
    begin_attempts: Callable[[], None] = lambda: None  # setup is over (sandboxes prepared, environments checked)

    def stored(self, result: AttemptResult, counts: bool = True) -> None:
        self.store(result, counts)
        reason = result.record.reason
        if reason not in ("auth", "tool_calls") or self.stop:
            return
        base_url = self.chat.base_url if self.chat is not None else ""  # every later attempt would be refused too
        if reason == "auth":
            self.stop.append(auth_message(base_url, self.cfg.model.api_key_env, result.record.error or "HTTP 401"))
        else:
            model, server = self.cfg.model, self.cfg.model.server
            self.stop.append(tool_calls_message(model.provider, base_url, server.tool_call_parser,
                                                server.model_path or "", result.record.error or "HTTP 400",
                                                served_name=model.name))


class Executor(Protocol):
    name: str

    async def run(self, todo: list[Item], ctx: ExecContext) -> None:
        """Prepare, run every item (unless `ctx.stop` fills), hand each try to `ctx.stored`; clean up."""
        ...


def store_broken(todo: list[Item], broken: dict[str, str], ctx: ExecContext) -> list[Item]:
    """An `error` (environment) try for every item whose task's sandbox cannot be made; the others."""
    for task, epoch in todo:
        if task.id in broken:
            ctx.stored(environment_error(task, epoch, broken[task.id]))
    return [item for item in todo if item[0].id not in broken]


def lost_attempt(task: Task, epoch: int, t_start: float, detail: str, node: str | None) -> AttemptResult:
    """The try of an attempt whose node (or worker process) died under it: `error`, reason `node_lost`,
    with what Ray said. It is stored, and the attempt placed again as its next try."""
    tracer = Tracer()
    t1 = time.time()
    tracer.record("attempt_start", t_start, task_id=task.id, epoch=epoch, prompt=task.prompt)
    tracer.record("error", t1, source="infra", reason="node_lost", error=detail, worker=node)
    tracer.record("attempt_end", t1, status="error", reason="node_lost")
    record = AttemptRecord(task_id=task.id, epoch=epoch, status="error", error=f"node lost: {detail}",
                           reason="node_lost", totals=tracer.totals,
                           metadata={"level": task.metadata.get("level"), "node": node})
    return AttemptResult(record=record, events=tracer.events, t_start=t_start, t_end=t1)
