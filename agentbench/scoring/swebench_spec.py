"""One `SweTestSpec` per SWE-bench instance, made once from the task's `SweSpec` (`make_test_spec`), as the
official harness makes one `TestSpec` per instance: instance id, repo, version, the eval script's commands,
the test directives, FAIL_TO_PASS / PASS_TO_PASS, the log parser and the eval type. It builds the eval
script; grading (`status_map`, `resolution_report`) reads it, through swebench's own `TestSpec`
(`SweTestSpec.harness()`, every field the grading functions read filled).

The eval script is the row's own `eval_script` (SWE-bench 5.x) prepared as swebench 5.0.2's
`make_test_spec` prepares it, or one made from the recipe in the shape of the official builder
(`make_eval_script_list_py`): activate, git status/show/diff, `eval_commands`, the install again, the test
patch's files reset, the test patch, the test command with its directives between the official markers,
the files reset again. Both go through `record_test_exit_code` and run under `#!/bin/bash` /
`set -uxo pipefail`, as the harness runs them. Pure apart from the temporary log file grading reads.
"""

from __future__ import annotations

import tempfile
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentbench.scoring.swebench_eval import END, START
from agentbench.swe_spec import SweSpec
from agentbench.swebench_layout import TESTBED, patch_files

HEREDOC = "EOF_114329324912"  # the delimiter the official eval scripts use for the test patch
ENV = "testbed"
# File kinds SWE-bench does not pass to the test command as directives (its NON_TEST_EXTS).
_NON_TEST_EXTS = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml")
# Repos graded fail-only by the official harness (their parsers record only failures).
FAIL_ONLY_REPOS = frozenset({"chartjs/Chart.js", "processing/p5.js", "markedjs/marked", "bpmn-io/bpmn-js",
                             "openlayers/openlayers", "eslint/eslint"})


def get_test_directives(repo: str, test_patch: str) -> list[str]:
    """What the official harness appends to the test command: the test patch's files, less data files;
    for django, as dotted module names relative to tests/."""
    paths = [p for p in patch_files(test_patch) if not any(p.endswith(ext) for ext in _NON_TEST_EXTS)]
    if repo == "django/django":
        paths = [p.removesuffix(".py").removeprefix("tests/").replace("/", ".") for p in paths]
    return paths


def test_patch_files(test_patch: str) -> tuple[list[str], list[str]]:
    """(files the test patch modifies or deletes, files it creates), as the official builder splits them:
    the first are reset with `git checkout BASE`, the second with `rm -f`."""
    from swebench.utils import get_modified_files
    from unidiff import PatchSet
    from unidiff.errors import UnidiffParseError

    if not test_patch.strip():
        return [], []
    try:
        new = [f.target_file.removeprefix("b/") for f in PatchSet(test_patch) if f.source_file == "/dev/null"]
        return get_modified_files(test_patch), new
    except (UnidiffParseError, ValueError, IndexError):  # not a diff (the loader refuses such rows): reset what it names
        return patch_files(test_patch), []


def reset_commands(base_commit: str, test_patch: str) -> list[str]:
    """Put the test patch's files back as they are at the base commit (the model's changes to them go)."""
    modified, new = test_patch_files(test_patch)
    return ([f"git checkout {base_commit} {' '.join(modified)}"] if modified else []) + \
           ([f"rm -f {' '.join(new)}"] if new else [])


def _generated_lines(swe: SweSpec, directives: list[str]) -> list[str]:
    """The official builder's command list for the instance, from its recipe."""
    base, env = swe.base_commit, swe.env
    reset = reset_commands(base, swe.test_patch)
    activate = ["source /opt/miniconda3/bin/activate", f"conda activate {ENV}"]
    return [*activate, f"cd {TESTBED}", *env.eval_commands,
            f"git config --global --add safe.directory {TESTBED}", f"cd {TESTBED}",
            "git status", "git show", f"git -c core.fileMode=false diff {base}",
            *activate, *env.install,
            *reset,
            f"git apply -v - <<'{HEREDOC}'\n{swe.test_patch}\n{HEREDOC}",
            f": '{START}'",
            " ".join([env.test_cmd, *directives]),
            f": '{END}'",
            *reset]


class SweTestSpec(BaseModel):
    """What grading one instance needs (the official `TestSpec`'s fields, plus the test directives)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_id: str
    repo: str
    version: str
    image: str | None = None
    eval_script_list: list[str]
    test_directives: list[str]
    FAIL_TO_PASS: list[str]
    PASS_TO_PASS: list[str]
    log_parser: str
    eval_type: str

    @property
    def eval_script(self) -> str:
        """The script the grader runs (the official `TestSpec.eval_script`)."""
        return "\n".join(["#!/bin/bash", "set -uxo pipefail", *self.eval_script_list]) + "\n"

    def harness(self) -> Any:
        """The same as swebench's own `TestSpec` (what its grading functions take)."""
        from swebench.types import TestSpec

        return TestSpec(instance_id=self.instance_id, image=self.image or "", eval_script_list=self.eval_script_list,
                        repo=self.repo, version=self.version, FAIL_TO_PASS=self.FAIL_TO_PASS,
                        PASS_TO_PASS=self.PASS_TO_PASS, log_parser=self.log_parser, eval_type=self.eval_type)


def make_test_spec(swe: SweSpec) -> SweTestSpec:
    """The instance's test spec: the row's own eval script, or the generated one, each as 5.0.2 runs it."""
    from swebench.harness.utils import parse_eval_script, record_test_exit_code

    directives = get_test_directives(swe.repo, swe.test_patch) if swe.env.test_directives_from == "test_patch" else []
    lines = parse_eval_script(swe.eval_script) if swe.eval_script else _generated_lines(swe, directives)
    return SweTestSpec(instance_id=swe.instance_id, repo=swe.repo, version=swe.version, image=swe.image,
                       eval_script_list=record_test_exit_code(lines), test_directives=directives,
                       FAIL_TO_PASS=swe.FAIL_TO_PASS, PASS_TO_PASS=swe.PASS_TO_PASS,
                       log_parser=swe.log_parser or swe.env.log_parser,
                       eval_type=swe.eval_type or ("fail_only" if swe.repo in FAIL_ONLY_REPOS else "pass_and_fail"))


def graded(spec: SweTestSpec, log: str, patch: str | None,
           report: bool = True) -> tuple[dict[str, str], dict[str, Any]]:
    """(get_logs_eval's status map, get_eval_report's report for `patch` plus `resolution`; {} without
    `report`), from one temporary copy of the log (the official functions read files)."""
    from swebench.harness.grading import get_eval_report, get_logs_eval, get_resolution_status

    harness = spec.harness()
    with tempfile.NamedTemporaryFile("w", suffix=".log", encoding="utf-8") as fh:
        fh.write(log)
        fh.flush()
        status = get_logs_eval(harness, fh.name)[0]
        if not report:
            return status, {}
        prediction = {"instance_id": spec.instance_id, "model_name_or_path": "agentbench", "model_patch": patch}
        result = get_eval_report(harness, prediction, fh.name, include_tests_status=True)[spec.instance_id]
    tests = result.get("tests_status")
    result["resolution"] = get_resolution_status(tests) if tests else "RESOLVED_NO"
    return status, result


def status_map(spec: SweTestSpec, log: str) -> dict[str, str]:
    """The test statuses swebench's get_logs_eval reads from the log ({} when the run is not valid)."""
    return graded(spec, log, None, report=False)[0]


def resolution_report(spec: SweTestSpec, patch: str | None, log: str) -> dict[str, Any]:
    """swebench's get_eval_report over the log (the instance's log parser and eval_type), plus `resolution`
    (get_resolution_status: RESOLVED_FULL / PARTIAL / NO)."""
    return graded(spec, log, patch)[1]
