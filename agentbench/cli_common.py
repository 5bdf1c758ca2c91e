"""What every command module of the CLI shares: the two consoles (results on stdout, progress and errors
on stderr), the user-facing error types, failing with exit code 2, and opening a run folder's store.

Imports only typer and rich at module level (the command line starts fast); imported by cli.py and
cli_compare.py, it imports neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from agentbench.store import RunStore

console = Console()
err_console = Console(stderr=True)


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
