"""`agentbench grade`'s pure parts: SWE-bench predictions files read as the official harness reads them
(predictions.jsonl, preds.json as an object or a list), every malformed input a message naming the file,
the line or entry and the field (exit 2, no traceback), matching to a suite, the run's config, the
outcome taken from the file, and the harness's tallies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentbench.cli import app
from agentbench.protocols import AgentContext, AttemptRecord, Limits, Score, Task
from agentbench.runner.grade import GRAPH, PredictedScorer, harness_counts, plan_grade, run_name
from agentbench.suites.predictions import (PredictionsError, Predictions, match_suite, missing_note,
                                           parse_predictions, read_predictions)
from agentbench.suites.loader import load_suite
from agentbench.testing.chat import FakeTools, run_graph
from agentbench.graphs import predictions as predictions_graph

DIFF = "diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-a\n+b\n"
MINI = [t.id for t in load_suite("swe-mini")[1]]
ROOT = Path(__file__).resolve().parents[2]


def row(iid: str, patch: str | None = DIFF, model: str | None = "sweagent__gpt-4o") -> dict:
    return {"instance_id": iid, "model_name_or_path": model, "model_patch": patch}


def jsonl(*rows: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


# -- the three formats ----------------------------------------------------------------------------------

def test_jsonl_one_object_a_line_blank_lines_skipped():
    p = parse_predictions(jsonl(row("a"), row("b", "")) + "\n\n" + json.dumps(row("c", None)), "p.jsonl", "jsonl")
    assert p.format == "jsonl" and p.model == "sweagent__gpt-4o"
    assert [(i.instance_id, i.where, i.empty) for i in p.items] == [("a", "line 1", False), ("b", "line 2", True),
                                                                    ("c", "line 5", True)]
    assert p.patches() == {"a": DIFF, "b": "", "c": None}


def test_preds_json_keyed_by_instance_id_and_as_a_list():
    keyed = {"a": row("a"), "b": {"model_name_or_path": "m", "model_patch": DIFF}}  # an entry may omit its id
    p = parse_predictions(json.dumps({"a": row("a", model="m"), "b": keyed["b"]}), "preds.json", "json")
    assert p.format == "json-object" and p.model == "m" and [i.instance_id for i in p.items] == ["a", "b"]
    listed = parse_predictions(json.dumps([row("a"), row("b")]), "preds.json", "json")
    assert listed.format == "json-list" and [i.where for i in listed.items] == ["item 1", "item 2"]


def test_without_a_model_name_the_file_stem_names_the_model_and_extra_keys_are_ignored():
    p = parse_predictions(jsonl({"instance_id": "a", "model_patch": DIFF, "cost": 1.5}), "/x/all_preds.jsonl", "jsonl")
    assert p.model == "all_preds"


def test_read_predictions_picks_the_format_by_suffix_and_hashes_the_text(tmp_path):
    (tmp_path / "p.jsonl").write_text(jsonl(row("a")))
    (tmp_path / "p.json").write_text(json.dumps({"a": row("a")}))
    a, b = read_predictions(tmp_path / "p.jsonl"), read_predictions(tmp_path / "p.json")
    assert (a.format, b.format) == ("jsonl", "json-object")
    assert a.sha256 != b.sha256 and len(a.sha256) == 16


# -- malformed input: file, line or entry, field ---------------------------------------------------------

@pytest.mark.parametrize("text, fmt, expected", [
    ('{"instance_id": "a", "model_patch": ""}\n{"instance_id": "b", \n', "jsonl", "p:2: not valid JSON"),
    (jsonl(row("a"), {"model_patch": DIFF}), "jsonl", "p:2: field 'instance_id': missing"),
    (jsonl({"instance_id": 7, "model_patch": DIFF}), "jsonl", "p:1: field 'instance_id': expected a non-empty string"),
    (jsonl({"instance_id": "a"}), "jsonl", "p:1: field 'model_patch': missing"),
    (jsonl(row("a"), {"instance_id": "b", "model_patch": ["x"]}), "jsonl",
     "p:2: field 'model_patch': expected a string or null, got list"),
    (jsonl({"instance_id": "a", "model_patch": "", "model_name_or_path": 3}), "jsonl",
     "p:1: field 'model_name_or_path': expected a string or null"),
    (jsonl(row("a"), row("b"), row("a")), "jsonl", "p:3: field 'instance_id': 'a' is predicted twice (also at line 1)"),
    (jsonl(row("a", model="m1"), row("b", model="m2")), "jsonl", "p:2: field 'model_name_or_path': 'm2' differs from "
                                                                 "'m1' (line 1)"),
    ("[1, 2]\n", "jsonl", "p:1: expected a JSON object with instance_id and model_patch, got list"),
    ("\n\n", "jsonl", "p: no predictions in it"),
    (json.dumps({"a": row("b")}), "json", "p: entry 'a': field 'instance_id': 'b' differs from the entry's key 'a'"),
    (json.dumps([row("a"), "diff"]), "json", "p: item 2: expected a JSON object"),
    (json.dumps("diff"), "json", "p: expected a JSON object keyed by instance_id or a JSON list"),
    (jsonl(row("a"), row("b")), "json", "p: not valid JSON: Extra data"),
    ("{}", "json", "p: no predictions in it"),
])
def test_a_malformed_file_is_one_error_naming_file_place_and_field(text, fmt, expected):
    with pytest.raises(PredictionsError) as info:
        parse_predictions(text, "p", fmt)
    assert str(info.value).startswith(expected), str(info.value)


def test_json_lines_named_json_get_a_hint_and_a_missing_file_is_named(tmp_path):
    (tmp_path / "preds.json").write_text(jsonl(row("a"), row("b")))
    with pytest.raises(PredictionsError, match=r"name the file \.jsonl"):
        read_predictions(tmp_path / "preds.json")
    with pytest.raises(PredictionsError, match="no such predictions file"):
        read_predictions(tmp_path / "absent.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe")
    with pytest.raises(PredictionsError, match="bin.jsonl: not UTF-8"):
        read_predictions(tmp_path / "bin.jsonl")


# -- matching to the suite -------------------------------------------------------------------------------

def preds(*ids: str) -> Predictions:
    return parse_predictions(jsonl(*(row(i) for i in ids)), "p.jsonl", "jsonl")


def test_match_grades_the_selected_predicted_instances_in_suite_order():
    match = match_suite(preds("c", "a", "d"), "s", ["a", "b", "c", "d"], ["a", "b", "c"])
    assert match.graded == ["a", "c"] and match.missing == ["b"] and match.not_selected == ["d"]
    assert "1 selected instance(s) have no prediction" in missing_note(match) and "incomplete" in missing_note(match)
    assert missing_note(match_suite(preds("a"), "s", ["a"], ["a"])) is None


def test_an_instance_the_suite_lacks_is_an_error_naming_its_line():
    with pytest.raises(PredictionsError, match=r"p.jsonl: field 'instance_id': 1 not in suite s \(2 instances\): "
                                                r"zz \(line 2\)"):
        match_suite(preds("a", "zz"), "s", ["a", "b"], ["a", "b"])


def test_no_prediction_for_any_selected_instance_is_an_error():
    with pytest.raises(PredictionsError, match="none of its 1 predictions"):
        match_suite(preds("b"), "s", ["a", "b"], ["a"])


# -- the run's config and parts --------------------------------------------------------------------------

def test_plan_narrows_the_suite_names_the_model_and_pins_the_file(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text(jsonl(row(MINI[3], model="org/model v2"), row(MINI[0], "", model=None)))
    plan = plan_grade(path, "swe-mini", ["run.concurrency=2"])
    cfg = plan.cfg
    assert cfg.graph == GRAPH and cfg.model.name == "org/model v2" and cfg.run.concurrency == 2
    assert cfg.suite.ids == [MINI[0], MINI[3]] and cfg.name == "grade-org-model-v2" == run_name("org/model v2")
    assert cfg.graph_params == {"predictions": str(path.resolve()), "predictions_sha256": plan.predictions.sha256}
    assert plan.match.missing == [i for i in MINI if i not in (MINI[0], MINI[3])]
    assert plan.identity()["provider"] == "predictions" and plan.identity()["served_model_name"] == "org/model v2"
    assert plan.provenance()["empty"] == [MINI[0]]
    narrowed = plan_grade(path, "swe-mini", [f"suite.ids=[{MINI[3]}]", "name=mine"])
    assert narrowed.cfg.suite.ids == [MINI[3]] and narrowed.match.not_selected == [MINI[0]]
    assert narrowed.cfg.name == "mine"
    path.write_text(jsonl(*(row(i) for i in MINI)))
    assert plan_grade(path, "swe-mini").cfg.suite.ids == []  # all predicted: the suite as it is


@pytest.mark.parametrize("override, message", [("graph=coding", "the graph is `predictions`"),
                                               ("graph_params.k=1", "the graph is `predictions`"),
                                               ("run.executor=ray", "run.executor must be local"),
                                               ("run.concurrency=0", "run.concurrency")])
def test_plan_refuses_what_grade_cannot_do(tmp_path, override, message):
    path = tmp_path / "p.jsonl"
    path.write_text(jsonl(row(MINI[0])))
    with pytest.raises(ValueError, match=message):
        plan_grade(path, "swe-mini", [override])


def test_a_qa_suite_is_refused(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(jsonl(row("x")))
    with pytest.raises(ValueError, match="no SWE-bench instances"):
        plan_grade(path, "gaia-mini")


async def test_the_outcome_is_the_prediction_as_submitted_not_the_sandbox():
    scorer = PredictedScorer(sandboxes=None, patches={"a": DIFF, "b": "  \n", "c": None})  # collect opens nothing
    task = lambda i: Task(id=i, kind="swe", prompt="fix")  # noqa: E731
    assert (await scorer.collect(task("a"), sandbox=None)).patch == DIFF
    assert (await scorer.collect(task("b"), sandbox=None)).patch is None
    assert (await scorer.collect(task("c"), sandbox=None)).patch is None


async def test_the_predictions_graph_calls_nothing_and_refuses_to_run_outside_grade():
    task = Task(id="a", kind="swe", prompt="fix")
    tools = FakeTools()
    ctx = AgentContext(model=None, tools=tools, task=task, limits=Limits(), params={"predictions": "/p.jsonl"})
    final, _ = await run_graph(predictions_graph.build_graph(ctx), ctx)
    assert final.get("answer") is None and tools.calls == []
    alone = AgentContext(model=None, tools=tools, task=task, limits=Limits(), params={})
    with pytest.raises(ValueError, match="agentbench grade"):
        await run_graph(predictions_graph.build_graph(alone), alone)
    assert predictions_graph.build_graph.uses_model is False


def test_harness_counts_follow_the_official_tallies(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(jsonl(*(row(i) for i in MINI[:5])))
    plan = plan_grade(path, "swe-mini")
    why = lambda reason: Score(passed=False, details={"failure_reason": reason})  # noqa: E731
    records = [AttemptRecord(task_id=MINI[0], epoch=0, status="solved", score=Score(passed=True)),
               AttemptRecord(task_id=MINI[1], epoch=0, status="failed", score=why("empty_patch")),
               AttemptRecord(task_id=MINI[2], epoch=0, status="failed", score=why("patch_does_not_apply")),
               AttemptRecord(task_id=MINI[3], epoch=0, status="failed", score=Score(passed=False)),
               AttemptRecord(task_id=MINI[4], epoch=0, status="error", reason="environment", error="x")]
    assert harness_counts(plan, records) == {"total": 8, "submitted": 5, "incomplete": 3, "graded": 5, "resolved": 1,
                                             "unresolved": 3, "empty_patch": 1, "patch_does_not_apply": 1, "error": 1}


# -- the command: bad input exits 2 with one line, no traceback ------------------------------------------

@pytest.mark.parametrize("content, expected", [
    ('{"instance_id": "x", "model_patch": ""}\nnot json\n', "preds.jsonl:2: not valid JSON"),
    ('{"instance_id": "agentbench-fixtures__nope-1", "model_patch": ""}\n', "field 'instance_id': 1 not in suite"),
    ('{"instance_id": 3, "model_patch": ""}\n', "preds.jsonl:1: field 'instance_id'"),
])
def test_grade_exits_2_naming_the_problem(tmp_path, content, expected):
    path = tmp_path / "preds.jsonl"
    path.write_text(content)
    result = CliRunner().invoke(app, ["grade", str(path), "--suite", "swe-mini", "--out", str(tmp_path / "run")],
                                env={"COLUMNS": "400"})
    assert result.exit_code == 2, result.output
    assert "".join(expected.split()) in "".join(result.output.split()) and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_run_refuses_the_predictions_graph_it_has_no_patches_for(tmp_path):
    result = CliRunner().invoke(app, ["run", str(ROOT / "experiments" / "swe-mini.yaml"), "--set", "graph=predictions",
                                      "--out", str(tmp_path / "run")], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and "agentbench grade" in result.output, result.output
    assert not (tmp_path / "run").exists()
