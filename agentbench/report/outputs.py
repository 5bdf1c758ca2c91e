"""A finished run's output files: `summary.json`, the exports (`agentbench.export`: SWE-bench's
`predictions.jsonl` and per-instance reports) and `report.html`, written from one read of the store's
attempts. Used by `agentbench run`, `report` and `compare` and by every cell of `agentbench sweep`.

`report.html` keeps the comparison section of a run that was `compare`'s baseline: it is rendered from the
run folder's compare.json whenever the page is written.

The report modules are imported when the outputs are written, not at import (they pull in numpy, scipy and
matplotlib; the command line imports this module at start-up).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentbench.protocols import AttemptRecord
    from agentbench.store import RunStore


def write_run_outputs(run_dir: Path, store: RunStore) -> tuple[dict[str, Any], list[AttemptRecord], Path]:
    """A finished run's summary.json, its exports and report.html, from one read of the attempts:
    (the summary, the attempts, report.html's path)."""
    from agentbench.export.swebench import write_swebench_exports
    from agentbench.report.summary import write_summary

    attempts = store.attempts()
    summary = write_summary(run_dir, store, attempts)
    write_swebench_exports(run_dir, store, attempts)
    return summary, attempts, write_report(run_dir, store, summary, attempts)


def write_report(run_dir: Path, store: RunStore, summary: dict[str, Any] | None = None,
                 records: list[AttemptRecord] | None = None, note: Callable[[str], Any] = lambda text: None) -> Path:
    """report.html (`report.html.write_html_report`), with the comparison section when the folder holds a
    compare.json; one that cannot be read is told to `note` and left out. Its path."""
    from agentbench.analysis.html import compare_html_section
    from agentbench.analysis.io import read_compare
    from agentbench.analysis.results import CompareError
    from agentbench.report.html import write_html_report

    try:
        compared = read_compare(run_dir)
    except CompareError as exc:
        note(f"{exc}; report.html is written without the comparison (run `agentbench compare` again)")
        compared = None
    sections = () if compared is None else (compare_html_section(compared, relative_to=run_dir),)
    return write_html_report(run_dir, store, summary, extra_sections=sections, records=records)
