"""The contracts every part of agentbench speaks. Keep this file short.

Task, ExecResult, Sandbox, SandboxProvider, AgentContext (what a graph gets),
Score, Event (the typed events of agentbench/events.py, re-exported), Usage, AttemptRecord (what the store
and metrics speak).
"""

from __future__ import annotations

import abc
import errno
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Literal, Protocol, runtime_checkable

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

from agentbench.events import Event, EventType  # noqa: F401  (the trace's typed events; re-exported)
from agentbench.swe_spec import SweSpec

TaskKind = Literal["qa", "swe"]
AttemptStatus = Literal["solved", "failed", "limit", "error"]
AnswerSource = Literal["state", "last_message", "none"]
LimitKind = Literal["steps", "tokens", "time", "supersteps"]
#: Why an attempt ended as it did, as a code (AttemptRecord.reason): `agent_error` (failed: the graph's own
#: code raised); a LimitKind (limit); `model`, `auth`, `tool_calls`, `sandbox`, `scorer`, `environment`,
#: `infra`, `node_lost` (error). `other`: a code this version does not know, read from a run folder written
#: by another version (agentbench.store.read_record).
AttemptReason = Literal["agent_error", "steps", "tokens", "time", "supersteps", "model", "auth", "tool_calls",
                        "sandbox", "scorer", "environment", "infra", "node_lost", "other"]


class TaskInputs(BaseModel):
    files: list[Path] = Field(default_factory=list, description="host files copied into the sandbox workdir")


class TaskExpected(BaseModel):
    answer: str | None = None


class TaskSandbox(BaseModel):
    image: str = Field("python", description="a recipe under sandboxes/, or `swe-env` (built from `Task.swe`)")
    setup: list[str] = Field(default_factory=list, description="commands run in the workdir once it is open")
    workdir: str | None = Field(None, description="where commands start (default: the backend's workdir)")


class Task(BaseModel):
    id: str
    kind: TaskKind
    prompt: str
    inputs: TaskInputs = Field(default_factory=TaskInputs)
    expected: TaskExpected = Field(default_factory=TaskExpected)
    sandbox: TaskSandbox = Field(default_factory=TaskSandbox)
    metadata: dict[str, Any] = Field(default_factory=dict)
    swe: SweSpec | None = Field(None, description="a SWE-bench instance: its row, repo and recipe (agentbench."
                                                  "swe_spec); its environment is built from it, its grading made")


class ExecResult(BaseModel):
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    truncated: bool = False
    timed_out: bool = False


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the command run in it): an infrastructure error."""


class FileTooLargeError(OSError):
    """`Sandbox.read_file` of a file past `sandbox.max_read_bytes` (errno EFBIG): nothing of it was read into
    this process. The agent's result, like FileNotFoundError: a graph may catch it and read a part with a
    command (`head -c`, `sed -n`). `size` is the file's size where known, `limit` the cap."""

    def __init__(self, path: str, limit: int, size: int | None = None) -> None:
        what = f"{size} bytes" if size is not None else "more bytes"
        super().__init__(errno.EFBIG, f"{what}, past sandbox.max_read_bytes ({limit}): read a part of it with a "
                                      f"command (head -c, sed -n)", path)
        self.limit, self.size = limit, size


class Sandbox(abc.ABC):
    """One isolated workspace for one attempt. Paths are relative to `workdir` unless absolute. `read_file`
    and `write_file` act as the agent (its uid and permissions, the command timeout); `read_file` raises
    FileTooLargeError past `sandbox.max_read_bytes`, never holding more than that here."""

    workdir: str

    @abc.abstractmethod
    async def exec(self, cmd: str, timeout: float | None = None, cwd: str | None = None) -> ExecResult: ...

    @abc.abstractmethod
    async def read_file(self, path: str) -> bytes: ...

    @abc.abstractmethod
    async def write_file(self, path: str, data: bytes) -> None: ...


class SandboxProvider(Protocol):
    name: str
    isolates: bool  # False for the local backend: commands run on the host (reported, never silently chosen)

    def prepare(self, tasks: list[Task]) -> dict[str, str]:
        """Before the first attempt: build or find what the run's sandboxes need (blocking; run in a thread).
        Returns task id -> why that task's sandbox cannot be made (its attempts become `error`)."""
        ...

    def open(self, task: Task) -> AbstractAsyncContextManager[Sandbox]:
        """Create a fresh sandbox holding the task's inputs; closing it always cleans up."""
        ...

    async def aclose(self) -> None:
        """At the end of the run: wait for every cleanup still in flight."""
        ...


class Limits(BaseModel):
    """The experiment's `limits` section (ranges: agentbench.config.schema, README "Config ranges")."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_steps: int = Field(20, ge=1, le=100_000, description="model calls per attempt, by any chat model the "
                           "graph calls: the call past it is refused (LimitExceeded('steps'))")
    max_tokens: int = Field(60_000, ge=1, le=1_000_000_000)
    timeout_s: float = Field(300.0, gt=0, le=86_400, allow_inf_nan=False)
    max_supersteps: int | None = Field(None, ge=1, le=1_000_000, description="LangGraph supersteps per attempt "
                                       "(its recursion limit); default max(25, 4·max_steps + 10)")
    on_limit: Literal["grade", "discard"] = Field(
        "grade", description="swe: grade the working tree of an attempt that hit a limit (it stays `limit` "
                             "unless the diff resolves the task); discard: do not grade it")

    @property
    def supersteps(self) -> int:
        """LangGraph's recursion limit for an attempt: `max_supersteps`, or max(25, 4·max_steps + 10)."""
        return self.max_supersteps if self.max_supersteps is not None else max(25, self.max_steps * 4 + 10)


class Usage(BaseModel):
    """Token usage, addable: `a + b`."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                     completion_tokens=self.completion_tokens + other.completion_tokens)


@runtime_checkable
class Tools(Protocol):
    """Sandbox tools a graph may call; every call is traced by the implementation."""

    async def bash(self, cmd: str, timeout: float | None = None) -> ExecResult: ...
    async def read_file(self, path: str) -> str: ...
    async def write_file(self, path: str, content: str) -> None: ...


def _chat_model(value: Any) -> Any:
    """None or a LangChain chat model; LangChain is loaded by the time a context is built, not by this module."""
    from langchain_core.language_models import BaseChatModel

    if value is not None and not isinstance(value, BaseChatModel):
        raise ValueError(f"expected a LangChain BaseChatModel or None, got {type(value).__name__}")
    return value


if TYPE_CHECKING:
    ChatModel = BaseChatModel | None
else:  # checked as `BaseChatModel | None`, without importing LangChain with the contracts
    ChatModel = Annotated[Any, AfterValidator(_chat_model)]


class AgentContext(BaseModel):
    """Everything a graph factory receives: `build_graph(ctx) -> CompiledStateGraph`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: ChatModel = Field(description="a LangChain BaseChatModel bound to the configured endpoint; None for a "
                                         "graph that declares `uses_model = False`")
    tools: Tools = Field(description="a `Tools` implementation over the attempt's sandbox")
    task: Task
    limits: Limits
    params: dict[str, Any] = Field(default_factory=dict, description="graph parameters from the experiment")


GraphFactory = Callable[[AgentContext], Any]


class LimitExceeded(RuntimeError):
    """Raised when a step, token or time budget is exhausted; the attempt ends as `limit`."""

    def __init__(self, which: LimitKind, detail: str = "") -> None:
        super().__init__(f"{which} limit reached{': ' + detail if detail else ''}")
        self.which = which


class Score(BaseModel):
    passed: bool
    value: float = 0.0
    details: dict[str, Any] = Field(default_factory=dict, description="the scorer's evidence, for reports")
    env_error: str | None = Field(None, description="why the environment, not the agent, failed (the attempt "
                                                    "becomes `error`); None when the verdict is the agent's")


class Outcome(BaseModel):
    """What an attempt produced: the graph's final answer (qa) or patch (swe)."""

    answer: str | None = None
    patch: str | None = None


class Scorer(Protocol):
    async def collect(self, task: Task, sandbox: Sandbox) -> Outcome:
        """The part of the outcome that lives in the sandbox, taken before it closes (also at a limit):
        SWE-bench the repo's diff as `patch`, GAIA nothing (its answer is the graph's)."""
        ...

    async def score(self, task: Task, outcome: Outcome) -> Score:
        """Pure where it can be (GAIA); SWE-bench grading runs the tests in a fresh sandbox."""
        ...


class AttemptTotals(BaseModel):
    usage: Usage = Field(default_factory=Usage)
    model_calls: int = 0
    tool_calls: int = 0
    supersteps: int = 0
    wall_clock_s: float = 0.0
    model_time_s: float = 0.0
    sandbox_time_s: float = 0.0
    first_test_step: int | None = Field(None, description="coding: model calls before the first test run")
    submit_step: int | None = Field(None, description="coding: model calls when the agent submitted")

    @property
    def steps(self) -> int:
        """One agent step = one model turn (tool calls and supersteps are reported beside it)."""
        return self.model_calls

    @property
    def overhead_s(self) -> float:
        return max(0.0, self.wall_clock_s - self.model_time_s - self.sandbox_time_s)


class AttemptRecord(BaseModel):
    task_id: str
    epoch: int
    status: AttemptStatus
    answer: str | None = None
    answer_source: AnswerSource | None = Field(None, description="where `answer` came from: the final state's "
                                               "`answer` key, the last AI message (qa graphs without one), or "
                                               "none; None when the graph did not finish")
    patch: str | None = None
    score: Score | None = None
    error: str | None = None
    reason: AttemptReason | None = Field(
        None, description="why, as a code (AttemptReason): `agent_error` (failed: the graph's own code raised); "
                          "`steps` / `tokens` / `time` / `supersteps` (limit); `model`, `auth`, `tool_calls`, "
                          "`sandbox`, `scorer`, `environment`, `infra`, `node_lost` (error; tool_calls: the server "
                          "refused the graph's tools, it parses no tool calls, and the run stopped; environment: "
                          "the task's environment, not the agent, failed, the one place that fact is kept; "
                          "node_lost: the Ray node or worker running it died, and the attempt was placed again as "
                          "a newer try); None for solved, and for failed when the scorer said no")
    totals: AttemptTotals = Field(default_factory=AttemptTotals)
    metadata: dict[str, Any] = Field(default_factory=dict)


class AttemptSink(Protocol):
    """Told of each try the run's store writer has just stored (live OTLP export is one); called on the
    driver, after the write, so it must return at once (queue, do not send)."""

    def attempt_stored(self, attempt_id: int, record: AttemptRecord, events: list[Event], t_start: float,
                       t_end: float) -> None:
        ...

    def close(self) -> None:
        """Flush what is queued (bounded) and stop; the run's end calls it once."""
        ...


class ModelServer(Protocol):
    """A model server agentbench manages: `ManagedServer` (a process here) or `RayServer` (the same, on a
    Ray cluster node). The supervisor samples and restarts it through this."""

    log_path: Any

    @property
    def root_url(self) -> str: ...

    async def start(self) -> None:
        """Start, or restart after the process died (same port)."""
        ...

    async def stop(self) -> None: ...

    async def wait_exit(self) -> int | None:
        """Until the running server exits: its exit code (None at once when none runs)."""
        ...

    def exit_code(self) -> int | None: ...

    def log_tail(self, lines: int) -> str: ...
