"""A finished run as one Inspect AI log (`.eval`), which `inspect view` opens and `inspect_ai.log.read_eval_log`
reads: the run is the eval, each (task, epoch) — its newest try — a sample (inspect_map.py has the
per-sample mapping).

- `eval`: `task` = the suite, `model` = the run's model identity as `provider/name` (`none/none` for a
  graph without a model), `solver` = the graph and its params, `config.epochs` = the run's epochs,
  `dataset.samples` = its task count, `config` limits = agentbench's limits, `metadata.agentbench` = the
  stored config (secrets already masked), model identity, sandbox backend and host.
- Epochs are 1-based in Inspect: agentbench's epoch 0 is Inspect's epoch 1.
- `results`: one score, `agentbench`, whose `accuracy` is agentbench's completion rate —
  solved / (solved + failed + limit), pooled over every attempt (task × epoch), `error` attempts left out
  (docs/metrics.md, `metrics.completion_rate`); it is what summary.json calls `completion_rate`. No
  accuracy metric when no attempt was scored. `reductions`: per task, the mean over its scored epochs
  (Inspect's `mean` reducer); with the same number of scored epochs per task, Inspect's own recomputation
  (`recompute_metrics`) gives the same accuracy, with uneven errors its task-first mean can differ.
  `completed_samples` counts the non-error attempts.
- `stats`: the run's start and end and the token totals of all samples, errors included.
- `status`: `success` (a finished run; a partial one exports what it holds).

Every string passes the store's redactor. inspect_ai is imported inside the functions: without it,
`InspectMissing` says what to install.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbench.export.inspect_map import SCORER, model_name, sample, when
from agentbench.export.store_rows import TryRow, tries
from agentbench.metrics import completion_ci, completion_ci_method, completion_rate, count_status
from agentbench.protocols import AttemptRecord, Limits
from agentbench.store import RunStore

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog

INSTALL = "pip install 'agentbench[inspect]'"


class InspectMissing(RuntimeError):
    """inspect_ai is not installed."""


def require_inspect() -> None:
    try:
        import inspect_ai.log  # noqa: F401
    except ImportError as exc:
        raise InspectMissing(f"Inspect AI export needs the inspect_ai package: {INSTALL}") from exc


def _limits(config: dict[str, Any]) -> Limits:
    try:
        return Limits.model_validate(config.get("limits") or {})
    except ValueError:  # a config from another agentbench version: its limits as far as they fit
        fields = Limits.model_fields
        return Limits.model_validate({k: v for k, v in (config.get("limits") or {}).items() if k in fields})


def eval_id(run_uid: str) -> str:
    """A stable Inspect eval id for the run (22 hex characters, no `-`: Inspect's file names split on it)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"agentbench:{run_uid}").hex[:22]


def results(latest: list[AttemptRecord]):
    """Inspect results and per-task reductions whose accuracy is agentbench's completion rate."""
    from inspect_ai.log import EvalMetric, EvalResults, EvalSampleReductions, EvalSampleScore, EvalScore

    rate = completion_rate(latest)
    counts = count_status(latest)
    scored = len(latest) - counts["error"]
    low, high = completion_ci(latest)
    metrics = {"accuracy": EvalMetric(name="accuracy", value=rate)} if rate is not None else {}
    by_task: dict[str, list[AttemptRecord]] = defaultdict(list)
    for a in latest:
        by_task[a.task_id].append(a)
    reduced = []
    for task_id, group in sorted(by_task.items()):
        ok = [a for a in group if a.status != "error"]
        value = sum(a.status == "solved" for a in ok) / len(ok) if ok else float("nan")
        reduced.append(EvalSampleScore(value=value, sample_id=task_id))
    summary = {"completion_rate": rate, "completion_ci95": [low, high],
               "completion_ci95_method": completion_ci_method(latest), **counts,
               "accuracy": "agentbench completion rate: solved / (solved + failed + limit) over all attempts; "
                           "error attempts excluded (docs/metrics.md)"}
    score = EvalScore(name=SCORER, scorer=SCORER, reducer="mean", scored_samples=scored,
                      unscored_samples=counts["error"], metrics=metrics, metadata=summary)
    out = EvalResults(total_samples=len(latest), completed_samples=scored, scores=[score],
                      metadata={"agentbench": summary})
    return out, [EvalSampleReductions(scorer=SCORER, reducer="mean", samples=reduced)]


def build_log(store: RunStore) -> EvalLog:
    """The run's Inspect log, samples included (reads the store; writes nothing)."""
    from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalPlan, EvalPlanStep, EvalSpec, EvalStats
    from inspect_ai.model import GenerateConfig

    r = store.redactor
    config = store.meta("config") or {}
    identity = store.meta("model_identity") or {}
    suite = store.meta("suite") or {}
    run_id = str(store.meta("run_id") or store.path.parent.name)
    run_uid = str(store.meta("run_uid") or run_id)
    model = r.text(model_name(identity))
    limits = _limits(config)
    rows = tries(store)
    older: dict[tuple[str, int], list[AttemptRecord]] = defaultdict(list)
    latest: list[TryRow] = []
    for row in rows:
        if row.latest:
            latest.append(row)
        else:
            older[(row.task_id, row.epoch)].append(row.record)
    samples = [sample(row.id, row.record, list(store.events(row.id)), row.t_start, row.t_end, model=model,
                      limits=limits, run_uid=run_uid, text=r.text, value=r.value,
                      retries=older.get((row.task_id, row.epoch), []))
               for row in sorted(latest, key=lambda row: (row.epoch, row.task_id))]
    records = [row.record for row in latest]
    task_ids = list(suite.get("tasks") or sorted({row.task_id for row in rows}))
    run = config.get("run") or {}
    model_cfg = config.get("model") or {}
    epochs = int(run.get("epochs") or (max((row.epoch for row in rows), default=0) + 1))
    started = store.meta("started_at") or min((row.t_start for row in rows), default=0.0)
    finished = store.meta("finished_at") or max((row.t_end for row in rows), default=started)
    graph = str(config.get("graph") or "graph")
    params = r.value(config.get("graph_params") or {})
    spec = EvalSpec(
        eval_id=eval_id(run_uid), run_id=run_uid, created=when(started).isoformat(),
        task=r.text(str(suite.get("name") or "agentbench")), task_id=r.text(run_id),
        task_display_name=r.text(f"{suite.get('name') or 'agentbench'} · {graph}"), solver=r.text(graph),
        solver_args=params, tags=["agentbench"],
        dataset=EvalDataset(name=r.text(str(suite.get("name") or "")) or None, samples=len(task_ids),
                            sample_ids=[r.text(str(t)) for t in task_ids]),
        model=model, model_base_url=r.text(str(identity["base_url"])) if identity.get("base_url") else None,
        model_generate_config=GenerateConfig(temperature=model_cfg.get("temperature"), top_p=model_cfg.get("top_p"),
                                             max_tokens=model_cfg.get("max_tokens"), seed=run.get("seed")),
        config=EvalConfig(epochs=epochs, epochs_reducer=["mean"], token_limit=limits.max_tokens,
                          time_limit=int(limits.timeout_s), max_samples=run.get("concurrency"), fail_on_error=False),
        packages={str(k): str(v) for k, v in (store.meta("versions") or {}).items()},
        metadata=r.value({"agentbench": {"run_id": run_id, "config": config, "model_identity": identity,
                                         "sandbox_backend": store.meta("sandbox_backend"),
                                         "host": store.meta("host"), "wall_clock_s": store.meta("wall_clock_s")}}),
    )
    result, reductions = results(records)
    prompt = sum(a.totals.usage.prompt_tokens for a in records)
    completion = sum(a.totals.usage.completion_tokens for a in records)
    from inspect_ai.model import ModelUsage

    usage = {model: ModelUsage(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)}
    stats = EvalStats(started_at=when(started).isoformat(), completed_at=when(finished).isoformat(),
                      model_usage=usage if model != "none/none" or prompt + completion else {})
    plan = EvalPlan(name="agentbench", steps=[EvalPlanStep(solver=r.text(graph), params=params)])
    log = EvalLog(status="success", eval=spec, plan=plan, results=result, stats=stats, samples=samples)
    log.reductions = reductions  # set after: EvalLog's validator expects them as dicts beside plain results
    return log


def log_file_name(log: EvalLog) -> str:
    """Inspect's own naming, `<created>_<task>_<eval id>.eval`, so its listings parse it."""
    created = log.eval.created[:19].replace(":", "-")
    task = "".join(c if c.isalnum() or c == "-" else "-" for c in log.eval.task) or "agentbench"
    return f"{created}+00-00_{task}_{log.eval.eval_id}.eval"


def write_inspect_log(store: RunStore, out: Path) -> Path:
    """Write the run's `.eval` log: into the folder `out`, under Inspect's naming, or to `out` itself when it
    ends in `.eval`. Returns the path written."""
    require_inspect()
    from inspect_ai.log import write_eval_log

    log = build_log(store)
    out = Path(out)
    path = out if out.suffix == ".eval" else out / log_file_name(log)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_eval_log(log, str(path), format="eval")
    return path
