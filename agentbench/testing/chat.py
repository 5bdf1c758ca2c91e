"""Test your graph like we test ours: a scripted chat model and in-memory sandbox tools.

    from agentbench.testing import FakeTools, make_context, run_graph, scripted

    model = scripted("FINAL ANSWER: 42")           # replies in order (str or AIMessage with tool_calls)
    ctx = make_context(model, FakeTools(), prompt="What is 6*7?")
    final, tracer = await run_graph(build_graph(ctx), ctx)   # limits enforced as in a run

No model server, no sandbox: `ScriptedModel` is a LangChain chat model (it works with `bind_tools`,
`create_react_agent` and ToolNode), `FakeTools` answers `bash` from canned results and keeps files in a
dict. Our own graph tests (tests/unit/test_graphs.py) use exactly these; examples/test_my_graph.py shows
a user's graph tested the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from agentbench.protocols import AgentContext, ExecResult, Limits, Task, TaskExpected
from agentbench.tracing.tracer import Tracer


class ScriptedModel(GenericFakeChatModel):
    """Replies from a script; records every input; `bind_tools` records the tool names and returns self
    (the scripted replies decide which tools are "called": an AIMessage with `tool_calls`)."""

    inputs: list[list[BaseMessage]] = Field(default_factory=list)
    bound_tools: list[str] = Field(default_factory=list)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        self.inputs.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def bind_tools(self, tools, **kwargs):  # noqa: ANN001, ANN003, ANN202
        # any form LangChain takes: BaseTool, a plain function, a pydantic class, an OpenAI tool dict
        self.bound_tools = [convert_to_openai_tool(tool)["function"]["name"] for tool in tools]
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



def make_context(model: Any = None, tools: Any = None, *, prompt: str = "What is 6*7?", kind: str = "qa",
                 expected: str | None = "42", max_steps: int = 10, task_id: str = "t1",
                 **params: Any) -> AgentContext:
    """An `AgentContext` as the runner builds it, around a scripted model and fake tools (`graph_params`
    as keyword arguments)."""
    task = Task(id=task_id, kind=kind, prompt=prompt, expected=TaskExpected(answer=expected))
    return AgentContext(model=model, tools=tools if tools is not None else FakeTools(), task=task,
                        limits=Limits(max_steps=max_steps), params=dict(params))


async def run_graph(graph: Any, ctx: AgentContext) -> tuple[dict, Tracer]:
    """Invoke a compiled graph on `ctx.task` as the runner does: the prompt as the first message, the
    attempt's tracer as callback (so `max_steps` and `max_tokens` hold exactly as in a run, raising
    LimitExceeded) and the same recursion limit. Returns the final state and the tracer (its `events` and
    `totals`: model calls, tool calls, nodes)."""
    tracer = Tracer(max_tokens=ctx.limits.max_tokens, max_steps=ctx.limits.max_steps)
    final = await graph.ainvoke({"messages": [HumanMessage(ctx.task.prompt)]},
                                config={"callbacks": [tracer], "recursion_limit": ctx.limits.supersteps})
    return final, tracer
