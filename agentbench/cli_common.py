"""What every command module of the CLI shares: the two consoles (results on stdout, progress and errors
on stderr), the user-facing error types, failing with exit code 2, and opening a run folder's store.

No secret reaches the terminal: both consoles are `RedactingConsole`s, which put every message (each
printed string or Text before rich lays it out, so a wrapped line cannot split a secret, and what they write
after) through `terminal`, a Redactor of agentbench.redact (the one pass everything a run writes goes
through). It knows, from the first message on, the values of environment variables with secret-looking
names and the secrets of the command line's `--set` overrides; a command that reads an experiment
(`run`) adds the experiment's (`terminal.learn`). Its patterns mask URL userinfo, `Bearer …`, `sk-…`,
`HF_TOKEN=…` and the like whatever their source. `redacting_log_handler` does the same for `logging`.

Piped to a file (no terminal) and without $COLUMNS, a console is `LOG_WIDTH` (100) columns wide, and the
tables keep one line per row (`report.tables`); `print_lines` leaves plain lines unbroken there.

Imports only typer, rich and report.tables (rich alone) at module level (the command line starts fast);
imported by cli.py and cli_compare.py, it imports neither.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import typer
from rich.console import Console, RenderableType
from rich.text import Text

from agentbench.report.tables import LOG_WIDTH

if TYPE_CHECKING:
    from agentbench.redact import Redactor
    from agentbench.store import RunStore


def console_width(stream: TextIO, environ: Mapping[str, str] = os.environ) -> int | None:
    """None (rich measures the terminal, or reads $COLUMNS) on a terminal or with $COLUMNS set; else
    LOG_WIDTH, rather than rich's 80."""
    isatty = getattr(stream, "isatty", None)
    return None if environ.get("COLUMNS") or (isatty is not None and isatty()) else LOG_WIDTH


def set_values(argv: list[str]) -> list[str]:
    """The `--set` overrides of a command line (`--set K=V` and `--set=K=V`)."""
    out = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--set"]
    return out + [arg.removeprefix("--set=") for arg in argv if arg.startswith("--set=")]


def input_secrets(experiment: Path | None, overrides: list[str]) -> set[str]:
    """The secrets an experiment file and `--set` overrides hold, read leniently before (or without) validation,
    so that a config error never echoes them: the file's YAML (when it parses) with the overrides applied
    (each one that parses), by `redact.config_secrets`; an override that does not parse and whose key names a
    secret (a secret field or a secret-looking key) gives its raw value."""
    from agentbench.config.loader import ConfigError, apply_override, parse_override
    from agentbench.redact import SECRET_KEY, config_secrets, secret_fields
    from agentbench.safe_parse import ParseError, read_text, yaml_text

    data: dict[str, Any] = {}
    if experiment is not None:
        try:
            loaded = yaml_text(read_text(Path(experiment)))
            data = loaded if isinstance(loaded, dict) else {}
        except (OSError, ParseError, ValueError):
            pass
    raw: set[str] = set()
    secret_paths = [".".join(path) for path, kind in secret_fields() if kind != "env"]
    for text in overrides:
        try:
            data = apply_override(data, *parse_override(text))
        except ConfigError:
            key, _, value = text.partition("=")
            if SECRET_KEY.search(key.split(".")[-1]) or any(key.startswith(p) for p in secret_paths):
                raw.update({value, value.strip("[]{}'\" ")})
    return raw | config_secrets(data)


class TerminalRedaction:
    """The Redactor the terminal goes through (see the module doc); built at its first use, not at import."""

    def __init__(self, argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._argv, self._environ = argv, environ
        self._redactor: Redactor | None = None

    @property
    def redactor(self) -> Redactor:
        if self._redactor is None:
            from agentbench.redact import Redactor, environ_secrets

            overrides = set_values(sys.argv[1:] if self._argv is None else self._argv)
            self._redactor = Redactor(environ_secrets(self._environ)
                                      | (input_secrets(None, overrides) if overrides else set()))
        return self._redactor

    def learn(self, secrets: Iterable[str]) -> None:
        """Mask these too from now on (an experiment's secrets, once a command has read it)."""
        from agentbench.redact import Redactor

        self._redactor = Redactor(self.redactor.secrets.union(secrets))

    def text(self, text: str) -> str:
        return self.redactor.text(text)


terminal = TerminalRedaction()


def _masked(obj: Any) -> Any:
    """A printed string (markup or plain) or Text with its secrets masked; other renderables as they are (what
    they render is masked as it is written)."""
    if isinstance(obj, str):
        return terminal.text(obj)
    if isinstance(obj, Text):
        plain = terminal.text(obj.plain)
        return obj if plain == obj.plain else Text(plain, style=obj.style, justify=obj.justify, end=obj.end)
    return obj


class _RedactedFile:
    """The console's stream, every write masked; anything else (isatty, fileno, flush) is the stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(terminal.text(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class RedactingConsole(Console):
    """A rich Console whose output goes through `terminal` (see the module doc)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(_masked(o) for o in objects), **kwargs)

    def log(self, *objects: Any, **kwargs: Any) -> None:
        super().log(*(_masked(o) for o in objects), **kwargs)

    @property  # type: ignore[override]
    def file(self) -> TextIO:
        return _RedactedFile(Console.file.fget(self))  # type: ignore[attr-defined, return-value]

    @file.setter
    def file(self, new_file: TextIO) -> None:
        Console.file.fset(self, new_file)  # type: ignore[attr-defined]


def redacting_log_handler() -> logging.Handler:
    """A stderr logging handler whose every record is masked by `terminal`."""

    class Handler(logging.StreamHandler):
        def format(self, record: logging.LogRecord) -> str:
            return terminal.text(super().format(record))

    return Handler()


console = RedactingConsole(width=console_width(sys.stdout))
err_console = RedactingConsole(stderr=True, width=console_width(sys.stderr))


def print_lines(parts: Iterable[RenderableType], to: Console | None = None) -> None:
    """Print renderables (a `str` is markup); a plain line (`str`, `Text`) is not broken when the output is not
    a terminal, so a path or a command in it stays whole in a log (a terminal wraps it as it shows it)."""
    out = to or console
    for part in parts:
        out.print(part, soft_wrap=isinstance(part, (str, Text)) and not out.is_terminal, highlight=False)


# The exceptions a command reports as a one-line error, by module: an instance can only exist once its
# module is imported, so only those already imported are looked at (a config error is reported without
# importing the runner, the model client or the sandbox first).
_USER_ERRORS = (("agentbench.config.loader", "ConfigError"), ("agentbench.suites.errors", "SuiteError"),
                ("agentbench.models.endpoint", "EndpointError"), ("agentbench.models.server", "ServerStartError"),
                ("agentbench.runner.errors", "RunError"), ("agentbench.runner.graph_loader", "GraphLoadError"),
                ("agentbench.models.embedded", "SetupError"), ("agentbench.sandbox.provider", "SandboxUnavailable"))


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a command reports as a one-line error (bad config, suite, endpoint, graph...)."""
    return tuple(getattr(sys.modules[module], name) for module, name in _USER_ERRORS if module in sys.modules)


def fail(exc: BaseException) -> NoReturn:
    """Print `error: EXC` on stderr and exit with code 2."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(terminal.text(str(exc)))}", highlight=False)  # before escape
    raise typer.Exit(2)


def open_store(run_dir: Path) -> RunStore:
    """The run folder's store; exit 2 with a message when the folder holds no run."""
    from agentbench.store import DB_NAME, RunStore

    if not (run_dir / DB_NAME).exists():
        err_console.print(f"[bold red]error:[/] {run_dir}: not a run folder (no {DB_NAME})")
        raise typer.Exit(2)
    return RunStore.in_dir(run_dir)
