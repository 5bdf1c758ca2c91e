"""SWE-bench rows -> Tasks.

A suite folder holds `suite.yaml` (`format: swebench`, `data: FILE`, optional `repo_mirror: DIR` and
`specs: FILE`) and the rows in .json (a list), .jsonl or .parquet with the 12 classic fields (repo,
instance_id, base_commit, patch, test_patch, problem_statement, hints_text, created_at, version,
FAIL_TO_PASS, PASS_TO_PASS, environment_setup_commit; the test lists may be JSON strings, as in the
Hugging Face datasets) and, when present, SWE-bench 5.x's `image`, `eval_script` and `log_parser`.

Each row becomes a Task whose `swe` (agentbench/swe_spec.py `SweSpec`) holds the row's facts, the repo's
source and the install recipe; nothing of it is copied into `metadata` or the sandbox section.
Repos resolve from a mirror folder (`owner__name.bundle`, or a bare repo `owner__name[.git]`) or, with no
mirror entry, a git URL (`https://github.com/owner/name.git`; offline users depend on mirrors).
The install recipe of a (repo, version) comes from the suite's `specs.yaml` (a per-repo, per-version
table a user can extend); rows with their own `eval_script` need only the environment part.

Every sandbox of a task starts from its `setup` (`reset_to_env`): /testbed back to the state the image's
build left (ENV_REF: the base commit plus what pre_install and install changed, sandbox/swe_images.py),
untracked files removed; in an image without that ref, back to the base commit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentbench.protocols import Task, TaskSandbox
from agentbench.safe_parse import ParseError, json_text, lines, read_text, yaml_text
from agentbench.suites.errors import SuiteError, unsafe_id_reason
from agentbench.suites.swe_recipes import Specs, find_spec, parse_specs
from agentbench.swe_spec import EnvSpec, SweSpec
from agentbench.swebench_layout import ENV_REF, TESTBED, patch_problem

CLASSIC_FIELDS = ("repo", "instance_id", "base_commit", "patch", "test_patch", "problem_statement", "hints_text",
                  "created_at", "version", "FAIL_TO_PASS", "PASS_TO_PASS", "environment_setup_commit")


class SweRow(BaseModel):
    """One SWE-bench instance as published (extra fields are kept, not interpreted)."""

    model_config = ConfigDict(extra="allow")

    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    instance_id: str = Field(min_length=1)
    base_commit: str = Field(pattern=r"^[0-9a-f]{7,40}$")
    patch: str
    test_patch: str
    problem_statement: str
    hints_text: str = ""
    created_at: str = ""
    version: str
    FAIL_TO_PASS: list[str]
    PASS_TO_PASS: list[str]
    environment_setup_commit: str = Field(pattern=r"^[0-9a-f]{7,40}$")
    image: str | None = None
    eval_script: str | None = None
    log_parser: str | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json_text(value)
            except ParseError as exc:
                raise ValueError(f"a JSON-encoded list of test ids was expected: {exc}") from None
        return list(value) if isinstance(value, tuple) else value


class SuiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    format: Literal["swebench"]
    data: str
    repo_mirror: str | None = None
    specs: str | None = None
    description: str = ""


def _read_yaml(path: Path) -> Any:
    try:
        return yaml_text(read_text(path))
    except (OSError, ParseError) as exc:
        raise SuiteError.at(path, f"cannot be read: {exc}") from None


def _first_error(path: Path, exc: ValidationError, line: int | None = None) -> SuiteError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return SuiteError.at(path, f"{err['msg']}{more}", line=line, field=field)


def read_rows(path: Path) -> list[tuple[int | None, dict[str, Any]]]:
    """(line or row number, raw row) from a .json list, .jsonl or .parquet file."""
    try:
        found = path.is_file()
    except OSError as exc:  # a name too long, say
        raise SuiteError.at(path, f"cannot be read: {exc.strerror or exc}") from None
    if not found:
        raise SuiteError.at(path, "not found")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        try:
            content = read_text(path)
        except (OSError, ParseError) as exc:
            raise SuiteError.at(path, f"cannot be read: {exc}") from None
    if suffix == ".jsonl":
        rows = []
        for number, text in enumerate(lines(content), 1):
            if not text.strip():
                continue
            try:
                rows.append((number, json_text(text)))
            except ParseError as exc:
                raise SuiteError.at(path, f"not valid JSON: {exc}", line=number) from None
        return rows
    if suffix == ".json":
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise SuiteError.at(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
        except (ValueError, RecursionError) as exc:
            raise SuiteError.at(path, f"not valid JSON: {type(exc).__name__}: {exc}"[:300], line=1) from None
        if not isinstance(data, list):
            raise SuiteError.at(path, "expected a JSON list of SWE-bench rows")
        return [(i, row) for i, row in enumerate(data, 1)]
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise SuiteError.at(path, "reading .parquet needs pyarrow (pip install pyarrow)") from None
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise SuiteError.at(path, f"cannot be read as parquet: {exc}") from None
        return [(i, row) for i, row in enumerate(table.to_pylist(), 1)]
    raise SuiteError.at(path, "unknown data format: expected .json, .jsonl or .parquet")


def parse_rows(path: Path) -> list[SweRow]:
    rows, seen = [], set()
    for where, raw in read_rows(path):
        if not isinstance(raw, dict):
            raise SuiteError.at(path, "expected a JSON object (one SWE-bench row)", line=where)
        missing = [f for f in CLASSIC_FIELDS if f not in raw and f not in ("hints_text", "created_at")]
        if missing:
            raise SuiteError.at(path, f"missing field(s) {', '.join(missing)}", line=where, field=missing[0])
        try:
            row = SweRow.model_validate(raw)
        except ValidationError as exc:
            raise _first_error(path, exc, where) from None
        unsafe = unsafe_id_reason(row.instance_id)
        if unsafe:
            raise SuiteError.at(path, unsafe, line=where, field="instance_id")
        problem = patch_problem(row.test_patch)
        if problem:
            raise SuiteError.at(path, problem, line=where, field="test_patch")
        if row.instance_id in seen:
            raise SuiteError.at(path, f"duplicate instance_id {row.instance_id!r}", line=where, field="instance_id")
        seen.add(row.instance_id)
        rows.append(row)
    return rows


def load_specs(path: Path) -> Specs:
    """A suite's specs.yaml: {repo: {version: EnvSpec}} (overrides the built-in table entry by entry)."""
    return parse_specs(_read_yaml(path) or {}, str(path))


def mirror_name(repo: str) -> str:
    """SWE-bench's folder naming: `owner/name` -> `owner__name`."""
    return repo.replace("/", "__")


def resolve_repo(repo: str, mirror: Path | None) -> str:
    """A local bundle or bare repo from the mirror folder, else the GitHub URL."""
    if mirror is not None:
        for candidate in (f"{mirror_name(repo)}.bundle", f"{mirror_name(repo)}.git", mirror_name(repo)):
            path = mirror / candidate
            if path.exists():
                return str(path.resolve())
    return f"https://github.com/{repo}.git"


def reset_to_env(base_commit: str) -> list[str]:
    """A sandbox's reset: check out ENV_REF (the build's state) when the image has it, else the base
    commit; then remove untracked files (ignored ones, the build's outputs, stay)."""
    checkout = "git -c advice.detachedHead=false checkout -q -f"
    return [f"git rev-parse -q --verify {ENV_REF} >/dev/null && {checkout} {ENV_REF} || {checkout} {base_commit}",
            "git clean -fdq"]


def task_from_row(row: SweRow, spec: EnvSpec | None, repo_source: str, where: str) -> Task:
    """The row as a Task carrying its SweSpec (the row's facts, `repo_source`, the recipe `spec`)."""
    if spec is None and not row.eval_script:
        raise SuiteError(f"{where}: no install recipe for {row.repo} version {row.version!r}: it is not in "
                         f"agentbench's built-in table, the suite's specs.yaml has no entry, and the row has no "
                         f"eval_script; add it to specs.yaml")
    eval_type = (row.model_extra or {}).get("eval_type")
    swe = SweSpec(instance_id=row.instance_id, repo=row.repo, version=row.version, base_commit=row.base_commit,
                  environment_setup_commit=row.environment_setup_commit, patch=row.patch, test_patch=row.test_patch,
                  FAIL_TO_PASS=row.FAIL_TO_PASS, PASS_TO_PASS=row.PASS_TO_PASS, hints_text=row.hints_text,
                  created_at=row.created_at, source=repo_source, image=row.image, eval_script=row.eval_script,
                  log_parser=row.log_parser, eval_type=str(eval_type) if eval_type else None, env=spec or EnvSpec())
    return Task(id=row.instance_id, kind="swe", prompt=row.problem_statement, swe=swe,
                sandbox=TaskSandbox(image="swe-env", workdir=TESTBED, setup=reset_to_env(row.base_commit)))


def load_swebench(suite_dir: Path, repo_mirror: Path | None = None) -> list[Task]:
    """Every row of the suite as a Task; `repo_mirror` overrides the suite's own mirror folder."""
    spec_path = suite_dir / "suite.yaml"
    raw = _read_yaml(spec_path)
    try:
        suite = SuiteSpec.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(spec_path, exc) from None
    data = suite_dir / suite.data
    mirror = repo_mirror or (suite_dir / suite.repo_mirror if suite.repo_mirror else None)
    try:
        mirror_missing = mirror is not None and not mirror.is_dir()
    except OSError as exc:  # a name too long, say
        raise SuiteError.at(spec_path, f"repo mirror folder: {exc.strerror or exc}", field="repo_mirror") from None
    if mirror_missing:
        raise SuiteError.at(spec_path, f"repo mirror folder {mirror} does not exist", field="repo_mirror")
    specs = load_specs(suite_dir / suite.specs) if suite.specs else {}
    return [task_from_row(row, find_spec(row.repo, row.version, specs), resolve_repo(row.repo, mirror),
                          f"{data} ({row.instance_id})")
            for row in parse_rows(data)]
