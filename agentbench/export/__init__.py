"""Exporters: readers of a finished run's store (`attempts()`, `events()`, `meta()`) that write files in
other tools' formats into the run folder. They never write the store and are never called from the runner
or the attempt; the run's outputs (report/outputs.py) call them after the summary.

- `swebench`: `predictions.jsonl` and `swebench/<instance_id>/report.json`, for the official harness.
- `inspect_log` (with `inspect_map`, `inspect_conversation`): an Inspect AI `.eval` log (`agentbench export
  inspect`); `parquet`: attempts and events as Parquet tables (`agentbench export parquet`); both read
  through `store_rows`. See README.md here and docs/exports.md.
- `otel_spans` / `otlp_wire` / `otel`: OTLP traces (`agentbench export otel`); `otel_live`: the live export
  sink the runner feeds when `tracing.otlp_endpoint` is set (docs/tracing.md).
"""
