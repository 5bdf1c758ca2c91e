"""Graph files load like scripts (a module or package beside the file imports; `package.module:fn` resolves
from the current folder as `python -m` would), failures name the reference, the file and the missing
module; and `agentbench graph check` builds a graph with a scripted context and says what it is."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentbench.cli import app
from agentbench.runner.graph_check import check_graph
from agentbench.runner.graph_loader import GraphLoadError, load_graph_factory, parse_ref

ROOT = Path(__file__).resolve().parents[2]
GRAPH = """\
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str


def compiled(answer):
    graph = StateGraph(State)
    graph.add_node("answer", lambda state: {"answer": answer, "messages": [AIMessage(str(answer))]})
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    return graph.compile()
"""


@pytest.fixture(autouse=True)
def _import_state():
    """The loader puts graph folders on sys.path and imports their modules, as a run does: undone after
    each test so that tests do not see each other's `common` modules."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text))
    return folder


# -- loading ------------------------------------------------------------------------------------------

def test_a_graph_file_imports_a_module_and_a_package_beside_it_and_imports_lazily(tmp_path):
    write(tmp_path / "agents", {
        "common.py": "ANSWER = 41\n",
        "helpers/__init__.py": "",
        "helpers/util.py": "def inc(x):\n    return x + 1\n",
        "lazy_part.py": "VALUE = 'late'\n",
        "react.py": GRAPH + """
from common import ANSWER
from helpers.util import inc


def build_graph(ctx):
    import lazy_part  # imported when the factory runs, after loading
    return compiled(f"{inc(ANSWER)} {lazy_part.VALUE}")
""",
    })
    factory = load_graph_factory("agents/react.py:build_graph", tmp_path)  # relative to base_dir
    final = factory(None).invoke({"messages": []})
    assert final["answer"] == "42 late"


def test_two_graph_folders_each_get_their_own_sibling_module(tmp_path):
    for name, answer in (("a", "from a"), ("b", "from b")):
        write(tmp_path / name, {"common.py": f"ANSWER = {answer!r}\n",
                                "agent.py": GRAPH + "from common import ANSWER\n\n\ndef build_graph(ctx):\n"
                                                    "    return compiled(ANSWER)\n"})
    first = load_graph_factory(str(tmp_path / "a" / "agent.py"))
    second = load_graph_factory(str(tmp_path / "b" / "agent.py"))
    assert first(None).invoke({})["answer"] == "from a"
    assert second(None).invoke({})["answer"] == "from b"


def test_a_module_reference_resolves_from_the_base_folder_as_python_m_would(tmp_path):
    write(tmp_path, {"myagents/__init__.py": "", "myagents/shared.py": "ANSWER = 'pkg'\n",
                     "myagents/react.py": GRAPH + "from myagents.shared import ANSWER\n\n\ndef make(ctx):\n"
                                                  "    return compiled(ANSWER)\n"})
    with pytest.raises(GraphLoadError, match="no module 'myagents.react'"):
        load_graph_factory("myagents.react:make", ROOT)  # not on the path from another folder
    factory = load_graph_factory("myagents.react:make", tmp_path)
    assert factory(None).invoke({})["answer"] == "pkg"
    assert parse_ref("myagents.react:make").label == "myagents.react:make"


def test_a_module_reference_resolves_from_the_current_folder(tmp_path, monkeypatch):
    write(tmp_path, {"cwdagents/__init__.py": "", "cwdagents/g.py": GRAPH + "def build_graph(ctx):\n"
                                                                          "    return compiled('cwd')\n"})
    monkeypatch.chdir(tmp_path)
    assert load_graph_factory("cwdagents.g:build_graph")(None).invoke({})["answer"] == "cwd"


def test_a_missing_module_beside_the_file_names_the_reference_the_file_and_the_module(tmp_path):
    write(tmp_path / "agents", {"react.py": "import os\nfrom commn import X\n"})
    with pytest.raises(GraphLoadError) as caught:
        load_graph_factory("agents/react.py:build_graph", tmp_path)
    message = str(caught.value)
    file = tmp_path / "agents" / "react.py"
    assert "graph 'agents/react.py:build_graph'" in message and f"{file}:2" in message
    assert "No module named 'commn'" in message and f"beside the graph file in {tmp_path / 'agents'}" in message


@pytest.mark.parametrize(("files", "ref", "expected"), [
    ({}, "agents/none.py:build_graph", "file agents/none.py not found"),
    ({"agents/g.py": "def other(ctx): ...\n"}, "agents/g.py:build_graph", "has no callable 'build_graph'"),
    ({"agents/g.py": "from .common import X\n"}, "agents/g.py", "loads like a script"),
    ({"agents/g.py": "def build_graph(ctx:\n"}, "agents/g.py", "SyntaxError"),
    ({}, "nosuchgraph", "ours are planning"),
    ({}, "not a ref", "expected one of ours"),
])
def test_load_errors_are_one_clear_message(tmp_path, monkeypatch, files, ref, expected):
    write(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GraphLoadError, match=expected) as caught:
        load_graph_factory(ref)
    assert repr(ref) in str(caught.value)


# -- graph check --------------------------------------------------------------------------------------

def test_check_our_planning_graph_uses_the_model_and_binds_no_tools():
    check = check_graph("planning")
    assert check.ok and check.built and check.uses_model and check.read_model and check.bound_tools is None
    assert {"plan", "act", "answer"} <= set(check.nodes)
    assert any(e.source == "__start__" and e.target == "plan" for e in check.edges)
    assert "answer" in check.output_keys and check.notes == []


def test_check_our_react_graph_binds_its_tools():
    check = check_graph("react")
    assert check.ok and check.bound_tools == ["bash", "python", "final_answer"]
    assert any(e.conditional for e in check.edges)


def test_check_our_oracle_says_it_uses_no_model():
    check = check_graph("oracle")
    assert check.ok and check.uses_model is False and check.uses_model_declared is False


def test_check_a_prebuilt_react_agent_binds_tools_and_answers_from_its_last_message(tmp_path):
    write(tmp_path, {"prebuilt.py": """
        from langchain_core.tools import tool
        from langgraph.prebuilt import create_react_agent


        def build_graph(ctx):
            @tool
            async def bash(command: str) -> str:
                \"\"\"Run a shell command.\"\"\"
                return (await ctx.tools.bash(command)).stdout

            return create_react_agent(ctx.model, [bash])
    """})
    check = check_graph(str(tmp_path / "prebuilt.py"))
    assert check.ok and check.bound_tools == ["bash"] and {"agent", "tools"} <= set(check.nodes)
    assert "messages" in check.state_keys and "answer" not in check.output_keys
    assert any("taken from the last AI message" in n for n in check.notes)


@pytest.mark.parametrize(("body", "expected"), [
    ("def build_graph(ctx):\n    raise KeyError('plan')\n", "build_graph(ctx) raised at"),
    ("from langgraph.graph import StateGraph\nfrom typing import TypedDict\n\n\nclass S(TypedDict):\n    x: int\n\n\n"
     "def build_graph(ctx):\n    g = StateGraph(S)\n    g.add_node('n', lambda s: {})\n    g.set_entry_point('n')\n"
     "    return g\n", "not a compiled graph (it has no `ainvoke`) (a StateGraph: return graph.compile())"),
    ("from langgraph.graph import StateGraph\nfrom typing import TypedDict\n\n\nclass S(TypedDict):\n    x: int\n\n\n"
     "def build_graph(ctx):\n    g = StateGraph(S)\n    g.add_node('n', lambda s: {})\n    g.set_entry_point('n')\n"
     "    return g.compile()\n", "the state has no `messages` key"),
    ("def build_graph(ctx):\n    return ctx.model.bind_tools([])\n\n\nbuild_graph.uses_model = False\n",
     "ctx.model is None"),
])
def test_check_reports_what_would_fail_every_attempt(tmp_path, body, expected):
    write(tmp_path, {"g.py": body})
    check = check_graph(str(tmp_path / "g.py"))
    assert not check.ok and any(expected in p for p in check.problems), check.problems


def test_check_builds_the_context_from_a_suite_task_and_the_overrides(tmp_path):
    write(tmp_path, {"seen.py": GRAPH + """
SEEN = []


def build_graph(ctx):
    SEEN.append((ctx.task.id, ctx.limits.max_steps, ctx.params))
    return compiled("x")
"""})
    result = CliRunner().invoke(app, ["graph", "check", str(tmp_path / "seen.py"), "--suite", "gaia-mini",
                                      "--set", "suite.ids=[gm-l2-002]", "--set", "limits.max_steps=3",
                                      "--set", "graph_params.depth=2"])
    assert result.exit_code == 0, result.output
    module = next(m for m in sys.modules.values() if getattr(m, "__file__", None) == str(tmp_path / "seen.py"))
    assert module.SEEN == [("gm-l2-002", 3, {"depth": 2})]
    assert "context for task gm-l2-002, qa" in result.output


def test_the_check_command_prints_the_graph_and_exits_2_on_a_broken_file(tmp_path):
    ok = CliRunner().invoke(app, ["graph", "check", "react"])
    assert ok.exit_code == 0, ok.output
    assert "agent -> tools (conditional)" in ok.output and "binds tools: yes (bash, python, final_answer)" in ok.output
    assert ok.output.rstrip().endswith("ok")
    write(tmp_path, {"broken.py": "from not_beside_me import thing\n"})
    broken = CliRunner().invoke(app, ["graph", "check", str(tmp_path / "broken.py")])
    assert broken.exit_code == 2
    assert "NOT loaded" in broken.output and "No module named 'not_beside_me'" in broken.output
    bad_set = CliRunner().invoke(app, ["graph", "check", "react", "--set", "limits.nope=1"])
    assert bad_set.exit_code == 2 and "limits.nope" in bad_set.output


def test_check_a_graph_with_its_own_chat_model_and_tools_in_any_form(tmp_path):
    """Settings read off ctx.model to build a ChatOpenAI of its own (nothing connects while building); a
    function bound as a tool; a ToolNode whose tools are bound to the graph's own model."""
    write(tmp_path, {"own.py": """
        from langchain_openai import ChatOpenAI
        from langgraph.prebuilt import create_react_agent


        def build_graph(ctx):
            def lookup(term: str) -> str:
                \"\"\"Look a term up.\"\"\"
                return term

            ctx.model.bind_tools([lookup])
            llm = ChatOpenAI(base_url=ctx.model.openai_api_base, model=ctx.model.model_name,
                             api_key=ctx.model.openai_api_key, temperature=ctx.model.temperature)
            return create_react_agent(llm, [lookup])
    """})
    check = check_graph(str(tmp_path / "own.py"), model_settings={"model_name": "configured"})
    assert check.ok, check.problems
    assert check.bound_tools == ["lookup"] and check.tool_nodes == {"tools": ["lookup"]}
    write(tmp_path, {"own_only.py": (tmp_path / "own.py").read_text().replace("ctx.model.bind_tools([lookup])", "")})
    check = check_graph(str(tmp_path / "own_only.py"))
    assert check.ok and check.bound_tools is None
    assert any("binds its tools on a chat model of its own" in n for n in check.notes)
