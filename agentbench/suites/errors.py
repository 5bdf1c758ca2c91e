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


ID_MAX_LEN = 200
_UNSAFE_CHARS = frozenset('/\\:*?"<>|')


def unsafe_id_reason(value: str) -> str | None:
    """Why `value` cannot name a file or folder (task ids and run names become paths: the run folder,
    swebench/<instance_id>/report.json), or None when it can. Rejected: empty, `.` / `..`, a leading `.`,
    a path separator or other character unsafe in file names (`/ \\ : * ? " < > |`), NUL and other control
    characters, leading or trailing whitespace, more than ID_MAX_LEN characters."""
    if not value or not value.strip():
        return "must not be empty"
    if value != value.strip():
        return f"{value!r} has leading or trailing whitespace"
    bad = sorted({c for c in value if c in _UNSAFE_CHARS or ord(c) < 32 or ord(c) == 127})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"{value!r} contains {shown}, unsafe in a file name (it becomes a path)"
    if value.startswith("."):
        return f"{value!r} must not start with '.' (it would be a relative or hidden path)"
    if len(value) > ID_MAX_LEN:
        return f"is {len(value)} characters long (at most {ID_MAX_LEN}; it becomes a file name)"
    return None
