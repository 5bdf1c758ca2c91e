"""GAIA's format: a folder with `metadata.jsonl` (one task per line) and the attachments beside it.

Each line is an object with `task_id`, `Question`, `Level` (1, 2 or 3), `Final answer` (a string) and
`file_name` ("" or absent when there is no attachment); other keys (`Annotator Metadata`, ...) are ignored.
`load_gaia` is pure apart from reading the folder: no network, no writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentbench.protocols import Task, TaskExpected, TaskInputs, TaskSandbox
from agentbench.safe_parse import ParseError, json_text, lines
from agentbench.suites.errors import SuiteError, unsafe_id_reason

METADATA = "metadata.jsonl"
LEVELS = (1, 2, 3)
SANDBOX_IMAGE = "python"


def attachment_note(file_name: str) -> str:
    return f"The attached file `{Path(file_name).name}` is in your working directory."


def load_gaia(suite_dir: Path) -> list[Task]:
    """Read `suite_dir/metadata.jsonl` into qa Tasks; SuiteError (file, line, field) on bad input."""
    suite_dir = Path(suite_dir).absolute()
    path = suite_dir / METADATA
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError.at(path, "not found (a GAIA suite needs metadata.jsonl)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError.at(path, f"cannot be read: {exc}") from None
    tasks: list[Task] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(lines(text), start=1):
        if not line.strip():
            continue
        task = _parse_row(suite_dir, path, lineno, line)
        if task.id in first_line:
            raise SuiteError.at(path, f"duplicate task_id {task.id!r} (first on line {first_line[task.id]})",
                                lineno, "task_id")
        first_line[task.id] = lineno
        tasks.append(task)
    if not tasks:
        raise SuiteError.at(path, "holds no tasks")
    return tasks


def _parse_row(suite_dir: Path, path: Path, lineno: int, line: str) -> Task:
    try:
        row: Any = json_text(line)
    except ParseError as exc:
        raise SuiteError.at(path, f"invalid JSON: {exc}", lineno) from None
    if not isinstance(row, dict):
        raise SuiteError.at(path, f"expected a JSON object, got {type(row).__name__}", lineno)

    def required_str(key: str) -> str:
        if key not in row:
            raise SuiteError.at(path, "missing required key", lineno, key)
        value = row[key]
        if not isinstance(value, str):
            raise SuiteError.at(path, f"expected a string, got {type(value).__name__} {value!r}", lineno, key)
        return value

    task_id = required_str("task_id").strip()
    unsafe = unsafe_id_reason(task_id)
    if unsafe:
        raise SuiteError.at(path, unsafe, lineno, "task_id")
    question = required_str("Question")
    answer = required_str("Final answer")
    level = _level(row, path, lineno)
    file_name = row.get("file_name")
    file_name = "" if file_name is None else file_name
    if not isinstance(file_name, str):
        raise SuiteError.at(path, f"expected a string, got {type(file_name).__name__}", lineno, "file_name")
    files = [_attachment(suite_dir, path, lineno, file_name)] if file_name else []
    prompt = f"{question}\n\n{attachment_note(file_name)}" if file_name else question
    return Task(id=task_id, kind="qa", prompt=prompt, inputs=TaskInputs(files=files),
                expected=TaskExpected(answer=answer), sandbox=TaskSandbox(image=SANDBOX_IMAGE),
                metadata={"level": level, "file_name": file_name})


def _level(row: dict[str, Any], path: Path, lineno: int) -> int:
    """An int 1..3; a string of digits ("2", as some GAIA exports write it) is accepted too."""
    if "Level" not in row:
        raise SuiteError.at(path, "missing required key", lineno, "Level")
    raw = row["Level"]
    text = raw.strip() if isinstance(raw, str) else ""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or (
            isinstance(raw, str) and not (text.isascii() and text.isdigit() and len(text) < 8)):
        raise SuiteError.at(path, f"expected an integer 1, 2 or 3, got {type(raw).__name__} {raw!r}"[:200], lineno,
                            "Level")
    level = int(raw)
    if level not in LEVELS:
        raise SuiteError.at(path, f"expected 1, 2 or 3, got {level}", lineno, "Level")
    return level


def _attachment(suite_dir: Path, path: Path, lineno: int, file_name: str) -> Path:
    if "\x00" in file_name or any(len(part.encode()) > 255 for part in Path(file_name).parts):
        raise SuiteError.at(path, f"{file_name[:80]!r} is not a usable file name", lineno, "file_name")
    target = (suite_dir / file_name).resolve()
    if Path(file_name).is_absolute() or not target.is_relative_to(suite_dir.resolve()):
        raise SuiteError.at(path, f"{file_name!r} must be a path inside the suite folder", lineno, "file_name")
    if not target.is_file():
        raise SuiteError.at(path, f"attachment {file_name!r} not found at {suite_dir / file_name}", lineno, "file_name")
    return suite_dir / file_name
