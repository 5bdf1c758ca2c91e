"""Exporters: readers of a finished run's store (`attempts()`, `events()`, `meta()`) that write files in
other tools' formats into the run folder. They never write the store and are never called from the runner
or the attempt; the run's outputs (report/outputs.py) call them after the summary.

- `swebench`: `predictions.jsonl` and `swebench/<instance_id>/report.json`, for the official harness.
"""
