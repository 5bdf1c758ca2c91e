"""The pure part of the SWE-bench validation campaign (bench/swe_validate.py): which rows to run and in
what order, the results csv (read, append), a row's reason and its network flag. The Markdown made from
the csv is in bench/swe_campaign_md.py.

Nothing here builds, runs or touches the engine; every function takes its inputs and returns its answer.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ValidationError

from agentbench.suites.recipe_table import version_key

COLUMNS = ("split", "instance", "repo", "version", "python", "valid", "reason", "build_s", "grade_s")
EXTRA_COLUMNS = ("network", "built", "detail")
HEADER = COLUMNS + EXTRA_COLUMNS
#: Reasons a row was not run at all (no build, no grading): known before anything starts.
UNRUNNABLE = ("no_recipe", "python_unavailable_offline", "conda_unavailable_offline", "repo_unavailable")
#: Reasons that are no verdict on the row: a second run tries it again.
NOT_FINAL = ("error",)
_NETWORK = re.compile(r"NewConnectionError|MaxRetryError|ConnectionError|Name or service not known|"
                      r"Temporary failure in name resolution|Network is unreachable|No address associated with "
                      r"hostname|getaddrinfo failed|socket\.gaierror|Failed to establish a new connection|URLError")
#: what agentbench.scoring.swebench puts where it drops the middle of a long test log
CLIPPED = "chars of the test log dropped"
_SECTION = re.compile(r"^_{3,} (.+?) _{3,}$")


class CampaignError(ValueError):
    """A bad campaign input (a csv, a filter); the message names the file or the option."""


class Candidate(BaseModel):
    """One SWE-bench row the campaign may validate: where it comes from and its (repo, version) pair."""

    split: str
    instance: str
    repo: str
    version: str

    @property
    def pair(self) -> tuple[str, str]:
        return self.repo, self.version


class CampaignRow(BaseModel):
    """One line of the results csv."""

    split: str
    instance: str
    repo: str
    version: str
    python: str = ""
    valid: bool
    reason: str = ""
    build_s: float | None = None
    grade_s: float | None = None
    network: str = ""
    built: str = ""
    detail: str = ""

    @property
    def category(self) -> str:
        """The reason's name (before the first ':'): 'valid' for a valid row."""
        return "valid" if self.valid else self.reason.split(":", 1)[0].strip() or "unknown"

    @property
    def final(self) -> bool:
        """A verdict (valid, a failed check, an environment fault, not runnable), not a harness error."""
        return self.category not in NOT_FINAL


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")
_LOCAL_REPO = re.compile(r"(file://)?/\S*?/([\w.-]+__[\w.-]+\.(git|bundle)|[\w.-]+\+[\w.-]+/repo)\b")


def clean(text: str) -> str:
    """Text as the csv keeps it: terminal colour codes and control characters out, and a local mirror's path
    (this machine's, meaningless elsewhere) shown as `MIRROR`."""
    return _LOCAL_REPO.sub("MIRROR", _ANSI.sub("", text))


def first_line(text: str, limit: int = 300) -> str:
    text = clean(text)
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[:limit - 3] + "..."


#: What says why a build failed, most telling first: the line a reader needs, not the command that ran.
_CAUSES = (r"No module named|ModuleNotFoundError|ImportError", r"ResolutionImpossible|No matching distribution",
           r"unable to read|not our ref|did not match any", r"\bERROR:|\berror:|\bfatal:|Error\b")


def cause_line(text: str, limit: int = 300) -> str:
    """The line of a build failure's log that names its cause (the first of the most telling kind), else the
    first line."""
    found = [line for line in (part.strip().lstrip("|").strip() for part in clean(text).splitlines()) if line]
    for pattern in _CAUSES:
        hit = next((line for line in found if re.search(pattern, line)), None)
        if hit:
            return hit if len(hit) <= limit else hit[:limit - 3] + "..."
    return first_line(text, limit)


def one_line(text: str, limit: int = 1000) -> str:
    """Every line of `text` joined with ' | ' (csv-friendly), its tail kept when too long."""
    joined = " | ".join(part.strip() for part in clean(text).splitlines() if part.strip())
    return joined if len(joined) <= limit else "..." + joined[-(limit - 3):]


# --- which rows, in what order ---------------------------------------------------------------------------

def parse_only(values: Iterable[str]) -> list[tuple[str, str | None]]:
    """`--only REPO[@VERSION]` values as (repo, version or None)."""
    out = []
    for value in values:
        repo, _, version = value.partition("@")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo) or (version == "" and "@" in value):
            raise CampaignError(f"--only {value!r}: expected OWNER/NAME or OWNER/NAME@VERSION")
        out.append((repo, version or None))
    return out


def matches(candidate: Candidate, only: list[tuple[str, str | None]]) -> bool:
    return not only or any(candidate.repo == repo and (version is None or candidate.version == version)
                           for repo, version in only)


def first_per_instance(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Each instance once (an instance in several splits is validated with its first split's row)."""
    seen: dict[str, Candidate] = {}
    for candidate in candidates:
        seen.setdefault(candidate.instance, candidate)
    return list(seen.values())


def pair_order(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs round-robin across repos (repos by name, each repo's versions in version order): the first
    pair of every repo, then the second of every repo, ... so a campaign cut short has touched every repo."""
    by_repo: dict[str, list[str]] = {}
    for repo, version in dict.fromkeys(pairs):
        by_repo.setdefault(repo, []).append(version)
    lists = [[(repo, v) for v in sorted(by_repo[repo], key=lambda v: (version_key(v), v))] for repo in sorted(by_repo)]
    return [lst[i] for i in range(max(map(len, lists), default=0)) for lst in lists if i < len(lst)]


def campaign_order(candidates: Iterable[Candidate], per_pair: int) -> list[Candidate]:
    """The first `per_pair` rows of every (repo, version) (in data order), every pair's first row before
    any pair's second, pairs in `pair_order`."""
    if per_pair < 1:
        raise CampaignError(f"--per-pair {per_pair}: expected 1 or more")
    by_pair: dict[tuple[str, str], list[Candidate]] = {}
    for candidate in first_per_instance(candidates):
        by_pair.setdefault(candidate.pair, []).append(candidate)
    order = pair_order(by_pair)
    return [by_pair[pair][k] for k in range(per_pair) for pair in order if k < len(by_pair[pair])]


def to_run(ordered: list[Candidate], done: dict[str, CampaignRow], rerun: Iterable[str] = ()) -> list[Candidate]:
    """`ordered` less the rows the csv already has a final result for (unless its reason is in `rerun`)."""
    again = set(rerun)
    return [c for c in ordered if c.instance not in done or not done[c.instance].final
            or done[c.instance].category in again]


# --- the results csv -------------------------------------------------------------------------------------

def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.1f}"
    return "" if value is None else str(value)


def csv_line(row: CampaignRow) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_cell(getattr(row, name)) for name in HEADER])
    return buffer.getvalue()


def append_row(path: Path, row: CampaignRow) -> None:
    """Append one row (the header first when the file is new or empty), flushed to disk: a crash after this
    loses nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8", newline="") as fh:
        if fh.tell() == 0:
            fh.write(",".join(HEADER) + "\n")
        fh.write(csv_line(row))
        fh.flush()
        os.fsync(fh.fileno())


def parse_csv(text: str, where: str) -> dict[str, CampaignRow]:
    """instance -> its last row (a row run again is appended; the last one counts)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        return {}
    if tuple(reader.fieldnames[:len(COLUMNS)]) != COLUMNS:
        raise CampaignError(f"{where}: line 1: expected the columns {','.join(COLUMNS)} first, "
                            f"got {','.join(reader.fieldnames)}")
    rows: dict[str, CampaignRow] = {}
    for record in reader:
        line = reader.line_num
        if record.get("valid") not in ("true", "false"):
            raise CampaignError(f"{where}: line {line}: field 'valid': expected true or false, got {record.get('valid')!r}")
        data = {k: v for k, v in record.items() if k in HEADER and v is not None}
        data["valid"] = data["valid"] == "true"
        for name in ("build_s", "grade_s"):
            data[name] = data.get(name) or None
        try:
            row = CampaignRow.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise CampaignError(f"{where}: line {line}: field {'.'.join(map(str, err['loc']))!r}: {err['msg']}") from None
        rows.pop(row.instance, None)
        rows[row.instance] = row
    return rows


def read_csv(path: Path) -> dict[str, CampaignRow]:
    """The results so far ({} when the file does not exist yet)."""
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(f"{path}: cannot be read: {exc}") from None
    return parse_csv(text, str(path))


# --- the network flag ------------------------------------------------------------------------------------

def _sections(log: str) -> dict[str, str]:
    """pytest's failure sections (`____ Class.test_name ____` up to the next header), by name."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in log.splitlines():
        header = _SECTION.match(line.strip())
        if header:
            current = sections.setdefault(header.group(1).strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(body) for name, body in sections.items()}


def _short(test: str) -> str:
    """A test id's last part: `a/b.py::C::test_x[1]` -> `test_x[1]`; `test_x (mod.C)` -> `test_x`."""
    return test.split("::")[-1].split(" (")[0].strip()


def network_flag(log: str, failed: dict[str, list[str]], limit: int = 300) -> str:
    """Which failed tests of a run (`failed`: FAIL_TO_PASS / PASS_TO_PASS -> failed test ids) failed with a
    network error in its `log`: `2 of 3 failed tests: ConnectionError: FAIL_TO_PASS test_a; PASS_TO_PASS
    test_b`; when none can be named but the log has a network error and tests failed, `unattributed: ERROR in
    the log, N tests failed`; else ''."""
    tests = [(kind, test) for kind in ("FAIL_TO_PASS", "PASS_TO_PASS") for test in failed.get(kind, [])]
    if not tests:
        return ""
    lines, sections = log.splitlines(), _sections(log)
    named: dict[str, list[str]] = {}
    errors: dict[str, None] = {}
    for kind, test in tests:
        short = _short(test)
        texts = [line for line in lines if test in line or (short and short in line)]
        texts += [body for name, body in sections.items() if name.split(".")[-1] == short or name == test]
        hit = next((m.group(0) for text in texts if (m := _NETWORK.search(text))), None)
        if hit:
            named.setdefault(kind, []).append(short or test)
            errors[hit] = None
    if named:
        count = sum(map(len, named.values()))
        clipped = " (the log is clipped: others may be too)" if CLIPPED in log and count < len(tests) else ""
        text = (f"{count} of {len(tests)} failed tests{clipped}: {', '.join(errors)}: "
                + "; ".join(f"{kind} {', '.join(names)}" for kind, names in named.items()))
        return text if len(text) <= limit else text[:limit - 3] + "..."
    anywhere = _NETWORK.search(log)
    return f"unattributed: {anywhere.group(0)} in the log, {len(tests)} tests failed" if anywhere else ""


def status_counts(report: dict) -> str:
    """`RESOLVED_NO: FAIL_TO_PASS 0/1, PASS_TO_PASS 40/42` from a get_eval_report report."""
    status = report.get("tests_status") or {}
    parts = []
    for kind in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        ok, bad = len(status.get(kind, {}).get("success", [])), len(status.get(kind, {}).get("failure", []))
        if ok or bad:
            parts.append(f"{kind} {ok}/{ok + bad}")
    return f"{report.get('resolution', 'RESOLVED_NO')}: {', '.join(parts) or 'no test statuses'}"


def verdict_reason(applies: bool, gold_resolves: bool, empty_fails: bool, env_ok: bool, detail: str,
                   gold_report: dict) -> str:
    """The first failed check, `NAME: cause`: an environment fault first, then the test patch, the gold
    patch, the empty patch; '' when every check passed."""
    if not env_ok:
        return f"env_broken: {first_line(detail.removeprefix('environment broken: '))}"
    if not applies:
        return "test_patch_does_not_apply: git apply --check of the test patch failed on the base commit"
    if not gold_resolves:
        return f"gold_fails: {status_counts(gold_report)}"
    if not empty_fails:
        return "empty_passes: the FAIL_TO_PASS tests pass without any patch"
    return ""
