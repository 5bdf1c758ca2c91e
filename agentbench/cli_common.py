"""What every command module of the CLI shares: the two consoles (results on stdout, progress and errors
on stderr), the user-facing error types, failing with exit code 2, and opening a run folder's store.

Piped to a file (no terminal) and without $COLUMNS, a console is `LOG_WIDTH` (100) columns wide, and the
tables keep one line per row (`report.tables`); `print_lines` leaves plain lines unbroken there.

Imports only typer, rich and report.tables (rich alone) at module level (the command line starts fast);
imported by cli.py and cli_compare.py, it imports neither.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

import typer
from rich.console import Console, RenderableType
from rich.text import Text

from agentbench.report.tables import LOG_WIDTH

if TYPE_CHECKING:
    from agentbench.store import RunStore


def console_width(stream: TextIO, environ: Mapping[str, str] = os.environ) -> int | None:
    """None (rich measures the terminal, or reads $COLUMNS) on a terminal or with $COLUMNS set; else
    LOG_WIDTH, rather than rich's 80."""
    isatty = getattr(stream, "isatty", None)
    return None if environ.get("COLUMNS") or (isatty is not None and isatty()) else LOG_WIDTH


console = Console(width=console_width(sys.stdout))
err_console = Console(stderr=True, width=console_width(sys.stderr))


def print_lines(parts: Iterable[RenderableType], to: Console | None = None) -> None:
    """Print renderables (a `str` is markup); a plain line (`str`, `Text`) is not broken when the output is not
    a terminal, so a path or a command in it stays whole in a log (a terminal wraps it as it shows it)."""
    out = to or console
    for part in parts:
        out.print(part, soft_wrap=isinstance(part, (str, Text)) and not out.is_terminal, highlight=False)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a command reports as a one-line error (bad config, suite, endpoint, graph...)."""
    from agentbench.config.loader import ConfigError
    from agentbench.models.embedded import SetupError
    from agentbench.models.endpoint import EndpointError
    from agentbench.models.server import ServerStartError
    from agentbench.runner.graph_loader import GraphLoadError
    from agentbench.runner.runner import RunError
    from agentbench.suites.errors import SuiteError

    return (ConfigError, SuiteError, EndpointError, ServerStartError, RunError, GraphLoadError, SetupError)


def fail(exc: BaseException) -> NoReturn:
    """Print `error: EXC` on stderr and exit with code 2."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    raise typer.Exit(2)


def open_store(run_dir: Path) -> RunStore:
    """The run folder's store; exit 2 with a message when the folder holds no run."""
    from agentbench.store import DB_NAME, RunStore

    if not (run_dir / DB_NAME).exists():
        err_console.print(f"[bold red]error:[/] {run_dir}: not a run folder (no {DB_NAME})")
        raise typer.Exit(2)
    return RunStore.in_dir(run_dir)
