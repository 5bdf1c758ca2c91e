"""Output that survives a log: without a terminal the tables are 100 columns wide, every row stays on one
line (long cells end with `…`, the figures keep their width), and a command to copy stays whole.

Rendered into rich Consoles as the CLI's are made without a terminal (`force_terminal=False`, width 100),
from a real run store (per-task table) and real compare / sweep results; the `tasks` command and the
console width through the real command line, piped."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from agentbench.analysis.compare import compare_runs
from agentbench.analysis.results import CellData, Factor, LoadedRun
from agentbench.analysis.sweep import analyze, plan_cells
from agentbench.analysis.terminal import compare_tables, sweep_tables
from agentbench.cli_common import console_width, print_lines
from agentbench.protocols import AttemptRecord, AttemptTotals, Score, Usage
from agentbench.report.summary import build_summary
from agentbench.report.terminal import print_summary
from agentbench.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
LONG_ID = "astropy__astropy-12907-a-task-id-long-enough-to-need-clipping"
LONG_ANSWER = "The answer, after a long and winding explanation that no column of 100 can hold, is 42"
LONG_ERROR = "RuntimeError: the graph's own node raised while parsing the model's reply into a plan step"


def log_console() -> Console:
    return Console(width=100, force_terminal=False, file=io.StringIO())


def text(console: Console) -> str:
    return console.file.getvalue()  # type: ignore[attr-defined]


def body_rows(out: str) -> list[str]:
    """The body lines of every table (rich's default box: after the ┡━━ rule under its header, to └──)."""
    rows, inside = [], False
    for line in out.splitlines():
        if line.startswith(("┡", "└")):
            inside = line.startswith("┡")
        elif inside:
            rows.append(line)
    return rows


def rec(task: str, status: str, epoch: int = 0, **kw) -> AttemptRecord:
    totals = AttemptTotals(usage=Usage(prompt_tokens=123_456, completion_tokens=7), model_calls=12,
                           wall_clock_s=1234.5)
    return AttemptRecord(task_id=task, epoch=epoch, status=status, totals=totals, **kw)


def test_the_per_task_table_keeps_one_line_per_attempt_at_100_columns(tmp_path):
    store = RunStore.in_dir(tmp_path)
    store.set_meta("run_id", "a-run-" + "x" * 80)
    store.set_meta("config", {"graph": "agents/" + "deep/" * 20 + "react.py:build_graph"})
    store.set_meta("suite", {"name": "gaia-mini"})
    store.set_meta("model_identity", {"served_model_name": "meta-llama/Llama-3.1-8B-Instruct"})
    attempts = [rec(LONG_ID, "failed", answer=LONG_ANSWER,
                    score=Score(passed=False, value=0.0, details={"expected": "forty-two " * 10})),
                rec("gm-l1-001", "solved", answer="42",
                    score=Score(passed=True, value=1.0, details={"expected": "42"})),
                rec(LONG_ID, "error", epoch=1, reason="model", error=f"first line\n{LONG_ERROR}"),
                rec("gm-l1-002", "failed", reason="agent_error", error=LONG_ERROR),
                rec("gm-l1-003", "limit", reason="steps", error="steps limit reached")]
    for a in attempts:
        store.add_attempt(a, [], 0.0, 1.0)
    console = log_console()
    print_summary(build_summary(store), store.attempts(), console)
    store.close()
    out = text(console)

    assert max(len(line) for line in out.splitlines()) <= 100
    rows = body_rows(out)
    assert len(rows) == len(attempts)  # no row wrapped onto a second line
    long_rows = [row for row in rows if row.startswith("│ astropy")]
    assert len(long_rows) == 2 and all("…" in row.split("│")[1] for row in long_rows)  # the id, clipped
    failed = long_rows[0].split("│")
    assert failed[7].strip().endswith("…") and failed[7].strip()[:-1] in LONG_ANSWER  # answer, clipped
    assert failed[8].strip().endswith("…")  # expected, clipped
    assert "123,463" in long_rows[0] and "1234.5" in long_rows[0] and "│    12 │" in long_rows[0]  # figures whole
    assert all(len(line) <= 100 for line in out.splitlines()[:12])  # the head: run id and graph path clipped too


def loaded(path: str, attempts: list[AttemptRecord]) -> LoadedRun:
    return LoadedRun(path=path, abs_path="/abs/" + path, run_id=Path(path).name, graph="react", model="m",
                     suite="s", config={"graph": "react"}, attempts=attempts)


def test_compare_tables_keep_one_line_per_row_and_the_show_commands_whole():
    long_id = LONG_ID + "-and-longer-still-" + "x" * 20
    a = [rec(f"{long_id}-{i}", "solved") for i in range(3)] + [rec("t-short", "failed")]
    b = [rec(f"{long_id}-{i}", "failed") for i in range(3)] + [rec("t-short", "solved"), rec("only-b", "failed")]
    path_a, path_b = "runs/" + "a" * 60, "runs/" + "b" * 60
    result = compare_runs([loaded(path_a, a), loaded(path_b, b)], n_resamples=50)
    console = log_console()
    print_lines(compare_tables(result), to=console)
    out = text(console)

    tables = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    assert tables and max(len(line) for line in tables) <= 100
    rows = body_rows(out)
    assert len(rows) == 4 + 4 + 1  # metrics, flipped, reported apart: one line each
    assert sum(row.startswith("│ astropy") and "…" in row for row in rows) == 3
    show = f"agentbench show {path_a} {long_id}-0 --epoch 0"
    assert len(show) > 100 and any(line.strip() == show for line in out.splitlines())  # whole, on one line


def test_sweep_cells_are_named_by_their_values_on_one_line():
    factors = [Factor(key="model.temperature", levels=["0.0", "0.7"]), Factor(key="graph", levels=["planning",
                                                                                                    "react"])]
    cells = [CellData(cell=cell, path=f"sweep/{cell.name}",
                      attempts=[rec(f"t{i}", "solved" if i < n else "failed") for i in range(5)])
             for n, cell in enumerate(plan_cells(factors), 1)]
    result = analyze(factors, cells, "runs/sweep-x", n_resamples=50)
    assert [c.label for c in result.cells] == ["temperature=0.0 · graph=planning", "temperature=0.0 · graph=react",
                                               "temperature=0.7 · graph=planning", "temperature=0.7 · graph=react"]
    console = log_console()
    print_lines(sweep_tables(result), to=console)
    out = text(console)
    rows = body_rows(out)
    assert max(len(line) for line in out.splitlines() if line[:1] in "┏┃┡│└") <= 100
    assert len(rows) == 4 + 3 * 3  # the cells; per metric: 2 main effects and 1 interaction
    assert [row.split("│")[1].strip() for row in rows[:4]] == [c.label for c in result.cells]  # not `model.…`
    assert "│ temperature=0.7 × graph=react " in out and "│ graph=react (vs planning) " in out


@pytest.mark.parametrize("isatty, columns, width", [(False, None, 100), (False, "180", None), (True, None, None),
                                                    (False, "", 100)])
def test_console_width_without_a_terminal(isatty, columns, width):
    stream = io.StringIO()
    stream.isatty = lambda: isatty  # type: ignore[method-assign]
    assert console_width(stream, {} if columns is None else {"COLUMNS": columns}) == width


def test_the_tasks_list_piped_to_a_file_is_100_columns_one_line_a_task():
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.run([sys.executable, "-m", "agentbench", "tasks", "swe-mini"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    lines = proc.stdout.splitlines()
    rows = body_rows(proc.stdout)
    assert len(rows) == 8 and max(len(line) for line in lines) == 100  # the table spans the 100 columns
    assert "│ agentbench-fixtures__confini-11 " in rows[0] and rows[0].rstrip("│ ").endswith("…")  # ids whole
