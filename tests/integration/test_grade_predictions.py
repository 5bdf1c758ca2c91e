"""`agentbench grade` in real Docker on swe-mini: the gold patches, as another agent's predictions.jsonl,
resolve every instance with the official report fields (the same test results as the oracle's run, as
`tasks validate`'s gold check demands); empty and non-diff patches in a preds.json resolve none, with the
harness's fields; and `compare` pairs the graded run with an ordinary `agentbench run` of the suite."""

from __future__ import annotations

import json
from pathlib import Path

from agentbench.store import RunStore

from .conftest import ROOT, run_cli

MINI = ROOT / "tasks" / "swe-mini"
EXPERIMENT = str(ROOT / "experiments" / "swe-mini.yaml")
OFFICIAL_FIELDS = {"patch_is_None", "patch_exists", "patch_successfully_applied", "resolved", "tests_status"}


def _rows() -> list[dict]:
    return [json.loads(line) for line in (MINI / "instances.jsonl").read_text().splitlines() if line.strip()]


def _report(run: Path, instance_id: str) -> dict:
    report = json.loads((run / "swebench" / instance_id / "report.json").read_text())
    assert list(report) == [instance_id]
    return report[instance_id]


def test_gold_predictions_resolve_all_as_the_oracle_does_and_compare_pairs_the_runs(tmp_path):
    rows = _rows()
    preds = tmp_path / "predictions.jsonl"
    preds.write_text("".join(json.dumps({"instance_id": r["instance_id"], "model_name_or_path": "acme/gold-agent",
                                         "model_patch": r["patch"]}) + "\n" for r in rows))
    graded = tmp_path / "graded"
    proc = run_cli("grade", str(preds), "--suite", "swe-mini", "--out", str(graded), "--quiet", timeout=1800)
    assert f"resolved {len(rows)}" in proc.stdout and "incomplete 0" in proc.stdout, proc.stdout[-2000:]
    summary = json.loads((graded / "summary.json").read_text())
    assert summary["attempts"] == len(rows) and summary["completion_rate"] == 1.0, summary["per_task"]
    assert summary["model"] == "acme/gold-agent" and summary["graph"] == "predictions"
    assert summary["tokens_total"] == 0 and summary["model_calls"] == 0
    assert (graded / "config.yaml").exists() and (graded / "report.html").exists()
    exported = [json.loads(line) for line in (graded / "predictions.jsonl").read_text().splitlines()]
    by_id = {r["instance_id"]: r["patch"] for r in rows}
    assert {(p["instance_id"], p["model_name_or_path"], p["model_patch"]) for p in exported} == {
        (i, "acme/gold-agent", patch) for i, patch in by_id.items()}  # the patches graded are those submitted

    oracle = tmp_path / "oracle"
    run_cli("run", EXPERIMENT, "--out", str(oracle), "--quiet", "--set", "graph=oracle", timeout=1800)
    for instance_id in by_id:
        mine, theirs = _report(graded, instance_id), _report(oracle, instance_id)
        assert set(mine) == OFFICIAL_FIELDS and mine["resolved"] is True and mine["patch_successfully_applied"]
        assert mine["tests_status"] == theirs["tests_status"], instance_id

    proc = run_cli("compare", str(oracle), str(graded))
    assert f"{len(rows)} shared attempts: solved in both {len(rows)}" in proc.stdout, proc.stdout[-3000:]
    assert "predictions · acme/gold-agent" in proc.stdout and "config graph: 'oracle' → 'predictions'" in proc.stdout
    assert json.loads((oracle / "compare.json").read_text())


def test_empty_and_non_diff_patches_resolve_none_with_the_harness_fields(tmp_path):
    ids = [r["instance_id"] for r in _rows()][:3]
    patches = {ids[0]: "", ids[1]: None, ids[2]: "I could not fix this, sorry.\n"}
    preds = tmp_path / "preds.json"  # SWE-agent's form: an object keyed by instance_id
    preds.write_text(json.dumps({i: {"instance_id": i, "model_name_or_path": "acme/lazy", "model_patch": p}
                                 for i, p in patches.items()}))
    out = tmp_path / "graded"
    proc = run_cli("grade", str(preds), "--suite", "swe-mini", "--out", str(out), "--quiet",
                   "--set", "run.env_check=off", timeout=1800)
    assert "Traceback" not in proc.stderr
    assert "5 selected instance(s) have no prediction" in " ".join(proc.stderr.split())
    counts = "total 8 · submitted 3 · incomplete 5 · graded 3 · resolved 0 · unresolved 3 · empty patch 2 · " \
             "patch does not apply 1 · error 0"
    assert counts in proc.stdout, proc.stdout[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attempts"] == 3 and summary["completion_rate"] == 0.0 and summary["error"] == 0
    for instance_id in ids[:2]:
        assert {k: v for k, v in _report(out, instance_id).items()} == {
            "patch_is_None": True, "patch_exists": False, "patch_successfully_applied": False, "resolved": False}
    assert _report(out, ids[2]) == {"patch_is_None": False, "patch_exists": True,
                                    "patch_successfully_applied": False, "resolved": False}
    store = RunStore(out / "run.sqlite")
    try:
        reasons = {a.task_id: a.score.details["failure_reason"] for a in store.attempts()}
        meta = store.meta("predictions")
    finally:
        store.close()
    assert reasons == {ids[0]: "empty_patch", ids[1]: "empty_patch", ids[2]: "patch_does_not_apply"}
    assert meta["format"] == "json-object" and meta["graded"] == ids and len(meta["missing"]) == 5
