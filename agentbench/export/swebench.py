"""SWE-bench's own formats from a run's store, to cross-check with the official harness: `predictions.jsonl`
(instance_id, model_name_or_path `MODEL+GRAPH`, model_patch) and `swebench/<instance_id>/report.json` (the
official report fields of each graded instance). Only swe attempts with a patch or a grading report take part, the
latest try of epoch 0 of each instance; a run without any writes nothing."""

from __future__ import annotations

from pathlib import Path

from agentbench.protocols import AttemptRecord
from agentbench.store import RunStore

PREDICTIONS_NAME = "predictions.jsonl"
REPORTS_DIR = "swebench"
REPORT_FIELDS = ("patch_is_None", "patch_exists", "patch_successfully_applied", "resolved", "tests_status")


def model_name(store: RunStore) -> str:
    """`MODEL+GRAPH` (`smollm2-135m-instruct+planning`): the model as summary.json names it (the served name,
    else the configured one; `none` when the graph uses no model) and the graph's label (ours by name, a file
    by its stem, a module by its dotted name; the configured reference for a run that stored no `graph` meta).
    A run `agentbench grade` made keeps the predictions' own model_name_or_path."""
    identity = store.meta("model_identity") or {}
    if identity.get("provider") == "predictions" and identity.get("served_model_name"):
        return identity["served_model_name"]
    config = store.meta("config") or {}
    model = ("none" if identity.get("provider") == "none" else identity.get("served_model_name")
             or (config.get("model") or {}).get("name") or "agentbench")
    graph = (store.meta("graph") or {}).get("label") or config.get("graph")
    return f"{model}+{graph}" if graph else model


def swebench_exports(attempts: list[AttemptRecord], model_name: str) -> tuple[list[dict], dict[str, dict]]:
    """SWE-bench's formats for the swe attempts (the latest epoch 0 try of each instance): prediction rows
    (instance_id, model_name_or_path, model_patch) and per-instance reports with the official fields."""
    predictions, reports = [], {}
    for a in sorted(attempts, key=lambda a: (a.task_id, a.epoch)):
        report = (a.score.details.get("report") if a.score else None)
        if a.epoch != 0 or (report is None and a.patch is None):
            continue
        predictions.append({"instance_id": a.task_id, "model_name_or_path": model_name, "model_patch": a.patch})
        if report is not None:
            reports[a.task_id] = {k: report[k] for k in REPORT_FIELDS if k in report}
    return predictions, reports


def write_swebench_exports(run_dir: Path, store: RunStore, attempts: list[AttemptRecord] | None = None) -> list[Path]:
    """Write predictions.jsonl and swebench/<instance_id>/report.json into `run_dir` (`attempts`: the store's,
    when already read); the paths written, none for a run without swe attempts."""
    attempts = store.attempts() if attempts is None else attempts
    predictions, reports = swebench_exports(attempts, model_name(store))
    if not predictions:
        return []
    run_dir, redactor = Path(run_dir), store.redactor  # secrets masked (agentbench.redact)
    written = [run_dir / PREDICTIONS_NAME]
    written[0].write_text("".join(redactor.dumps(p) + "\n" for p in predictions))
    for instance_id, report in reports.items():
        folder = run_dir / REPORTS_DIR / instance_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.json").write_text(redactor.dumps({instance_id: report}, indent=2))
        written.append(folder / "report.json")
    return written
