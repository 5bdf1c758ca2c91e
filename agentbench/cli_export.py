"""`agentbench export ...`: a finished run's store written in another tool's format. Each command reads
the run folder (readers of the store, never writers) through agentbench/export/; heavy imports happen
inside the commands."""

from __future__ import annotations

import typer

export_app = typer.Typer(help="Write a finished run in another tool's format (OTLP traces, Inspect AI "
                              "logs, Parquet tables).", no_args_is_help=True)
