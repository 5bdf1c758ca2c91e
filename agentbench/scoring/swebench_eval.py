"""The pure half of SWE-bench grading: reading an eval log for environment faults, and what of it is kept.
(The eval script itself is made by the instance's test spec: swebench_spec.py.)

`classify_eval_log(log, status_map)` tells a run whose tests could not run properly (an `EnvFault`) from
one whose tests ran: `environment` faults cannot plausibly come from the patch; `ambiguous` ones can come
from either, and the scorer settles them by running the environment without the model's patch.

What of a log is stored: `stored_log(log)` keeps at most DUMP_MAX_LINES of each `git show` / `git diff`
dump the script prints before the tests (on a depth-1 clone `git show` lists the whole tree: 437,734
lines for one sphinx row), with a marker line saying how many were left out; grading always reads the
whole log. `log_tail(log)` is the end of the log that decided an environment fault (TAIL_LINES lines, at
most TAIL_BYTES, credential shapes masked), and `tail_block` shows it as ImageBuildError shows a build
log's tail.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

START = ">>>>> Start Test Output"
END = ">>>>> End Test Output"
TIMED_OUT = ">>>>> Tests Timed Out"  # what the scorer appends to the log of a run that timed out
_PASSING = frozenset({"PASSED", "XFAIL"})
_DETAIL_CHARS = 300
DUMP_MAX_LINES = 2_000
"""Lines kept of each `git show` / `git diff` dump in the stored eval log (the grader reads them all)."""
TAIL_LINES = 60
"""Lines of the log kept with an attempt whose environment failed (`log_tail`)."""
TAIL_BYTES = 8_000
"""At most this many bytes of them (the newest kept); a line is cut to TAIL_LINE_CHARS."""
TAIL_LINE_CHARS = 500


class EnvFault(BaseModel):
    """Why a test run says nothing about the patch: `environment` (not the patch's doing) or `ambiguous`."""

    reason: str
    tier: Literal["environment", "ambiguous"]
    detail: str


_NOT_FOUND = re.compile(r"^.*\bcommand not found\s*$", re.MULTILINE)  # bash: `script: line 9: cmd: command not found`
_TEST_PATCH_ERROR = re.compile(r"^error: .*$", re.MULTILINE)  # git apply's own failure lines
_IMPORT_AT_COLLECTION = re.compile(r"^ImportError while (?:importing test module|loading conftest) .*$", re.MULTILINE)
_COLLECTING = re.compile(r"^_+ ERROR collecting .*$", re.MULTILINE)
_IMPORT_LINE = re.compile(r"^E\s+(?:ImportError|ModuleNotFoundError)\b.*$", re.MULTILINE)


def test_output(log: str) -> tuple[str, str, str] | None:
    """(before the start marker, the test output section, after the end marker); None when the tests never
    started. The first markers count, as in swebench's get_logs_eval; no end marker: the rest of the log."""
    if START not in log:
        return None
    before, rest = log.split(START, 1)
    section, _, after = rest.partition(END)
    return before, section, after


def _line(text: str, match: re.Match[str] | None) -> str:
    if match is None:
        return text.strip()[-_DETAIL_CHARS:]
    start, end = text.rfind("\n", 0, match.start()) + 1, text.find("\n", match.end())
    return text[start:end if end >= 0 else len(text)].strip()[:_DETAIL_CHARS]


def _signature(section: str) -> EnvFault | None:
    from swebench.harness.infra_failure import INFRA_FAILURE_SIGNATURES, classify_text

    found = classify_text(section)
    if found is None:
        return None
    reason, tier = found
    pattern = next(p for r, _, p in INFRA_FAILURE_SIGNATURES if r == reason)
    detail = _line(section, re.search(pattern, section, re.MULTILINE))
    return EnvFault(reason=reason, tier="environment" if tier == "environment" else "ambiguous", detail=detail)


def _import_at_collection(section: str) -> str | None:
    """The line showing pytest failed to import a test module or conftest, if it did."""
    hit = _IMPORT_AT_COLLECTION.search(section)
    if hit is None and _COLLECTING.search(section):
        hit = _IMPORT_LINE.search(section)
    if hit is None:
        return None
    following = _IMPORT_LINE.search(section, hit.end())
    return " | ".join(dict.fromkeys(_line(section, m) for m in (hit, following) if m is not None))[:_DETAIL_CHARS]


def classify_eval_log(log: str, status_map: dict[str, str]) -> EnvFault | None:
    """The environment fault an eval log shows, or None when its tests ran (passing or failing).

    `status_map` is what grading parsed from the log. Checked in order:
    - no `>>>>> Start Test Output`: the tests never ran (environment, `tests_not_run`), unless the run
      timed out before them (ambiguous, `tests_timed_out`: the re-run install runs the patch's code too);
    - git apply reported an error on the test patch (ambiguous, `test_patch_not_applied`: the patch reset
      of the test files should make it apply, the bare environment tells);
    - nothing parsed and the test command was not found (exit code 127, or bash's `command not found`)
      (environment, `test_command_not_found`);
    - no test passed, and the test output section shows: one of swebench's `infra_failure` signatures of
      the environment tier (environment), an import error at pytest collection (ambiguous,
      `collection_import_error`), a signature of the ambiguous tier (ambiguous);
    - nothing parsed (ambiguous, `no_test_results`).
    Signatures count only where no test passed: a run with passing tests demonstrably ran, whatever its
    output mentions (a test named after ModuleNotFoundError, a test printing pytest's own messages).
    """
    from swebench.harness.grading import parse_test_exit_code

    parts = test_output(log)
    if parts is None:
        if TIMED_OUT in log:  # the install re-run can hang on the patch's setup.py as well
            return EnvFault(reason="tests_timed_out", tier="ambiguous",
                            detail=f"timed out before '{START}': {log.strip()[-_DETAIL_CHARS:]}")
        return EnvFault(reason="tests_not_run", tier="environment",
                        detail=f"no '{START}' in the log: {log.strip()[-_DETAIL_CHARS:]}")
    before, section, after = parts
    applying = before.rfind("git apply -v -")
    error = _TEST_PATCH_ERROR.search(before, applying) if applying >= 0 else None
    if error is not None:
        return EnvFault(reason="test_patch_not_applied", tier="ambiguous", detail=_line(before, error))
    if not status_map:
        exit_code = parse_test_exit_code(after)
        missing = _NOT_FOUND.search(section)
        if exit_code == 127 or missing is not None:
            return EnvFault(reason="test_command_not_found", tier="environment",
                            detail=_line(section, missing) if missing else "the test command exited with 127")
    if not any(status in _PASSING for status in status_map.values()):
        signature = _signature(section)
        if signature is not None and signature.tier == "environment":
            return signature
        imports = _import_at_collection(section)
        if imports is not None:
            return EnvFault(reason="collection_import_error", tier="ambiguous", detail=imports)
        if signature is not None:
            return signature
    if not status_map:
        return EnvFault(reason="no_test_results", tier="ambiguous",
                        detail=f"no test results parsed from the test output: {section.strip()[-_DETAIL_CHARS:]}")
    return None


# ------------------------------------------------------------------------------------ the stored log

_DUMP = re.compile(r"^\+ git (?:-c \S+ )*(show|diff)\b")  # `set -x` echoing the official script's dumps
_XTRACE = re.compile(r"^\+ \S")  # the next command of the script (a diff's header lines never look so)
_HUNK = re.compile(r"^(@@+) ((?:[-+]\d+(?:,\d+)? )+)@@+")


def _hunk(line: str) -> tuple[int, list[int], int] | None:
    """(parents, lines left of each parent, lines left of the result) of a hunk header (`@@ -a,b +c,d @@`,
    or a combined diff's `@@@ -a,b -c,d +e,f @@@`), None for any other line."""
    match = _HUNK.match(line)
    if match is None:
        return None
    ranges = match.group(2).split()
    counts = [int(r.partition(",")[2] or 1) if "," in r else 1 for r in ranges]
    olds = [c for r, c in zip(ranges, counts) if r.startswith("-")]
    news = [c for r, c in zip(ranges, counts) if r.startswith("+")]
    if len(olds) != len(match.group(1)) - 1 or len(news) != 1:
        return None
    return len(olds), olds, news[0]


def _dump_end(lines: list[str], start: int, stop: int) -> int:
    """Index of the first line after the dump whose command line is lines[start]: the next line `set -x`
    echoes outside a hunk (hunks are counted, so an added line `+ x` stays in), else `stop`."""
    i, parents, olds, new = start + 1, 0, [], 0
    while i < stop:
        line = lines[i]
        if new > 0 or any(olds):  # inside a hunk: each line belongs to the result and/or a parent
            prefix = line[:parents]
            if prefix.startswith("\\"):  # "\ No newline at end of file"
                i += 1
                continue
            if "-" not in prefix:
                new -= 1
            olds = [max(left - (prefix[k:k + 1] != "+"), 0) for k, left in enumerate(olds)]
            i += 1
            continue
        header = _hunk(line)
        if header is not None:
            parents, olds, new = header
        elif _XTRACE.match(line):
            return i
        i += 1
    return stop


def stored_log(log: str, max_lines: int = DUMP_MAX_LINES) -> str:
    """`log` with each `git show` / `git diff` dump before the test output cut to its first `max_lines`
    lines and a marker line naming how many were left out. The test output and what follows stay whole."""
    lines = log.split("\n")
    start = next((i for i, line in enumerate(lines) if START in line), len(lines))
    out: list[str] = []
    i = 0
    while i < start:
        match = _DUMP.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        end = _dump_end(lines, i, start)
        body = end - i - 1
        out.extend(lines[i:i + 1 + min(body, max_lines)])
        if body > max_lines:
            out.append(f"[... agentbench: {body - max_lines:,} more lines of this `git {match.group(1)}` left "
                       f"out of the stored log (grading read them all) ...]")
        i = end
    return "\n".join(out + lines[start:])


def log_tail(log: str, lines: int = TAIL_LINES, max_bytes: int = TAIL_BYTES) -> str:
    """The last `lines` lines of `log` (trailing blank ones dropped), each cut to TAIL_LINE_CHARS, the
    oldest dropped past `max_bytes` (UTF-8), credential shapes masked (the store masks the run's own
    secrets as well)."""
    from agentbench.redact import Redactor

    kept: list[str] = []
    size = 0
    for line in reversed(log.rstrip().split("\n")[-lines:] if log.strip() else []):
        line = line.rstrip()
        if len(line) > TAIL_LINE_CHARS:
            line = line[:TAIL_LINE_CHARS - 3] + "..."
        size += len(line.encode("utf-8", "replace")) + 1
        if size > max_bytes:
            break
        kept.append(line)
    return Redactor().text("\n".join(reversed(kept)))


def tail_block(tail: str, what: str) -> str:
    """`tail` as a block after an error's first line, shaped like ImageBuildError's build log tail:
    `last N lines of the WHAT:` and each line behind `  | `; "" for an empty tail."""
    if not tail:
        return ""
    lines = tail.split("\n")
    return f"\nlast {len(lines)} lines of the {what}:\n" + "\n".join(f"  | {line}" for line in lines)
