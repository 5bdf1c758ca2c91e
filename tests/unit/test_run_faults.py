"""The pure parts of run-level fault handling: the attribution rule, the tracer's cancelled calls, the
retry policy's Retry-After, path-safe ids and run names, the suite check of --resume, and `show` printing
what a run recorded as plain text."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from pathlib import Path
from uuid import uuid4

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage
from langgraph.errors import GraphRecursionError
from rich.console import Console

from agentbench.config.loader import ConfigError, load_experiment
from agentbench.models.client import RetryInfo, RetryPolicy, RetryTransport, retry_after_s
from agentbench.events import CLASSES, Event, ModelCall
from agentbench.protocols import AttemptRecord, LimitExceeded, SandboxError, Task, TaskExpected
from agentbench.report.terminal import print_trace, render_event
from agentbench.runner.attribution import attribute, exception_chain
from agentbench.runner.resume import describe_changes, suite_changes, suite_meta, task_hash
from agentbench.models.endpoint import auth_message
from agentbench.runner.runner import new_run_dir
from agentbench.suites.errors import SuiteError, unsafe_id_reason
from agentbench.suites.gaia import load_gaia
from agentbench.suites.swebench import parse_rows
from agentbench.tracing.tracer import Tracer

ROOT = Path(__file__).resolve().parents[2]
REQUEST = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def status_error(cls, code: int):
    return cls(f"HTTP {code}", response=httpx.Response(code, request=REQUEST), body=None)


# -- attribution ---------------------------------------------------------------------------------------

def verdict(exc: BaseException, **kw):
    v = attribute(exc, budget_expired=kw.pop("budget_expired", False), in_graph=kw.pop("in_graph", True), **kw)
    return v.status, v.reason, v.source


def test_the_graphs_own_exceptions_are_the_agents():
    for exc in (KeyError("plan"), TypeError("NoneType"), ValueError("bad json"), TimeoutError(), AssertionError()):
        assert verdict(exc) == ("failed", "agent_error", "agent"), exc


def test_limits_come_first():
    assert verdict(LimitExceeded("steps"))[:2] == ("limit", "steps")
    assert verdict(LimitExceeded("tokens"))[:2] == ("limit", "tokens")
    assert verdict(GraphRecursionError("25"))[:2] == ("limit", "supersteps")
    assert verdict(KeyError("x"), budget_expired=True)[:2] == ("limit", "time")  # the budget cut it off
    overflow = openai.BadRequestError("This model's maximum context length is 4096 tokens",
                                      response=httpx.Response(400, request=REQUEST), body=None)
    assert verdict(overflow)[:2] == ("limit", "tokens")


def test_infrastructure_types_are_errors():
    assert verdict(openai.APIConnectionError(request=REQUEST)) == ("error", "model", "model")
    assert verdict(status_error(openai.InternalServerError, 503)) == ("error", "model", "model")
    assert verdict(httpx.ReadTimeout("stalled", request=REQUEST)) == ("error", "model", "model")
    assert verdict(status_error(openai.AuthenticationError, 401))[:2] == ("error", "auth")
    assert verdict(status_error(openai.PermissionDeniedError, 403))[:2] == ("error", "auth")
    assert verdict(SandboxError("container gone")) == ("error", "sandbox", "sandbox")
    other_400 = openai.BadRequestError("unknown parameter", response=httpx.Response(400, request=REQUEST), body=None)
    assert verdict(other_400)[:2] == ("error", "model")


def test_infrastructure_wrapped_by_the_graph_is_still_infrastructure():
    try:
        try:
            raise SandboxError("engine gone")
        except SandboxError as inner:
            raise RuntimeError("tool failed") from inner
    except RuntimeError as outer:
        assert verdict(outer)[:2] == ("error", "sandbox")
        assert [type(e) for e in exception_chain(outer)] == [RuntimeError, SandboxError]
    try:
        try:
            raise openai.APIConnectionError(request=REQUEST)
        except openai.APIError:
            {}["retry"]  # a bug in the graph's except block: the endpoint failed first
    except KeyError as bug:
        assert verdict(bug)[:2] == ("error", "model")
    group = ExceptionGroup("branches", [KeyError("a"), SandboxError("b")])
    assert verdict(group)[:2] == ("error", "sandbox")


def test_an_exception_that_ended_a_model_call_is_the_endpoints():
    odd = ValueError("response had no choices")  # raised inside the chat model while parsing the reply
    assert verdict(odd, model_faults=[odd])[:2] == ("error", "model")
    assert verdict(ValueError("response had no choices"), model_faults=[odd])[:2] == ("failed", "agent_error")


def test_outside_the_graph_nothing_is_the_agents():
    assert verdict(KeyError("x"), in_graph=False)[:2] == ("error", "infra")
    assert verdict(TimeoutError(), in_graph=False, budget_expired=True)[:2] == ("limit", "time")


def test_the_agent_error_record_round_trips():
    record = AttemptRecord(task_id="t", epoch=0, status="failed", reason="agent_error", error="agent error: KeyError")
    assert AttemptRecord.model_validate_json(record.model_dump_json()).reason == "agent_error"
    assert AttemptRecord.model_validate({"task_id": "t", "epoch": 0, "status": "solved"}).reason is None


# -- the tracer: a call a limit cancels --------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_close_open_counts_a_cancelled_call_as_model_time():
    clock = Clock()
    tracer = Tracer(clock=clock)
    node, call, tool = uuid4(), uuid4(), uuid4()
    tracer.on_chain_start({}, {}, run_id=node, metadata={"langgraph_node": "act"}, name="act")
    clock.t = 101.0
    tracer.on_chat_model_start({}, [[HumanMessage("hi")]], run_id=call)
    tracer.on_tool_start({"name": "search"}, "q", run_id=tool)
    assert tracer.close_open(340.0) == 1
    cut = [e for e in tracer.events if isinstance(e, ModelCall)]
    assert len(cut) == 1 and cut[0].cancelled is True and cut[0].reply is None
    assert (cut[0].t_start, cut[0].t_end) == (101.0, 340.0)
    assert cut[0].prompt_tokens == cut[0].completion_tokens == 0
    assert cut[0].messages == [{"role": "human", "content": "hi"}]
    assert tracer.totals.model_time_s == pytest.approx(239.0)
    assert tracer.totals.model_calls == 0  # steps count completed calls only
    assert [e.type for e in tracer.events if getattr(e, "cancelled", False)] == ["model_call", "tool_call", "node_end"]
    # a late callback for the call already closed changes nothing
    tracer.on_llm_error(asyncio.CancelledError(), run_id=call)
    assert tracer.totals.model_time_s == pytest.approx(239.0) and len(tracer.events) == 4
    assert tracer.close_open(400.0) == 0


def test_a_cancelled_error_callback_is_a_cancelled_call_and_a_fault_is_remembered():
    clock = Clock()
    tracer = Tracer(clock=clock)
    first, second = uuid4(), uuid4()
    tracer.on_chat_model_start({}, [[HumanMessage("a")]], run_id=first)
    clock.t = 103.0
    tracer.on_llm_error(asyncio.CancelledError(), run_id=first)
    fault = ValueError("bad reply")
    tracer.on_chat_model_start({}, [[HumanMessage("b")]], run_id=second)
    clock.t = 104.0
    tracer.on_llm_error(fault, run_id=second)
    assert [e.type for e in tracer.events] == ["model_call", "error"]
    assert tracer.events[0].cancelled is True and tracer.model_faults == [fault]
    assert tracer.totals.model_time_s == pytest.approx(4.0)


# -- Retry-After ---------------------------------------------------------------------------------------

def test_retry_after_forms():
    assert retry_after_s(httpx.Response(429, headers={"retry-after": "3"})) == 3.0
    assert retry_after_s(httpx.Response(429, headers={"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    date = email.utils.formatdate(1000.0 + 7, usegmt=True)
    assert retry_after_s(httpx.Response(503, headers={"retry-after": date}), now=1000.0) == pytest.approx(7.0)
    assert retry_after_s(httpx.Response(503, headers={"retry-after": "soon"})) is None
    assert retry_after_s(httpx.Response(503)) is None
    assert retry_after_s(httpx.Response(503, headers={"retry-after": "-5"})) == 0.0


@pytest.mark.parametrize("header,cap,expected", [("0.3", 5.0, 0.3), ("120", 0.2, 0.2)])
async def test_retry_after_is_honoured_and_capped(header, cap, expected):
    statuses = [httpx.Response(429, headers={"retry-after": header}),
                httpx.Response(503, headers={"retry-after": header}), httpx.Response(200, json={})]
    seen: list[RetryInfo] = []
    transport = RetryTransport(RetryPolicy(retries=3, backoff_initial_s=10.0, backoff_max_s=cap),
                               httpx.MockTransport(lambda request: statuses.pop(0)), seen.append)
    async with httpx.AsyncClient(transport=transport) as client:
        t0 = time.monotonic()
        resp = await client.post("http://test/v1/chat/completions", json={})
        elapsed = time.monotonic() - t0
    assert resp.status_code == 200
    assert [(r.reason, r.wait_s) for r in seen] == [("HTTP 429", expected), ("HTTP 503", expected)]
    assert 2 * expected <= elapsed < 2 * expected + 0.5  # it waited what the server asked (capped), not 10 s


async def test_without_retry_after_the_backoff_applies():
    statuses = [httpx.Response(500), httpx.Response(200)]
    seen: list[RetryInfo] = []
    transport = RetryTransport(RetryPolicy(retries=1, backoff_initial_s=0.001, backoff_max_s=0.01),
                               httpx.MockTransport(lambda request: statuses.pop(0)), seen.append)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get("http://test/x")).status_code == 200
    assert len(seen) == 1 and seen[0].wait_s <= 0.01


# -- ids and run names that would be paths -------------------------------------------------------------

@pytest.mark.parametrize("bad", ["../../etc", "a/b", "a\\b", "x\x00y", "..", ".", ".hidden", "", "  ", "tab\tid",
                                 "line\nbreak", "c:evil", "a" * 201, " padded"])
def test_unsafe_ids_are_named(bad):
    assert unsafe_id_reason(bad)


@pytest.mark.parametrize("good", ["gm-l1-001", "django__django-11099", "chartjs__Chart.js-1234",
                                  "c61d22de-5f6f-4958-a7f6-5e9707bd3466", "task 1", "naïve-ü"])
def test_safe_ids_pass(good):
    assert unsafe_id_reason(good) is None


def test_gaia_rejects_a_path_unsafe_task_id_naming_file_line_and_field(tmp_path):
    rows = [{"task_id": "ok-1", "Question": "q?", "Level": 1, "Final answer": "1"},
            {"task_id": "../../outside", "Question": "q?", "Level": 1, "Final answer": "1"}]
    (tmp_path / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(SuiteError) as err:
        load_gaia(tmp_path)
    message = str(err.value)
    assert f"{tmp_path / 'metadata.jsonl'}:2" in message and "'task_id'" in message and "'/'" in message


ROW = {"repo": "acme/widget", "instance_id": "acme__widget-1", "base_commit": "a" * 40, "patch": "", "test_patch": "",
       "problem_statement": "widgets break", "version": "1.0", "FAIL_TO_PASS": [], "PASS_TO_PASS": [],
       "environment_setup_commit": "b" * 40}


def test_swebench_rejects_a_path_unsafe_instance_id(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(ROW) + "\n" + json.dumps({**ROW, "instance_id": "acme/../../x\x00"}) + "\n")
    with pytest.raises(SuiteError) as err:
        parse_rows(path)
    assert f"{path}:2" in str(err.value) and "'instance_id'" in str(err.value)


def test_a_run_name_that_is_not_a_folder_name_is_a_config_error(tmp_path):
    cfg = load_experiment(ROOT / "experiments" / "demo.yaml", ["name=../../elsewhere"])
    with pytest.raises(ConfigError, match=r"name: .*'/'"):
        new_run_dir(cfg, None)
    with pytest.raises(ConfigError):
        new_run_dir(cfg, tmp_path / "out")  # the name is rejected wherever the folder comes from
    ok = load_experiment(ROOT / "experiments" / "demo.yaml", ["name=demo-2"])
    assert new_run_dir(ok, None).name.startswith("demo-2-") and new_run_dir(ok, None).parent == Path("runs")


# -- the suite check of --resume -----------------------------------------------------------------------

def qa(task_id: str, answer: str = "42") -> Task:
    return Task(id=task_id, kind="qa", prompt=f"{task_id}?", expected=TaskExpected(answer=answer))


def test_suite_changes_name_ids_and_content():
    stored = suite_meta("s", Path("/s"), [qa("a"), qa("b"), qa("c")])
    assert suite_changes(stored, [qa("a"), qa("b"), qa("c")]) == {"added": [], "removed": [], "changed": []}
    changes = suite_changes(stored, [qa("a"), qa("b", answer="41"), qa("d")])
    assert changes == {"added": ["d"], "removed": ["c"], "changed": ["b"]}
    assert describe_changes(changes) == "added: d; removed: c; changed: b"
    legacy = {"name": "s", "tasks": ["a", "b"]}  # a run from before hashes: ids only
    assert suite_changes(legacy, [qa("a"), qa("b", answer="0")]) == {"added": [], "removed": [], "changed": []}


def test_a_task_without_a_swe_spec_hashes_as_before_task_swe():
    """A run started before Task.swe (#23) resumes: its stored hash (made then) is what task_hash says now."""
    assert task_hash(qa("a")) == "e763293bd8f09188"


def test_task_hash_follows_attachment_content_not_location(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        (folder / "data.csv").write_text("x,y\n1,2\n")
    a = qa("t").model_copy(update={"inputs": qa("t").inputs.model_copy(update={"files": [one / "data.csv"]})})
    b = qa("t").model_copy(update={"inputs": qa("t").inputs.model_copy(update={"files": [two / "data.csv"]})})
    assert task_hash(a) == task_hash(b)
    (two / "data.csv").write_text("x,y\n1,3\n")
    assert task_hash(a) != task_hash(b)


def test_auth_message_names_the_endpoint_and_the_key_variable():
    text = auth_message("http://127.0.0.1:1/v1", "MY_KEY", "HTTP 401 to GET /models")
    assert "http://127.0.0.1:1/v1" in text and "model.api_key_env is MY_KEY" in text and "$MY_KEY" in text
    assert "model.api_key_env is not set" in auth_message("http://x/v1", None, "HTTP 401")


# -- show prints what the run recorded as plain text ---------------------------------------------------

MARKUP = "[/] [bold red]not a style[/bold red] [link=file:///etc]x[/link] [/nope]"


def event(seq: int, type_: str, **fields) -> Event:
    return CLASSES[type_](seq=seq, t_start=1.0, t_end=2.0, node="act[/]", **fields)


def test_show_escapes_everything_from_the_run():
    events = [
        event(0, "node_end", error=MARKUP),
        event(1, "model_call", messages=[{"role": "human", "content": MARKUP}], reply={"content": MARKUP},
              prompt_tokens=1, completion_tokens=2),
        event(2, "model_call", messages=[], reply=None, prompt_tokens=0, completion_tokens=0, cancelled=True),
        event(3, "sandbox_exec", command=MARKUP, stdout=MARKUP, stderr=MARKUP, exit_code=0),
        event(4, "error", source="agent", error=MARKUP, traceback=MARKUP),
        event(5, "retry", reason=MARKUP),
        event(6, "score", passed=False, details={"expected": MARKUP}),
        event(7, "attempt_end", status="failed", note=MARKUP),
    ]
    record = AttemptRecord(task_id="t[/]", epoch=0, status="failed", reason="agent_error", answer=MARKUP,
                           error=MARKUP)
    console = Console(record=True, width=300, color_system=None)
    print_trace(record, events, console, full=True)
    text = console.export_text()
    assert text.count("[bold red]not a style[/bold red]") >= 8  # printed as written, not interpreted
    assert "t[/]" in text and "act[/]" in text and "CANCELLED" in text and "(agent_error)" in text
    for e in events:  # each renders on its own too, truncated or not
        Console(file=open("/dev/null", "w")).print(render_event(e, False))


def test_the_run_summary_table_prints_model_text_as_written():
    from agentbench.report.terminal import print_summary

    attempts = [AttemptRecord(task_id="t[/]", epoch=0, status="limit", answer="[/INST] 42", error="[/] cut"),
                AttemptRecord(task_id="u", epoch=0, status="solved", answer="[bold]x[/bold]")]
    summary = {"solved": 1, "failed": 0, "limit": 1, "error": 0, "attempts": 2}
    console = Console(record=True, width=300, color_system=None)
    print_summary(summary, attempts, console)
    text = console.export_text()
    assert "[/INST] 42" in text and "[/] cut" in text and "[bold]x[/bold]" in text and "t[/]" in text


def test_an_executor_error_reaches_the_caller_as_raised_not_in_a_group(tmp_path):
    """The executor runs in the runner's task group: its RunError (no Docker engine here: the unit lane's
    DOCKER_HOST points nowhere) must come out as itself, so the CLI prints one `error:` line (exit 2)."""
    from agentbench.runner.errors import RunError
    from agentbench.runner.runner import Runner

    cfg = load_experiment(ROOT / "experiments" / "demo.yaml",
                          ["graph=oracle", "sandbox.backend=docker", "suite.limit=1", "name=no-engine"])
    with pytest.raises(RunError, match="no Docker engine answers"):
        asyncio.run(Runner(cfg, tmp_path / "run").run())
