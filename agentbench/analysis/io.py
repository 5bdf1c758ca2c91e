"""The files of compare, sweep and duel: reading run stores (a compared run, a sweep cell), the sweep folder's
`plan.json`, a duel folder's `duel.json` (read with its runs), and writing `compare.json`, `sweep.json` and
`duel.json`.

The only I/O of `agentbench.analysis`; nothing here writes into a run's store. Errors are CompareError /
SweepError naming the folder or file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from agentbench.analysis.duel import ARMS, DuelRecord
from agentbench.analysis.results import (Cell, CellData, CompareError, CompareResult, LoadedRun, SweepError,
                                         SweepPlan, SweepResult)
from agentbench.redact import Redactor
from agentbench.store import DB_NAME, RunStore

COMPARE_NAME = "compare.json"
DUEL_NAME = "duel.json"
PLAN_NAME = "plan.json"
SWEEP_NAME = "sweep.json"


# ---- compare ---------------------------------------------------------------------------------------

def load_run(run_dir: Path) -> LoadedRun:
    """Read a run folder's store; CompareError naming the folder when it is missing or unreadable."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CompareError(f"{run_dir}: no such run folder")
    if not (run_dir / DB_NAME).is_file():
        raise CompareError(f"{run_dir}: not a run folder (no {DB_NAME})")
    duel = _duel_of(run_dir)
    try:
        store = RunStore.in_dir(run_dir)
        try:
            config = store.meta("config") or {}
            identity = store.meta("model_identity") or {}
            return LoadedRun(
                path=str(run_dir), abs_path=str(run_dir.resolve()), run_id=store.meta("run_id"),
                graph=config.get("graph"),
                model=identity.get("served_model_name") or (config.get("model") or {}).get("name"),
                suite=(store.meta("suite") or {}).get("name"), config=config, graph_identity=store.meta("graph"),
                attempts=store.attempts(),
                attempt_ids={(r["task_id"], r["epoch"]): r["id"] for r in store.attempt_rows()},
                **duel)
        finally:
            store.close()
    except (sqlite3.Error, ValidationError, ValueError) as exc:
        raise CompareError(f"{run_dir}: unreadable run store {run_dir / DB_NAME} ({exc})") from None


def _duel_of(run_dir: Path) -> dict:
    """`duel` and `duel_arm` of a run that is one of a duel's (DUEL/a or DUEL/b beside DUEL/duel.json)."""
    resolved = run_dir.resolve()
    if resolved.name not in ARMS:
        return {}
    duel = read_duel(resolved.parent)
    return {} if duel is None else {"duel": duel, "duel_arm": resolved.name}


def read_duel(duel_dir: Path) -> DuelRecord | None:
    """The duel folder's duel.json, or None when it has none; CompareError naming the file when it cannot be
    read as one."""
    path = Path(duel_dir) / DUEL_NAME
    if not path.is_file():
        return None
    try:
        return DuelRecord.model_validate_json(path.read_text())
    except (OSError, ValueError) as exc:
        raise CompareError(f"{path}: unreadable duel record ({str(exc).splitlines()[0]})") from None


def write_duel(duel_dir: Path, record: DuelRecord, redactor: Redactor | None = None) -> Path:
    """duel.json in the duel folder (written whole, then renamed: a reader never sees half of it), its
    secrets (in the overrides) masked; its path."""
    path = Path(duel_dir) / DUEL_NAME
    text = (redactor or Redactor()).json_text(record.model_dump_json(indent=2), indent=2)
    partial = path.with_name(DUEL_NAME + ".partial")
    partial.write_text(text)
    partial.replace(path)
    return path


def run_redactor(run_dirs: Sequence[str | Path]) -> Redactor:
    """The secrets of these runs (their stored configs and the environment; agentbench.redact), merged."""
    redactors = []
    for run_dir in dict.fromkeys(str(d) for d in run_dirs):
        if (Path(run_dir) / DB_NAME).is_file():
            store = RunStore.in_dir(Path(run_dir))
            try:
                redactors.append(store.redactor)
            finally:
                store.close()
    return Redactor().merge(*redactors)


def write_compare(result: CompareResult, paths: Sequence[Path]) -> None:
    """Write the comparison as JSON to each path in order (compare.json in the baseline folder, then
    `--json`), its secrets masked; CompareError naming the first path that cannot be written."""
    redactor = run_redactor([run.abs_path for c in result.comparisons for run in (c.a, c.b)])
    text = redactor.json_text(result.model_dump_json(indent=2), indent=2)
    for path in paths:
        try:
            path.write_text(text)
        except OSError as exc:
            raise CompareError(f"{path}: cannot write the comparison ({exc.strerror or exc})") from None


def read_compare(run_dir: Path) -> CompareResult | None:
    """The run folder's compare.json (this run was `compare`'s baseline), or None when it has none;
    CompareError naming the file when it cannot be read as one."""
    path = Path(run_dir) / COMPARE_NAME
    if not path.is_file():
        return None
    try:
        return CompareResult.model_validate_json(path.read_text())
    except (OSError, ValueError) as exc:
        raise CompareError(f"{path}: unreadable comparison ({str(exc).splitlines()[0]})") from None


# ---- sweep -----------------------------------------------------------------------------------------

def claim_sweep_dir(sweep_dir: Path, plan: SweepPlan) -> None:
    """Write the plan into a new sweep folder, or check that an existing one holds this same sweep."""
    path = Path(sweep_dir) / PLAN_NAME
    redactor = Redactor.from_config(plan.base_config)  # plan.json holds no secret (agentbench.redact)
    plan = SweepPlan.model_validate_json(redactor.json_text(
        plan.model_copy(update={"base_config": redactor.config(plan.base_config)}).model_dump_json()))
    if path.exists():
        try:
            stored = SweepPlan.model_validate_json(path.read_text())
        except ValueError as exc:
            raise SweepError(f"{sweep_dir}: unreadable sweep plan {path} ({exc})") from None
        if not stored.same_sweep(plan):
            raise SweepError(f"{sweep_dir} holds a different sweep (grid or experiment changed); rerun it with "
                             "the same experiment, --set and --grid, or choose another --out")
        return
    if Path(sweep_dir).exists() and any(Path(sweep_dir).iterdir()):
        raise SweepError(f"{sweep_dir} exists and holds no sweep ({PLAN_NAME}); choose another --out")
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    path.write_text(plan.model_dump_json(indent=2))


def load_cell(sweep_dir: Path, cell: Cell) -> CellData:
    """Read a cell's run store; SweepError when the cell has none yet or it is unreadable."""
    run_dir = Path(sweep_dir) / cell.name
    if not (run_dir / DB_NAME).is_file():
        raise SweepError(f"{run_dir}: cell {cell.label} has no run store ({DB_NAME}); run the sweep to create it")
    try:
        store = RunStore.in_dir(run_dir)
        try:
            return CellData(cell=cell, path=str(run_dir), attempts=store.attempts(),
                            run_wall_clock_s=store.meta("wall_clock_s", 0.0))
        finally:
            store.close()
    except (sqlite3.Error, ValueError) as exc:
        raise SweepError(f"{run_dir}: unreadable run store of cell {cell.label} ({exc})") from None


def write_sweep(sweep_dir: Path, result: SweepResult) -> Path:
    """sweep.json in the sweep folder; its path."""
    path = Path(sweep_dir) / SWEEP_NAME
    redactor = run_redactor([cell.path for cell in result.cells])
    path.write_text(redactor.dumps(result.model_dump(mode="json"), indent=2))
    return path
