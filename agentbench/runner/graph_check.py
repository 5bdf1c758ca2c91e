"""`agentbench graph check`: load a graph and build it once with a scripted context — a `ScriptedModel`
and `FakeTools` from agentbench.testing; no model server, no sandbox, nothing invoked — and say what it is:
its nodes and edges, whether it uses the model and binds tools, its state's keys, and every problem that
would make each attempt of a run fail (`GraphCheck.problems`) or change how it is scored (`notes`).

Pure apart from importing the graph's module (runner/graph_loader.py) and calling its factory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from agentbench.protocols import AgentContext, Limits, Task
from agentbench.runner.graph_loader import GraphLoadError, load_graph_factory, raised_at
from agentbench.testing.chat import FakeTools, ScriptedModel, make_context

INPUT = '{"messages": [HumanMessage(prompt)]}'


class CheckModel(ScriptedModel):
    """The scripted model, also carrying the settings a graph may read off the runner's `ChatOpenAI` to build
    a chat model of its own (`openai_api_base`, `model_name`, `openai_api_key`, `temperature`, ...). Nothing
    listens at the URL: the check invokes nothing."""

    model_config = ConfigDict(protected_namespaces=())

    openai_api_base: str = "http://127.0.0.1:9/v1"
    model_name: str = "graph-check"
    openai_api_key: SecretStr = SecretStr("graph-check")
    temperature: float | None = 0.0
    top_p: float | None = None
    max_tokens: int | None = None
    streaming: bool = False
    request_timeout: float | None = None
    max_retries: int | None = None

    def bind_tools(self, tools, **kwargs):  # noqa: ANN001, ANN003, ANN201
        """Records the names of tools in any form bind_tools takes (BaseTool, function, dict, pydantic class)."""
        from langchain_core.utils.function_calling import convert_to_openai_tool

        self.bound_tools = [convert_to_openai_tool(tool)["function"]["name"] for tool in tools]
        return self


class WatchedContext(AgentContext):
    """An AgentContext that remembers which of `model` and `tools` the factory read."""

    _reads: set[str] = PrivateAttr(default_factory=set)

    def __getattribute__(self, name: str) -> Any:
        if name in ("model", "tools"):
            object.__getattribute__(self, "__pydantic_private__")["_reads"].add(name)
        return super().__getattribute__(name)

    @property
    def reads(self) -> set[str]:
        return set(self._reads)


class Edge(BaseModel):
    source: str
    target: str
    conditional: bool = False
    label: str | None = None


class GraphCheck(BaseModel):
    """What `graph check` found."""

    ref: str
    task: str = Field(description="the id of the task the context was built for")
    task_kind: str
    loaded: bool = Field(False, description="the factory was found (its module imported)")
    built: bool = Field(False, description="the factory returned a graph with `ainvoke`")
    graph_type: str | None = None
    nodes: list[str] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    state_keys: list[str] = Field(default_factory=list, description="the state's channels (LangGraph's own left out)")
    output_keys: list[str] = Field(default_factory=list)
    uses_model: bool = Field(True, description="whether a run starts a model server for it (the factory's "
                                               "`uses_model`, default true)")
    uses_model_declared: bool | None = Field(None, description="the factory's `uses_model` attribute, if any")
    read_model: bool = Field(False, description="the factory read ctx.model while building")
    bound_tools: list[str] | None = Field(None, description="tool names bound to ctx.model (bind_tools) while "
                                                            "building; None when it bound none")
    tool_nodes: dict[str, list[str]] = Field(default_factory=dict, description="ToolNode nodes: their tool names")
    problems: list[str] = Field(default_factory=list, description="each one makes every attempt fail")
    notes: list[str] = Field(default_factory=list, description="worth knowing; not a failure")

    @property
    def ok(self) -> bool:
        return not self.problems


def default_task() -> Task:
    """The small made-up qa task a check builds the context for when no suite is given."""
    return make_context().task


def _channels(compiled: Any) -> tuple[list[str], list[str]] | None:
    """(state keys, output keys) of a compiled StateGraph; None for other graphs."""
    channels = getattr(compiled, "channels", None)
    if getattr(compiled, "builder", None) is None or not isinstance(channels, dict):
        return None
    state = [k for k in channels if not k.startswith(("__", "branch:"))]
    output = compiled.output_channels
    return state, [output] if isinstance(output, str) else list(output)


def _shape(check: GraphCheck, compiled: Any) -> None:
    """Nodes, edges and state keys of the built graph, and the problems and notes they show."""
    try:
        drawn = compiled.get_graph()
        check.nodes = list(drawn.nodes)
        check.edges = [Edge(source=e.source, target=e.target, conditional=e.conditional,
                            label=None if e.data is None else str(e.data)) for e in drawn.edges]
    except Exception as exc:  # noqa: BLE001 - drawing is best effort; the run does not need it
        check.notes.append(f"get_graph() failed ({type(exc).__name__}: {exc}): nodes and edges unknown")
    keys = _channels(compiled)
    if keys is None:
        check.notes.append(f"not a StateGraph ({check.graph_type}): its state keys cannot be checked; the runner "
                           f"invokes it with {INPUT}")
        return
    check.state_keys, check.output_keys = keys
    if "messages" not in check.state_keys:
        check.problems.append(f"the state has no `messages` key: the runner invokes the graph with {INPUT} "
                              "(add `messages: Annotated[list[AnyMessage], add_messages]` to the state)")
    if check.task_kind == "qa" and "answer" not in check.output_keys:
        check.notes.append("the final state has no `answer` key: the answer will be taken from the last AI "
                           "message (the text after `FINAL ANSWER:` when present, else all of it)")


def check_graph(ref: str, *, task: Task | None = None, limits: Limits | None = None,
                params: dict[str, Any] | None = None, base_dir: Path | None = None,
                model_settings: dict[str, Any] | None = None) -> GraphCheck:
    """Load `ref`, build it with a scripted context for `task` (default: a small qa task) and inspect it;
    `model_settings`: CheckModel fields (the configured model name, temperature, ...)."""
    task = task or default_task()
    check = GraphCheck(ref=ref, task=task.id, task_kind=task.kind)
    try:
        factory = load_graph_factory(ref, base_dir)
    except GraphLoadError as exc:
        check.problems.append(str(exc))
        return check
    check.loaded = True
    declared = getattr(factory, "uses_model", None)
    check.uses_model_declared = None if declared is None else bool(declared)
    check.uses_model = declared is None or bool(declared)
    model = CheckModel(messages=iter([]), **(model_settings or {})) if check.uses_model else None  # as in a run
    ctx = WatchedContext(model=model, tools=FakeTools(), task=task, limits=limits or Limits(), params=params or {})
    try:
        compiled = factory(ctx)
    except Exception as exc:  # noqa: BLE001 - the graph's own code: reported, as a run would
        hint = " (its `uses_model = False`: ctx.model is None)" if not check.uses_model and "model" in ctx.reads else ""
        check.problems.append(f"graph {ref!r}: build_graph(ctx) raised{raised_at(exc)}: "
                              f"{type(exc).__name__}: {exc}{hint}")
        return check
    finally:
        check.read_model = "model" in ctx.reads
        check.bound_tools = list(model.bound_tools) if model is not None and model.bound_tools else None
    check.graph_type = f"{type(compiled).__module__}.{type(compiled).__qualname__}"
    if not callable(getattr(compiled, "ainvoke", None)):
        hint = " (a StateGraph: return graph.compile())" if callable(getattr(compiled, "compile", None)) else ""
        check.problems.append(f"graph {ref!r}: build_graph(ctx) returned {check.graph_type}, not a compiled graph "
                              f"(it has no `ainvoke`){hint}")
        return check
    check.built = True
    if check.uses_model and not check.read_model:
        check.notes.append("the factory did not read ctx.model while building (a node may read it later); set "
                           "`build_graph.uses_model = False` if it calls no model, and no server is started")
    _shape(check, compiled)
    _tool_nodes(check, compiled)
    return check


def _tool_nodes(check: GraphCheck, compiled: Any) -> None:
    """The ToolNodes among the nodes, and a note when they hold tools but ctx.model had none bound."""
    from langgraph.prebuilt import ToolNode

    for name, node in (getattr(compiled, "nodes", None) or {}).items():
        if isinstance(getattr(node, "bound", None), ToolNode):
            check.tool_nodes[name] = list(node.bound.tools_by_name)
    if check.tool_nodes and not check.bound_tools:
        check.notes.append(f"tool nodes ({', '.join(check.tool_nodes)}) but no bind_tools on ctx.model: the graph "
                           "binds its tools on a chat model of its own (its server must parse tool calls too), or its model is never "
                           "offered them")
