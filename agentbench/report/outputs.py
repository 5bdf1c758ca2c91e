"""A finished run's output files: `summary.json`, the exports (`agentbench.export`: SWE-bench's
`predictions.jsonl` and per-instance reports) and `report.html`, written from one read of the store's
attempts. Used by `agentbench run` and by every cell of `agentbench sweep`.

The report modules are imported when the outputs are written, not at import (they pull in numpy, scipy and
matplotlib; the command line imports this module at start-up).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentbench.protocols import AttemptRecord
    from agentbench.store import RunStore


def write_run_outputs(run_dir: Path, store: RunStore) -> tuple[dict[str, Any], list[AttemptRecord], Path]:
    """A finished run's summary.json, its exports and report.html, from one read of the attempts:
    (the summary, the attempts, report.html's path)."""
    from agentbench.export.swebench import write_swebench_exports
    from agentbench.report.html import write_html_report
    from agentbench.report.summary import write_summary

    attempts = store.attempts()
    summary = write_summary(run_dir, store, attempts)
    write_swebench_exports(run_dir, store, attempts)
    return summary, attempts, write_html_report(run_dir, store, summary, records=attempts)
