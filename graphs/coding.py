"""Our coding agent for SWE-bench-style tasks: explore, edit, test, submit, on a text action protocol.

    START -> agent -> run_shell    -> agent   (```bash: explore or run the tests)
                   -> edit         -> agent   (```edit PATH: SEARCH/REPLACE hunks)
                   -> format_error -> agent   (anything else: the error goes back to the model)
                   -> submit       -> END     (SUBMIT)

The task prompt is the issue; the sandbox working directory is the repository root, checked out at the
base commit. The graph only edits files: the harness takes the patch afterwards as `git diff`. The
protocol (`graphs/coding_actions.py`) needs no tool-calling support from the model server.

Every model call is one step; the framework refuses the call past `ctx.limits.max_steps` (the attempt
ends as `limit`, reason `steps`), so the graph counts nothing itself.
The final state holds `submitted` (True) and `answer` (None). Params (`graph_params` in the experiment):
- `few_shot` (true): show a worked example (grep, edit, test, SUBMIT) before the task.
- `max_observation_chars` (3000): command output shown to the model, mostly its end.
- `max_history_chars` (8000): the conversation sent to the model (task + turns, examples and system
  prompt excluded) is cut to about this many characters by dropping the oldest turns; the task is always
  kept. 0 keeps everything. The default suits a 4k-token context (the embedded model); raise it for
  bigger models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph

from agentbench.commands import is_test_command
from agentbench.graphs.coding_actions import (CodingAction, HunkApplyError, apply_hunks, edit_failure,
                                              edit_observation, format_observation, parse_coding_action)
from agentbench.graphs.planning import text_of
from agentbench.protocols import AgentContext, FileTooLargeError

F = "```"

SYSTEM_PROMPT = f"""\
You are fixing an issue in a git repository. Your working directory is the repository root.
Each turn, write one short thought, then exactly ONE action:
1. a shell command, to explore or to run tests:
{F}bash
grep -rn "def name" src
{F}
2. an edit of one file: SEARCH copies existing lines exactly, REPLACE holds the new lines.
{F}edit path/to/file.py
<<<<<<< SEARCH
old lines
=======
new lines
>>>>>>> REPLACE
{F}
An edit may hold several hunks. Empty SEARCH creates a new file.
3. SUBMIT alone on a line, when the issue is fixed.
You see the result of each action before the next turn."""

FEW_SHOT: tuple[tuple[str, str], ...] = (
    ("user", "`rect_area(w, h)` returns w + h instead of w * h."),
    ("assistant", f'Find the function.\n{F}bash\ngrep -rn -A2 "def rect_area" .\n{F}'),
    ("user", ("exit code: 0\nstdout:\n./shapes/area.py:4:def rect_area(w, h):\n"
              "./shapes/area.py-5-    return w + h")),
    ("assistant", (f"Fix the formula.\n{F}edit shapes/area.py\n<<<<<<< SEARCH\n    return w + h\n=======\n"
                   f"    return w * h\n>>>>>>> REPLACE\n{F}")),
    ("user", edit_observation("shapes/area.py", 1)),
    ("assistant", f"Run the tests.\n{F}bash\npython -m pytest -q tests/test_area.py\n{F}"),
    ("user", "exit code: 0\nstdout:\n3 passed in 0.02s"),
    ("assistant", "The tests pass.\nSUBMIT"),
)
"""A worked example of the protocol as (role, text) turns (small models follow a demonstration far better
than a description)."""

DROPPED_NOTE = "[{n} earlier messages were dropped to fit the context. Continue from the latest result.]"

ActionNode = Literal["run_shell", "edit", "submit", "format_error"]


class CodingState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    last_action: CodingAction | None  # the parsed last reply
    n_edits: int  # edits applied (files written)
    n_test_runs: int  # shell commands that ran tests (see agentbench.commands.is_test_command)
    submitted: bool  # the model said SUBMIT
    answer: str | None  # always None: the harness reads the patch from the repository


def few_shot_messages() -> list[AnyMessage]:
    """FEW_SHOT as chat messages."""
    return [HumanMessage(text) if role == "user" else AIMessage(text) for role, text in FEW_SHOT]


def fit_history(messages: Sequence[AnyMessage], max_chars: int) -> list[AnyMessage]:
    """The conversation cut to about `max_chars` characters: the first message (the task) and the newest
    turns that fit (at least the last one). Dropped turns are named in a note appended to the task, and
    the kept turns start with an assistant reply so that roles keep alternating. 0: no cut."""
    messages = list(messages)
    if max_chars <= 0 or len(messages) < 2 or sum(len(text_of(m)) for m in messages) <= max_chars:
        return messages
    first, rest = messages[0], messages[1:]
    budget = max_chars - len(text_of(first))
    kept: list[AnyMessage] = []
    used = 0
    for message in reversed(rest):
        size = len(text_of(message))
        if kept and used + size > budget:
            break
        kept.append(message)
        used += size
    kept.reverse()
    if len(kept) == len(rest):
        return messages
    head = f"{text_of(first)}\n\n{DROPPED_NOTE.format(n=len(rest) - len(kept))}"
    if not isinstance(kept[0], AIMessage):  # fold a leading observation into the task message
        head = f"{head}\n\n{text_of(kept.pop(0))}"
    return [HumanMessage(head), *kept]


def route_action(state: CodingState) -> ActionNode:
    """The node that carries out the parsed last action."""
    action = state.get("last_action")
    if action is None or action.kind == "format_error":
        return "format_error"
    if action.kind == "bash":
        return "run_shell"
    return "edit" if action.kind == "edit" else "submit"


def build_graph(ctx: AgentContext) -> CompiledStateGraph:
    max_observation = int(ctx.params.get("max_observation_chars", 3000))
    max_history = int(ctx.params.get("max_history_chars", 8000))
    shots = few_shot_messages() if ctx.params.get("few_shot", True) else []

    async def agent(state: CodingState) -> dict:
        history = fit_history(state["messages"], max_history)
        reply = await ctx.model.ainvoke([SystemMessage(SYSTEM_PROMPT), *shots, *history])
        return {"messages": [reply], "last_action": parse_coding_action(text_of(reply))}

    async def run_shell(state: CodingState) -> dict:
        action = state["last_action"]
        assert action is not None and action.kind == "bash"
        result = await ctx.tools.bash(action.command)
        update: dict = {"messages": [HumanMessage(format_observation(result, max_observation))]}
        if is_test_command(action.command):
            update["n_test_runs"] = state.get("n_test_runs", 0) + 1
        return update

    async def edit(state: CodingState) -> dict:
        action = state["last_action"]
        assert action is not None and action.kind == "edit"
        try:
            content: str | None = await ctx.tools.read_file(action.path)
        except FileNotFoundError:
            content = None
        except (IsADirectoryError, NotADirectoryError, PermissionError, FileTooLargeError) as exc:
            return {"messages": [HumanMessage(edit_failure(action.path, exc, max_observation))]}
        try:
            new = apply_hunks(content, action.hunks)
        except HunkApplyError as exc:
            return {"messages": [HumanMessage(edit_failure(action.path, exc, max_observation))]}
        await ctx.tools.write_file(action.path, new)
        note = edit_observation(action.path, len(action.hunks), created=content is None)
        return {"messages": [HumanMessage(note)], "n_edits": state.get("n_edits", 0) + 1}

    async def format_error(state: CodingState) -> dict:
        action = state.get("last_action")
        error = action.error if action is not None else parse_coding_action("").error
        return {"messages": [HumanMessage(error)]}

    async def submit(state: CodingState) -> dict:
        return {"submitted": True, "answer": None}

    graph = StateGraph(CodingState)
    graph.add_node("agent", agent)
    graph.add_node("run_shell", run_shell)
    graph.add_node("edit", edit)
    graph.add_node("format_error", format_error)
    graph.add_node("submit", submit)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route_action)
    for node in ("run_shell", "edit", "format_error"):
        graph.add_edge(node, "agent")
    graph.add_edge("submit", END)
    return graph.compile(name="coding")
