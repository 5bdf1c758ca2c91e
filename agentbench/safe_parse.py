"""YAML and JSON from untrusted files, with one error type: PyYAML's constructors and the json module raise
many kinds of exception on hostile input (an `!!int` tag on an empty value, a calendar-invalid date, an
integer over 4,300 digits, nesting deep enough to exhaust the stack), and a loader must turn every one of
them into a message naming the file. A leaf: imports nothing from agentbench."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


class ParseError(ValueError):
    """The text is not valid YAML / JSON; the message says why, in one line."""


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:400] if not isinstance(exc, yaml.YAMLError) else text[:400]


def yaml_text(text: str) -> Any:
    """yaml.safe_load that raises only ParseError."""
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
            OverflowError) as exc:
        raise ParseError(_why(exc)) from None


def json_text(text: str) -> Any:
    """json.loads that raises only ParseError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise ParseError(_why(exc)) from None


def read_text(path: Path) -> str:
    """The file as UTF-8 text; ParseError for a file that is not UTF-8, FileNotFoundError kept as it is,
    other OSErrors (a folder, a name too long) as ParseError."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ParseError(f"cannot be read: {exc.strerror or exc}") from None


def lines(text: str) -> list[str]:
    """Lines split on newline only: U+2028, U+2029 and U+0085 are valid inside JSON strings."""
    return text.split("\n")
