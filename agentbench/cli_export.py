"""`agentbench export ...`: a finished run's store written in another tool's format. Each command reads
the run folder (readers of the store, never writers) through agentbench/export/; heavy imports happen
inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from agentbench.cli_common import console, fail, open_store

export_app = typer.Typer(help="Write a finished run in another tool's format (OTLP traces, Inspect AI "
                              "logs, Parquet tables).", no_args_is_help=True)


@export_app.command("inspect")
def inspect_log(
    run_dir: Annotated[Path, typer.Argument(help="a run folder")],
    out: Annotated[Optional[Path], typer.Option(help="folder for the log (Inspect's own file naming), or a "
                                                     "file ending in .eval (default RUN_DIR/exports/inspect)")]
    = None,
) -> None:
    """An Inspect AI log (.eval) of the run: one sample per (task, epoch), epochs counted from 1, accuracy =
    agentbench's completion rate. Open it with `inspect view --log-dir FOLDER`. Needs the inspect extra:
    `pip install 'agentbench\\[inspect]'`."""
    from agentbench.export.inspect_log import InspectMissing, write_inspect_log

    store = open_store(run_dir)
    try:
        path = write_inspect_log(store, out if out is not None else run_dir / "exports" / "inspect")
    except (InspectMissing, OSError) as exc:
        fail(exc)
    finally:
        store.close()
    console.print(f"inspect log: {path}", highlight=False, soft_wrap=True)


@export_app.command("parquet")
def parquet_tables(
    run_dir: Annotated[Path, typer.Argument(help="a run folder")],
    out: Annotated[Optional[Path], typer.Option(help="folder for attempts.parquet and events.parquet "
                                                     "(default RUN_DIR/exports/parquet)")] = None,
) -> None:
    """attempts.parquet (every try, `latest` marks the one agentbench counts) and events.parquet (every
    traced event), for pandas, Polars or DuckDB. Columns: docs/exports.md."""
    from agentbench.export.parquet import write_parquet

    store = open_store(run_dir)
    try:
        paths = write_parquet(store, out if out is not None else run_dir / "exports" / "parquet")
    except OSError as exc:
        fail(exc)
    finally:
        store.close()
    for path in paths:
        console.print(f"parquet: {path}", highlight=False, soft_wrap=True)


@export_app.command("otel")
def otel_traces(
    run_dir: Annotated[Path, typer.Argument(help="a run folder")],
    endpoint: Annotated[Optional[str], typer.Option(help="the OTLP/HTTP collector, e.g. http://127.0.0.1:6006 "
                                                         "(Phoenix) or http://host:4318 (default: the run's "
                                                         "tracing.otlp_endpoint)")] = None,
    content: Annotated[Optional[bool], typer.Option("--content/--no-content", help="also prompts, replies and "
                                                    "command output, redacted (default: the run's "
                                                    "tracing.export_content)")] = None,
    service_name: Annotated[Optional[str], typer.Option(help="service.name and Phoenix project (default: the "
                                                             "run's tracing.service_name)")] = None,
) -> None:
    """Send the run's traces to an OpenTelemetry collector over OTLP/HTTP: one trace per try, with the
    recorded timestamps and the same ids as the live export (docs/tracing.md). Collector headers (auth)
    come from OTEL_EXPORTER_OTLP_HEADERS / OTEL_EXPORTER_OTLP_TRACES_HEADERS."""
    from agentbench.export.otel import ExportError, export_run

    store = open_store(run_dir)
    try:
        url = endpoint or ((store.meta("config") or {}).get("tracing") or {}).get("otlp_endpoint")
        if not url or "***" in url:
            fail(ValueError(f"{run_dir}: no collector to send to: pass --endpoint URL (the run's "
                            "tracing.otlp_endpoint is not set, or its password was masked when stored)"))
        if not url.startswith(("http://", "https://")):
            fail(ValueError(f"--endpoint {url!r} is not an http:// or https:// URL (OTLP over HTTP)"))
        stats = export_run(store, url, content=content, service_name=service_name)
    except ExportError as exc:
        fail(exc)
    finally:
        store.close()
    from agentbench.redact import split_userinfo

    console.print(f"otel: {stats.traces} traces, {stats.spans} spans sent to {split_userinfo(url)[0]} in "
                  f"{stats.seconds:.1f} s",
                  highlight=False, soft_wrap=True)
