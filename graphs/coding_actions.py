"""The coding action protocol: pure parsing and patching for the coding graph, no I/O.

Each model turn is one short thought, then exactly ONE action:

- a ```` ```bash ```` block (also `sh`, `shell`, `console`, no language): a shell command run in the repo;
- a ```` ```edit PATH ```` block holding one or more SEARCH/REPLACE hunks, applied to PATH;
- `SUBMIT` on a line of its own (no code block): the work is done.

Anything else is a `format_error` whose message says exactly how to fix the reply. Hunks match whole
lines, exactly, ignoring only trailing whitespace; each SEARCH must occur exactly once, and an empty
SEARCH creates a missing (or fills an empty) file. No tool-calling support is needed from the server.
"""

from __future__ import annotations

import difflib
import re
from typing import Literal

from pydantic import BaseModel, Field

from agentbench.graphs.actions import format_observation as render_observation
from agentbench.protocols import ExecResult
from agentbench.text import clip

CodingKind = Literal["bash", "edit", "submit", "format_error"]
HunkProblem = Literal["not_found", "ambiguous", "empty_search", "missing_file"]

FORMAT_HELP = """\
Reply with one short thought, then exactly ONE of:
```bash
grep -rn "name" src
```
or an edit (SEARCH copies existing lines exactly):
```edit path/to/file.py
<<<<<<< SEARCH
old lines
=======
new lines
>>>>>>> REPLACE
```
or the word SUBMIT alone on a line when the issue is fixed."""

_SHELL_LANGS = frozenset({"", "bash", "sh", "shell", "console", "zsh"})
# An opening fence (``` or ~~~, 3 or more) at the start of a line with its info string, the body, and
# the same fence closing it at the end of a line (`ls```` closes too, as in graphs.actions).
_BLOCK = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)\n(?P<body>.*?)(?P=fence)[ \t]*$",
                    re.DOTALL | re.MULTILINE)
_UNCLOSED = re.compile(r"^[ \t]*(?:`{3,}|~{3,})[^\n]*\S", re.MULTILINE)
_SUBMIT = re.compile(r"^[ \t>#*_`-]*submit[ \t*_`.!]*$", re.IGNORECASE | re.MULTILINE)
_SEARCH = re.compile(r"^[ \t]*<{5,9}[ \t]*SEARCH[ \t]*$")
_DIVIDER = re.compile(r"^[ \t]*={5,9}[ \t]*$")
_REPLACE = re.compile(r"^[ \t]*>{5,9}[ \t]*REPLACE[ \t]*$")
_ANY_MARKER = re.compile(r"^[ \t]*(?:<{5,9}[ \t]*SEARCH|>{5,9}[ \t]*REPLACE)[ \t]*$", re.MULTILINE)
_PATH_STRIP = " \t'\"`"
_UNCLOSED_HINT = " (If the lines hold ``` themselves, fence the edit block with ```` instead.)"


class Hunk(BaseModel):
    """One SEARCH/REPLACE pair: `search` lines (exact) become `replace` lines; "" means no lines."""

    search: str
    replace: str


class CodingAction(BaseModel):
    """One parsed model turn: `command` for bash, `path` + `hunks` for edit, `error` for format_error."""

    kind: CodingKind
    command: str = ""
    path: str = ""
    hunks: list[Hunk] = Field(default_factory=list)
    error: str = ""


class HunkFormatError(ValueError):
    """An edit block whose SEARCH/REPLACE markers are malformed (a format error, nothing was applied)."""


class HunkApplyError(ValueError):
    """A well-formed hunk that cannot be applied to the file; `hunk` is its 1-based index."""

    def __init__(self, problem: HunkProblem, hunk: int, total: int, detail: str) -> None:
        super().__init__(f"hunk {hunk} of {total}: {detail}")
        self.problem = problem
        self.hunk = hunk


def format_error(problem: str) -> CodingAction:
    """A format_error action whose message names the problem, then restates the protocol."""
    return CodingAction(kind="format_error", error=f"Format error: {problem}\n{FORMAT_HELP}")


# -- parsing -----------------------------------------------------------------------------------------

def _split(text: str) -> tuple[list[re.Match[str]], str, bool]:
    """Code blocks; the text outside them (where SUBMIT counts); whether a block was left open.

    A block whose body is just `SUBMIT` counts as text, not as code."""
    blocks: list[re.Match[str]] = []
    outside: list[str] = []
    pos = 0
    for match in _BLOCK.finditer(text):
        outside.append(text[pos:match.start()])
        if _SUBMIT.fullmatch(match["body"].strip()):
            outside.append(match["body"])
        else:
            blocks.append(match)
        pos = match.end()
    tail = text[pos:]
    unclosed = _UNCLOSED.search(tail)
    outside.append(tail[:unclosed.start()] if unclosed else tail)
    return blocks, "\n".join(outside), unclosed is not None


def parse_edit_hunks(body: str) -> list[Hunk]:
    """The SEARCH/REPLACE hunks of an edit block's body; raises HunkFormatError when malformed.

    Blank lines between hunks are ignored; any other text outside a hunk is an error, so that a hunk
    with a missing marker is reported instead of silently dropped. Inside REPLACE a `=======` line is
    content (reStructuredText underlines look like one)."""
    hunks: list[Hunk] = []
    state: Literal["outside", "search", "replace"] = "outside"
    search: list[str] = []
    replace: list[str] = []
    stray = ""  # the first text outside a hunk; reported unless a missing SEARCH line explains it
    for line in body.split("\n"):
        line = line.rstrip("\r")
        n = len(hunks) + 1
        if state == "outside":
            if _DIVIDER.match(line) or _REPLACE.match(line):
                raise HunkFormatError(f"hunk {n} has no `<<<<<<< SEARCH` line before `{line.strip()}`.")
            if stray and _SEARCH.match(line):
                break
            if _SEARCH.match(line):
                state, search, replace = "search", [], []
            elif line.strip() and not stray:
                stray = line.strip()[:80]
        elif state == "search":
            if _DIVIDER.match(line):
                state = "replace"
            elif _SEARCH.match(line) or _REPLACE.match(line):
                raise HunkFormatError(f"hunk {n} has no `=======` line between its SEARCH and REPLACE parts.")
            else:
                search.append(line)
        else:
            if _REPLACE.match(line):
                hunks.append(Hunk(search="\n".join(search), replace="\n".join(replace)))
                state = "outside"
            elif _SEARCH.match(line):
                raise HunkFormatError(f"hunk {n} is not closed with `>>>>>>> REPLACE`.{_UNCLOSED_HINT}")
            else:
                replace.append(line)
    if stray:
        raise HunkFormatError(f"text outside a hunk: `{stray}`. Every hunk is `<<<<<<< SEARCH`, old lines, "
                              "`=======`, new lines, `>>>>>>> REPLACE`.")
    if state != "outside":
        raise HunkFormatError(f"hunk {len(hunks) + 1} is not closed with `>>>>>>> REPLACE`.{_UNCLOSED_HINT}")
    if not hunks:
        raise HunkFormatError("the edit block holds no `<<<<<<< SEARCH` ... `>>>>>>> REPLACE` hunk.")
    return hunks


def _parse_block(info: str, body: str) -> CodingAction:
    words = info.strip().split(None, 1)
    lang = words[0].lower() if words else ""
    rest = words[1].strip(_PATH_STRIP) if len(words) > 1 else ""
    has_hunks = bool(_ANY_MARKER.search(body))
    if lang == "edit":
        if not rest:
            return format_error("the edit block has no file path. Start it with ```edit path/to/file.py")
        try:
            hunks = parse_edit_hunks(body)
        except HunkFormatError as exc:
            return format_error(f"in the edit of {rest}: {exc}")
        return CodingAction(kind="edit", path=rest, hunks=hunks)
    if has_hunks:
        target = lang if "/" in lang or "." in lang else "path/to/file.py"
        return format_error(f"SEARCH/REPLACE hunks go in an edit block: start it with ```edit {target}")
    if lang in _SHELL_LANGS:
        command = body.strip("\r\n").rstrip()
        if not command.strip():
            return format_error("your ```bash block was empty.")
        return CodingAction(kind="bash", command=command)
    if lang in ("python", "py", "python3"):
        return format_error("```python blocks are not run here. Run Python from ```bash (python -c '...' or "
                            "python script.py), or change a file with ```edit PATH.")
    return format_error(f"unknown block type ```{lang}. Use ```bash to run a command or ```edit PATH to "
                        "change a file.")


def parse_coding_action(text: str) -> CodingAction:
    """Parse one model reply into a CodingAction (see the module docstring for the rules)."""
    if not text.strip():
        return format_error("your reply was empty.")
    blocks, outside, unclosed = _split(text)
    if _SUBMIT.search(outside):
        if blocks or unclosed:
            return format_error("you sent a code block AND SUBMIT. Do one thing per turn: run or edit first, "
                                "read the result, then SUBMIT in a later turn.")
        return CodingAction(kind="submit")
    count = len(blocks) + unclosed
    if count > 1:
        return format_error(f"you sent {count} code blocks; send exactly one per turn.")
    if not blocks:
        if unclosed:
            return format_error("your code block was not closed with ```. Keep it short.")
        if _ANY_MARKER.search(text):
            return format_error("SEARCH/REPLACE hunks must be inside a ```edit path/to/file.py block.")
        return format_error("no ```bash block, no ```edit block and no SUBMIT found.")
    block = blocks[0]
    return _parse_block(block["info"], block["body"])


# -- applying hunks ----------------------------------------------------------------------------------

def _lines(text: str) -> list[str]:
    """Lines split on "\\n" only, so that joining them with "\\n" gives the text back."""
    return text.split("\n") if text else []


def _find(lines: list[str], search: list[str]) -> list[int]:
    """Start indices where `search` matches whole lines (trailing whitespace and \\r ignored)."""
    want = [line.rstrip() for line in search]
    have = [line.rstrip() for line in lines]
    k = len(want)
    return [i for i in range(len(have) - k + 1) if have[i:i + k] == want]


def _snippet(lines: list[str], start: int, count: int, max_lines: int = 20) -> str:
    end = min(len(lines), start + max(count, 1))
    shown = [line.rstrip("\r") for line in lines[start:min(end, start + max_lines)]]
    more = "\n..." if end - start > max_lines else ""
    return f"(lines {start + 1}-{end})\n" + "\n".join(shown) + more


def closest_region(lines: list[str], search: list[str], max_file_lines: int = 20_000) -> str | None:
    """A cheap hint for a SEARCH that was not found: the lines that match except for whitespace, or the
    region around the file line most like the longest SEARCH line. None when nothing is close."""
    if not lines or len(lines) > max_file_lines or not any(s.strip() for s in search):
        return None
    squeeze = [" ".join(line.split()) for line in lines]
    wanted = [" ".join(line.split()) for line in search]
    k = len(wanted)
    loose = [i for i in range(len(squeeze) - k + 1) if squeeze[i:i + k] == wanted]
    if loose:
        return ("These lines match except for whitespace or indentation; copy them exactly "
                f"{_snippet(lines, loose[0], k)}")
    anchor = max(range(k), key=lambda j: len(wanted[j]))
    close = difflib.get_close_matches(wanted[anchor], squeeze, n=1, cutoff=0.6)
    if not close:
        return None
    index = squeeze.index(close[0])
    start = max(0, index - anchor)
    return f"The closest lines in the file are {_snippet(lines, start, k)}"


def _apply_one(lines: list[str] | None, hunk: Hunk, n: int, total: int) -> list[str]:
    search, replace = _lines(hunk.search), _lines(hunk.replace)
    if not hunk.search.strip():
        if lines is None or not "".join(lines).strip():
            return replace + [""] if replace else []
        raise HunkApplyError("empty_search", n, total, "SEARCH is empty but the file already exists and is "
                             "not empty. Copy the existing lines to change into SEARCH.")
    if lines is None:
        raise HunkApplyError("missing_file", n, total, "the file does not exist. To create it, leave SEARCH "
                             "empty and put the whole content in REPLACE.")
    found = _find(lines, search)
    if not found:
        hint = closest_region(lines, search)
        detail = "the SEARCH lines were not found in the file. SEARCH must copy existing lines exactly, " \
                 "indentation included."
        raise HunkApplyError("not_found", n, total, f"{detail}\n{hint}" if hint else detail)
    if len(found) > 1:
        where = ", ".join(str(i + 1) for i in found[:10])
        raise HunkApplyError("ambiguous", n, total, f"the SEARCH lines occur {len(found)} times (at lines "
                             f"{where}). Add nearby lines to SEARCH so that it matches exactly once.")
    start = found[0]
    if lines[start + len(search) - 1].endswith("\r"):  # keep a CRLF file CRLF
        replace = [line + "\r" for line in replace]
    return lines[:start] + replace + lines[start + len(search):]


def apply_hunks(content: str | None, hunks: list[Hunk]) -> str:
    """The file content after applying every hunk in order (`content` None: the file does not exist).

    All or nothing: raises HunkApplyError at the first hunk that does not apply."""
    lines = None if content is None else _lines(content)
    for n, hunk in enumerate(hunks, 1):
        lines = _apply_one(lines, hunk, n, len(hunks))
    return "\n".join(lines or [])


# -- observations ------------------------------------------------------------------------------------

def format_observation(result: ExecResult, max_chars: int = 3000) -> str:
    """Render a command's result for the model (exit code, stdout, stderr, notes), keeping about
    `max_chars` characters of output, mostly its end, where test summaries and tracebacks are."""
    stdout, stderr = result.stdout.rstrip(), result.stderr.rstrip()
    if len(stdout) + len(stderr) > max_chars:
        err_budget = min(len(stderr), max_chars // 3)
        out_budget = max_chars - err_budget  # each keeps a short head and mostly its tail (test summaries)
        stderr = clip(stderr, err_budget, head=min(400, err_budget // 4))
        stdout = clip(stdout, out_budget, head=min(400, out_budget // 4))
    trimmed = result.model_copy(update={"stdout": stdout, "stderr": stderr})
    return render_observation(trimmed, max_chars=max_chars + 200)  # already trimmed: only renders


def edit_observation(path: str, hunks: int, created: bool = False) -> str:
    """What the model sees after a successful edit."""
    if created:
        return f"Created {path}."
    return f"Edited {path}: {hunks} hunk{'s' if hunks != 1 else ''} applied."


def edit_failure(path: str, error: Exception, max_chars: int = 3000) -> str:
    """What the model sees after an edit that could not be applied (nothing was written)."""
    text = f"Edit of {path} failed, nothing was written: {error}"
    return clip(text, max_chars, head=max_chars, marker="\n[...]")
