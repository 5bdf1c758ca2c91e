"""The fakes graph tests drive our graphs with: a scripted chat model and in-memory sandbox tools.

One copy, shared by test_graphs.py and test_coding_graph.py (and any graph test to come).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field

from agentbench.protocols import ExecResult


class ScriptedModel(GenericFakeChatModel):
    """Replies from a script; records every input; `bind_tools` records the tool names and returns self."""

    inputs: list[list[BaseMessage]] = Field(default_factory=list)
    bound_tools: list[str] = Field(default_factory=list)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        self.inputs.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def bind_tools(self, tools, **kwargs):  # noqa: ANN001, ANN003, ANN202
        self.bound_tools = [tool.name for tool in tools]
        return self


def scripted(*replies: str | AIMessage) -> ScriptedModel:
    """A model that gives these replies, in order."""
    return ScriptedModel(messages=iter([AIMessage(r) if isinstance(r, str) else r for r in replies]))


def forever(make: Callable[[int], AIMessage]) -> ScriptedModel:
    """A model whose i-th reply is `make(i)`, without end."""
    return ScriptedModel(messages=(make(i) for i in itertools.count()))


class FakeTools:
    """In-memory `Tools`: files in a dict, every call recorded; `bash` answers from canned results by
    command (exit 0, stdout "ok" otherwise). Reading a missing file raises FileNotFoundError (a path
    ending in "/" IsADirectoryError), as sandboxes do."""

    def __init__(self, results: dict[str, ExecResult] | None = None, files: dict[str, str] | None = None) -> None:
        self.results = results or {}
        self.files = dict(files or {})
        self.calls: list[str] = []

    async def bash(self, cmd: str, timeout: float | None = None) -> ExecResult:
        self.calls.append(cmd)
        return self.results.get(cmd, ExecResult(exit_code=0, stdout="ok"))

    async def read_file(self, path: str) -> str:
        self.calls.append(f"read_file {path}")
        if path.endswith("/"):
            raise IsADirectoryError(path)
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]

    async def write_file(self, path: str, content: str) -> None:
        self.calls.append(f"write_file {path}")
        self.files[path] = content


def last_text(messages: Iterable[BaseMessage]) -> str:
    """The content of the last message."""
    return str(list(messages)[-1].content)

