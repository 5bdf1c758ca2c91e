"""The Inspect AI export on a small real store: the conversation rebuilt from model calls, the mapping
of statuses to scores, errors, limits and retries, the results' accuracy against agentbench's completion
rate, and a round trip through inspect_ai's own reader. Secrets never reach the file."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import zipfile

import pytest

from agentbench.events import ModelCall
from agentbench.export.inspect_conversation import conversation, final, prompt_of
from agentbench.export.inspect_log import build_log, eval_id, log_file_name, results, write_inspect_log
from agentbench.export.inspect_map import NO_PROMPT, chat_messages, model_name
from agentbench.metrics import completion_rate
from agentbench.protocols import AttemptRecord
from agentbench.redact import MASK

from .export_store import PROMPT, SECRET, SHOT_Q, make_store, open_export_store


def model_calls(fields: list[dict]) -> list[ModelCall]:
    return [ModelCall(seq=i, t_start=float(i), t_end=i + 1.0, **f) for i, f in enumerate(fields)]


def _h(text):
    return {"role": "human", "content": text}


def _ai(text, **extra):
    return {"role": "ai", "content": text, **extra}


def test_a_growing_chat_is_pooled_once_and_repeats_are_kept():
    sys_ = {"role": "system", "content": "S"}
    calls = [{"messages": [sys_, _h("task")], "reply": _ai("ls")},
             {"messages": [sys_, _h("task"), _ai("ls"), _h("out")], "reply": _ai("ls")},
             {"messages": [sys_, _h("task"), _ai("ls"), _h("out"), _ai("ls"), _h("out")], "reply": _ai("done")}]
    conv = conversation(model_calls(calls))
    assert [m["content"] for m in conv.messages] == ["S", "task", "ls", "out", "ls", "out", "done"]
    assert conv.prompts == [[0, 1], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5]]
    assert conv.replies == [2, 4, 6]
    assert final(conv) == [0, 1, 2, 3, 4, 5, 6]


def test_a_new_system_prompt_and_a_trimmed_history_lose_nothing():
    calls = [{"messages": [{"role": "system", "content": "plan"}, _h("task")], "reply": _ai("1. look")},
             {"messages": [{"role": "system", "content": "act"}, _h("task")], "reply": _ai("ls")},
             {"messages": [{"role": "system", "content": "act"}, _h("[dropped] task"), _ai("ls")], "reply": None,
              "cancelled": True}]
    conv = conversation(model_calls(calls))
    assert [m["content"] for m in conv.messages] == ["plan", "task", "1. look", "act", "ls", "[dropped] task"]
    assert conv.replies == [2, 4, None]
    assert [conv.messages[i]["content"] for i in final(conv)] == ["act", "[dropped] task", "ls"]  # no reply: cut off


def test_the_prompt_is_the_last_user_message_of_the_first_call():
    conv = conversation(model_calls([{"messages": [{"role": "system", "content": "S"}, _h(SHOT_Q), _ai("x"),
                                                   _h(PROMPT)], "reply": _ai("y")}]))
    assert prompt_of(conv) == PROMPT
    assert prompt_of(conversation([])) is None


def test_tool_messages_answer_the_calls_before_them():
    conv = conversation(model_calls([
        {"messages": [_h("go")], "reply": _ai("", tool_calls=[{"name": "bash", "args": {"command": "ls"}},
                                                              {"name": "python", "args": {"code": "1"}}])},
        {"messages": [_h("go"), _ai("", tool_calls=[{"name": "bash", "args": {"command": "ls"}},
                                                    {"name": "python", "args": {"code": "1"}}]),
                      {"role": "tool", "content": "a"}, {"role": "tool", "content": "1"}], "reply": _ai("done")}]))
    chat = chat_messages(conv, "openai/tiny", str, lambda v: v)
    assert [m.role for m in chat] == ["user", "assistant", "tool", "tool", "assistant"]
    calls = chat[1].tool_calls
    assert [(c.function, c.arguments) for c in calls] == [("bash", {"command": "ls"}), ("python", {"code": "1"})]
    assert [chat[2].tool_call_id, chat[3].tool_call_id] == [calls[0].id, calls[1].id]
    assert chat[3].function == "python" and chat[4].model == "openai/tiny"
    assert len({m.id for m in chat}) == len(chat)


def test_model_names():
    assert model_name({"provider": "openai", "served_model_name": "tiny"}) == "openai/tiny"
    assert model_name({"provider": "none", "served_model_name": "(graph uses no model)"}) == "none/none"
    assert model_name({}) == "none/none"


def _rec(task, epoch, status):
    return AttemptRecord(task_id=task, epoch=epoch, status=status)


@pytest.mark.parametrize("statuses", [
    [("a", 0, "solved"), ("a", 1, "error"), ("b", 0, "failed"), ("b", 1, "solved"), ("c", 0, "limit")],
    [("a", 0, "solved"), ("b", 0, "failed"), ("c", 0, "solved")],
])
def test_accuracy_is_agentbench_completion_rate(statuses):
    records = [_rec(*s) for s in statuses]
    result, (reduction,) = results(records)
    (score,) = result.scores
    assert score.metrics["accuracy"].value == pytest.approx(completion_rate(records))
    assert result.completed_samples == sum(r.status != "error" for r in records)
    assert result.total_samples == len(records)
    by_task = {s.sample_id: s.value for s in reduction.samples}
    b = [r for r in records if r.task_id == "b"]
    assert by_task["a"] == 1.0 and by_task["b"] == pytest.approx(sum(r.status == "solved" for r in b) / len(b))


def test_no_scored_attempt_has_no_accuracy():
    result, (reduction,) = results([_rec("a", 0, "error")])
    assert result.scores[0].metrics == {} and math.isnan(reduction.samples[0].value)


def test_the_log_maps_every_attempt(tmp_path):
    make_store(tmp_path / "run").close()
    store = open_export_store(tmp_path / "run")
    log = build_log(store)
    assert log.status == "success" and log.eval.task == "unit_suite" and log.eval.model == "openai/tiny"
    assert log.eval.config.epochs == 2 and log.eval.dataset.samples == 2 and log.eval.solver == "planning"
    assert log.eval.eval_id == eval_id("0123abcd") and "-" not in log.eval.eval_id
    samples = {(s.id, s.epoch): s for s in log.samples}
    assert sorted(samples) == [("t1", 1), ("t1", 2), ("t2", 1), ("t2", 2)]  # 1-based epochs
    ok, wrong, limited, broken = samples[("t1", 1)], samples[("t1", 2)], samples[("t2", 1)], samples[("t2", 2)]
    assert [s.scores["agentbench"].value for s in (ok, wrong, limited)] == ["C", "I", "I"]
    assert math.isnan(broken.scores["agentbench"].value) and broken.error.message.startswith("APIConnectionError")
    assert "Traceback" in broken.error.traceback and ok.error is None
    assert limited.limit.type == "turn" and limited.limit.limit == 3 and limited.scores["agentbench"].metadata[
        "reason"] == "steps"
    assert limited.error_retries and limited.error_retries[0].message.startswith("APIConnectionError")
    assert ok.model_usage["openai/tiny"].input_tokens == 50 and ok.model_usage["openai/tiny"].total_tokens == 60
    assert ok.input == PROMPT.replace(SECRET, MASK) and ok.target == "1" and ok.output.completion == "FINAL ANSWER: 1"
    assert broken.input == NO_PROMPT
    # the conversation as it ended: system, the few-shot pair, the task, two turns with equal observations
    assert [m.role for m in ok.messages] == ["system", "user", "assistant", "user", "assistant", "user",
                                             "assistant", "user", "assistant"]
    assert ok.messages[-1].text == "FINAL ANSWER: 1"
    types = [type(e).__name__ for e in ok.events]
    assert types.count("ModelEvent") == 3 and types.count("SandboxEvent") == 2
    assert types.count("SpanBeginEvent") == types.count("SpanEndEvent") == 3
    model_events = [e for e in ok.events if type(e).__name__ == "ModelEvent"]
    assert sum(e.output.usage.input_tokens for e in model_events) == 50
    assert [len(e.input) for e in model_events] == [4, 6, 8]
    assert [m.role for m in wrong.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert wrong.messages[3].tool_call_id == wrong.messages[2].tool_calls[0].id
    assert log.results.scores[0].metrics["accuracy"].value == pytest.approx(1 / 3)
    assert log.stats.model_usage["openai/tiny"].total_tokens == 60 + 29 + 7
    assert [r.sample_id for r in log.reductions[0].samples] == ["t1", "t2"]


def test_written_log_reads_back_and_holds_no_secret(tmp_path):
    from inspect_ai.log import list_eval_logs, read_eval_log, read_eval_log_sample_summaries  # (2 s to import)

    make_store(tmp_path / "run").close()
    store = open_export_store(tmp_path / "run")
    path = write_inspect_log(store, tmp_path / "out")
    assert path.parent == tmp_path / "out" and path.name == log_file_name(build_log(store))
    log = read_eval_log(str(path))
    assert len(log.samples) == 4 and log.results.scores[0].metrics["accuracy"].value == pytest.approx(1 / 3)
    (info,) = list_eval_logs(str(tmp_path / "out"))
    # Inspect's listing parses its own file naming (`_` in a task name becomes `-` there, as in Inspect's)
    assert info.task == "unit-suite" and info.task_id == log.eval.eval_id and log.eval.task == "unit_suite"
    summaries = read_eval_log_sample_summaries(str(path))
    assert sorted((s.id, s.epoch) for s in summaries) == [("t1", 1), ("t1", 2), ("t2", 1), ("t2", 2)]
    assert {s.id: s.error for s in summaries if s.error} == {"t2": "APIConnectionError: Connection error."}
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:  # the store holds it: the export masks it
        assert db.execute("SELECT COUNT(*) FROM event WHERE instr(payload, ?) > 0", (SECRET,)).fetchone()[0] > 0
    with zipfile.ZipFile(path) as z:
        blob = b"".join(z.read(n) for n in z.namelist())
    assert SECRET.encode() not in blob and MASK.encode() in blob
    again = write_inspect_log(store, tmp_path / "named.eval")
    assert again == tmp_path / "named.eval" and read_eval_log(str(again)).eval.eval_id == log.eval.eval_id


def test_without_inspect_ai_the_command_names_the_install(tmp_path):
    """Fault injection: inspect_ai made unimportable in a child process running the real CLI."""
    make_store(tmp_path / "run").close()
    code = ("import sys; sys.modules['inspect_ai'] = None; from agentbench.cli import app; "
            f"app(['export', 'inspect', {str(tmp_path / 'run')!r}], prog_name='agentbench')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: Inspect AI export needs the inspect_ai package: pip install 'agentbench[inspect]'"]
    assert not (tmp_path / "run" / "exports").exists()
