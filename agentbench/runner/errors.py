"""The runner's one error type: a run that cannot start or go on, said in one line (the CLI prints it and
exits 2)."""

from __future__ import annotations


class RunError(RuntimeError):
    """The run cannot start or go on: a changed config or suite on resume, no sandbox, no cluster node..."""
