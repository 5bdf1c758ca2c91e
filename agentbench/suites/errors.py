"""The one error type of agentbench.suites: bad suite data or an unknown suite, reported to the user."""

from __future__ import annotations

from pathlib import Path


class SuiteError(ValueError):
    """A suite cannot be found or read. The message names the file, and the line and field when known."""

    @classmethod
    def at(cls, path: Path, message: str, line: int | None = None, field: str | None = None) -> SuiteError:
        where = f"{path}:{line}" if line is not None else str(path)
        what = f"field {field!r}: " if field else ""
        return cls(f"{where}: {what}{message}")
