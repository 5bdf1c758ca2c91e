"""Environment errors explain themselves, and what grading stores stays bounded (no engine).

- `stored_log`: the stored eval log keeps at most DUMP_MAX_LINES of each `git show` / `git diff` dump the
  official script prints before the tests (synthetic logs in the official shape: `set -x` lines, the
  dumps, then the test section), the grader still reads the whole log;
- `log_tail` / `tail_block`: the end of the log that decided an environment fault, bounded and masked,
  kept with the attempt (`details["env_log_tail"]`, `EnvCheck.explained()`) and shown by `agentbench show`;
- the grading sandbox's network: the decision rule, and the scorer opening grading sandboxes apart;
- `sandbox.swe_images: auto` offline: one failed pull per registry and process, one line (fault injection);
- `tasks validate` prints test ids as written (`test_x[a-b]` is no rich markup).
"""

from __future__ import annotations

import io
import socket
import time
from contextlib import asynccontextmanager

import pytest
from docker.errors import ImageNotFound
from rich.console import Console

from agentbench.cli import validation_table
from agentbench.protocols import AttemptRecord, Outcome, Score
from agentbench.report.terminal import last_line, print_trace
from agentbench.sandbox.network import grading_network_enabled, reaches
from agentbench.sandbox.official_images import RegistryReach, registry_unreachable, resolve_official_image
from agentbench.scoring.env_checks import check_environments
from agentbench.scoring.swebench import EnvCheck, SweBenchScorer, Validation, status_map
from agentbench.scoring.swebench_eval import (DUMP_MAX_LINES, START, TAIL_BYTES, TAIL_LINES, log_tail, stored_log,
                                              tail_block)
from tests.unit.test_swebench_grading import (BASE, FAILING, MODEL, NOT_FOUND, NUMPY_MISSING, PASSING, FakeProvider,
                                              logs, make_task, run_log, spec_of)

# --- the stored log: git show / git diff dumps cut -----------------------------------------------------------


def show_dump(added: int) -> str:
    """`git show` of a depth-1 clone's one commit (every file new), as the eval log has it: `set -x`'s
    command line, the commit header, a new file of `added` lines (some of them shaped like `set -x` lines,
    which a hunk counts as content), and a modified file whose hunk ends without a newline."""
    body = [f"+line {i}" if i % 7 else "+ source /opt/miniconda3/bin/activate" for i in range(added)]
    return ("+ git show\n"
            f"commit {BASE}\nAuthor: SWE-bench <setup@swebench.config>\nDate:   Mon Jan 1 00:00:00 2024 +0000\n\n"
            "    SWE-bench\n\n"
            "diff --git a/pkg/big.py b/pkg/big.py\nnew file mode 100644\nindex 0000000..e69de29\n"
            f"--- /dev/null\n+++ b/pkg/big.py\n@@ -0,0 +1,{added} @@\n" + "".join(f"{b}\n" for b in body)
            + "diff --git a/pkg/core.py b/pkg/core.py\n--- a/pkg/core.py\n+++ b/pkg/core.py\n@@ -1,3 +1,3 @@\n"
            " a\n-b\n+ conda activate testbed\n c\n\\ No newline at end of file\n")


SHOW_HEADER = show_dump(0).count("\n") - 1  # the dump's lines but the added ones (headers, the second file)
MODEL_DIFF = ("+ git -c core.fileMode=false diff " + BASE + "\n"
              "diff --git a/pkg/core.py b/pkg/core.py\n--- a/pkg/core.py\n+++ b/pkg/core.py\n@@ -1 +1 @@\n-a\n+c\n")
AFTER_DUMPS = "+ source /opt/miniconda3/bin/activate\n+ conda activate testbed\n+ python -m pip install -e .\n"


def official_log(added: int) -> str:
    """A passing eval log in the official shape with a `git show` dump of `added` + SHOW_HEADER lines."""
    return run_log(PASSING.split("+ pytest -rA tests/test_core.py\n")[1].split("+ SWEBENCH")[0],
                   before=show_dump(added) + MODEL_DIFF + AFTER_DUMPS)


def test_a_long_git_show_keeps_its_first_lines_and_says_how_many_went():
    log = official_log(100)
    stored = stored_log(log, max_lines=10)
    lines = stored.split("\n")
    show = lines.index("+ git show")
    assert lines[show + 1:show + 11] == log.split("\n")[show + 1:show + 11]  # the first 10 lines, as they were
    left_out = 100 + SHOW_HEADER - 10
    assert lines[show + 11] == (f"[... agentbench: {left_out:,} more lines of this `git show` left out of the "
                                "stored log (grading read them all) ...]")
    # the dump ends where the script's next command starts: the model's diff (short) and the rest stay whole
    assert lines[show + 12] == f"+ git -c core.fileMode=false diff {BASE}"
    assert stored.split(f"+ git -c core.fileMode=false diff {BASE}\n", 1)[1] == \
        log.split(f"+ git -c core.fileMode=false diff {BASE}\n", 1)[1]
    assert len(lines) == len(log.split("\n")) - left_out + 1


def test_the_default_keeps_dump_max_lines_and_the_test_output_whole():
    log = official_log(DUMP_MAX_LINES + 500)
    stored = stored_log(log)
    assert f"[... agentbench: {500 + SHOW_HEADER:,} more lines of this `git show`" in stored
    assert stored.split(START, 1)[1] == log.split(START, 1)[1]
    assert status_map(spec_of(), stored) == status_map(spec_of(), log)


def test_a_short_log_is_stored_as_it_is():
    for log in (PASSING, FAILING, NOT_FOUND, official_log(50), ""):
        assert stored_log(log) == log
    # a log whose tests never started (no marker): its dumps are cut all the same
    assert "more lines of this `git show`" in stored_log(show_dump(50) + AFTER_DUMPS, max_lines=5)


def test_a_dump_is_cut_only_before_the_test_output():
    in_tests = run_log("+ git show\n" + "".join(f"x{i}\n" for i in range(50)), exit_code=0)
    assert stored_log(in_tests, max_lines=5) == in_tests


def test_a_combined_diff_hunk_is_counted_per_parent():
    merge = ("+ git show\ncommit abc\nMerge: 1 2\n\ndiff --cc f.py\nindex 1,2..3\n--- a/f.py\n+++ b/f.py\n"
             "@@@ -1,2 -1,2 +1,3 @@@\n  a\n+ x\n -y\n++ z\n")  # 12 lines; `+ x` and `++ z` are content
    stored = stored_log(merge + AFTER_DUMPS, max_lines=3)
    assert stored.split("\n")[4] == "[... agentbench: 9 more lines of this `git show` left out of the stored log " \
                                    "(grading read them all) ...]"
    assert stored.endswith("\n" + AFTER_DUMPS)
    # one line fewer in the hunk than its header says: the next command line counts as content
    short = stored_log(merge.replace("++ z\n", "") + AFTER_DUMPS, max_lines=3)
    assert short.split("\n")[4].startswith("[... agentbench: 9 more lines") and "+ python -m pip" in short


def test_a_sphinx_sized_dump_is_cut_quickly():
    log = official_log(437_000)
    started = time.monotonic()
    stored = stored_log(log)
    assert time.monotonic() - started < 10
    assert len(stored.split("\n")) < DUMP_MAX_LINES + 100 and stored.split(START, 1)[1] == log.split(START, 1)[1]


async def test_the_scorer_grades_the_whole_log_and_stores_the_cut_one():
    big = official_log(DUMP_MAX_LINES * 2)
    score = await SweBenchScorer(FakeProvider(logs(big))).score(make_task(), Outcome(patch=MODEL))
    assert score.passed
    assert "more lines of this `git show` left out" in score.details["test_log"]
    assert len(score.details["test_log"]) < len(big) and score.details["tests_ran"] == 2


# --- the log tail of an environment error ---------------------------------------------------------------------

def test_the_tail_is_the_last_lines_bounded_and_masked():
    log = "".join(f"line {i}\n" for i in range(200)) + "\n\n"
    tail = log_tail(log).split("\n")
    assert len(tail) == TAIL_LINES and tail[0] == f"line {200 - TAIL_LINES}" and tail[-1] == "line 199"
    wide = "".join(f"{i:05d} " + "w" * 300 + "\n" for i in range(100))
    kept = log_tail(wide)
    assert len(kept.encode()) <= TAIL_BYTES and kept.split("\n")[-1].startswith("00099 ")
    assert len(log_tail("x" * 5000).split("\n")[0]) <= 500
    secret = log_tail("pip: Authorization: Bearer abcdef0123456789abcdef\n"
                      "export OPENAI_API_KEY=sk-abcdefghij0123456789xyz\n")
    assert "abcdef0123456789abcdef" not in secret and "abcdefghij0123456789xyz" not in secret and "***" in secret
    assert log_tail("") == "" and tail_block("", "test log") == ""
    assert tail_block("a\nb", "test log") == "\nlast 2 lines of the test log:\n  | a\n  | b"


async def test_an_environment_fault_keeps_the_end_of_its_log():
    score = await SweBenchScorer(FakeProvider(logs(NOT_FOUND))).score(make_task(), Outcome(patch=MODEL))
    assert score.env_error == "test_command_not_found"
    tail = score.details["env_log_tail"]
    assert tail.startswith("last ") and tail.split("\n")[0].endswith(" lines of the test log:")
    assert "  | /tmp/agentbench-eval.sh: line 21: pytest: command not found" in tail
    assert tail.split("\n")[-1] == "  | " + NOT_FOUND.rstrip().split("\n")[-1]


async def test_an_ambiguous_fault_on_a_broken_environment_keeps_the_log_without_the_patch():
    bare = NUMPY_MISSING.replace("collected 0 items", "collected 0 items (bare run)")
    provider = FakeProvider(logs(NUMPY_MISSING, bare=bare, gold=bare))
    score = await SweBenchScorer(provider).score(make_task(), Outcome(patch=MODEL))
    assert score.env_error == "collection_import_error"
    tail = score.details["env_log_tail"]
    assert tail.split("\n")[0].endswith(" lines of the test log without a patch:") and "(bare run)" in tail


async def test_a_patch_that_broke_the_tests_keeps_no_environment_tail():
    provider = FakeProvider(logs(NUMPY_MISSING, bare=FAILING))
    score = await SweBenchScorer(provider).score(make_task(), Outcome(patch=MODEL))
    assert score.env_error is None and "env_log_tail" not in score.details
    assert score.details["failure_reason"].startswith("patch_broke_tests")


async def test_the_check_before_the_run_explains_itself_to_the_attempts():
    scorer = SweBenchScorer(FakeProvider(logs(PASSING, bare=NOT_FOUND)))
    notes: list[str] = []
    broken = await check_environments(scorer, [make_task()], "tests", 1, note=notes.append)
    (why,) = broken.values()
    first, second, *rest = why.split("\n")
    assert first.startswith("test_command_not_found: ") and "pytest: command not found" in first
    assert second.endswith(" lines of the test log without a patch:") and rest[-1].startswith("  | ")
    assert notes[-1].endswith("is broken: test_command_not_found")  # the console gets one line
    check = await scorer.check_environment(make_task())
    assert check.explained() == why and EnvCheck(ok=True, tests_ran=2).explained() == ""
    full = SweBenchScorer(FakeProvider(logs(PASSING, bare=NOT_FOUND, gold=NOT_FOUND)))
    (why_full,) = (await check_environments(full, [make_task()], "full", 1, note=notes.append)).values()
    assert why_full.startswith("environment broken: test_command_not_found") and "\nlast " in why_full


def _record(error: str | None, score: Score | None = None) -> AttemptRecord:
    return AttemptRecord(task_id="acme__widget-1", epoch=0, status="error", error=error, reason="environment",
                         score=score)


def _printed(record: AttemptRecord) -> str:
    out = io.StringIO()
    print_trace(record, [], Console(file=out, width=200, color_system=None))
    return out.getvalue()


def test_show_prints_the_tail_of_a_graded_environment_fault_and_of_a_failed_build():
    tail = "last 2 lines of the test log:\n  | + pytest -rA\n  | bash: pytest[x]: command not found"
    graded = _record("environment: test_command_not_found",
                     Score(passed=False, env_error="test_command_not_found",
                           details={"env_log_tail": tail}))
    shown = _printed(graded)
    assert "last 2 lines of the test log:" in shown and "bash: pytest[x]: command not found" in shown
    build = ("environment: building sandbox image 'swe-env' (agentbench/swe-env:1) failed: pip exited 1\n"
             "last 2 lines of the build log:\n  | ERROR: No matching distribution for [no-such]\n  | exit 1")
    shown = _printed(_record(build))
    assert "No matching distribution for [no-such]" in shown and "last 2 lines of the build log:" in shown
    # the one-line views name what failed, not the log's last line
    assert last_line(build) == build.split("\n")[0] and build.split("\n")[0].endswith("failed: pip exited 1")
    assert last_line("Traceback\nValueError: x") == "ValueError: x"


# --- the grading sandbox's network --------------------------------------------------------------------------

def test_the_grading_network_rule():
    asked: list[int] = []

    def probe(answer: bool):
        return lambda: asked.append(1) or answer

    assert grading_network_enabled("auto", "none", probe(True)) is True
    assert grading_network_enabled("auto", "none", probe(False)) is False
    assert len(asked) == 2
    assert grading_network_enabled(True, "none", probe(False)) is True
    assert grading_network_enabled(False, "none", probe(True)) is False
    assert grading_network_enabled(False, "bridge", probe(False)) is True  # the agent has one already
    assert len(asked) == 2  # only `auto` with an isolated agent probes
    with pytest.raises(ValueError, match="grading_network"):
        grading_network_enabled("sometimes", "none", probe(True))  # type: ignore[arg-type]


def test_the_probe_is_a_real_connection():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert reaches("127.0.0.1", server.getsockname()[1], 2.0)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert not reaches("127.0.0.1", port, 2.0)
    assert not reaches("no-such-host.invalid", 443, 2.0)


class GradingProvider(FakeProvider):
    """A provider whose grading sandboxes differ from the agent's, as the Docker one's do."""

    def __init__(self, *args, network: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.network, self.grading_opened = network, 0

    def grading_has_network(self) -> bool:
        return self.network

    @asynccontextmanager
    async def open_grading(self, task):
        self.grading_opened += 1
        async with self.open(task) as sandbox:
            yield sandbox


async def test_the_scorer_grades_in_the_grading_sandbox_and_records_its_network():
    for network in (True, False):
        provider = GradingProvider(logs(PASSING), network=network)
        score = await SweBenchScorer(provider).score(make_task(), Outcome(patch=MODEL))
        assert score.passed and score.details["grading_network"] is network
        assert provider.grading_opened == len(provider.opened) == 1
    plain = await SweBenchScorer(FakeProvider(logs(PASSING))).score(make_task(), Outcome(patch=MODEL))
    assert plain.details["grading_network"] is False


# --- sandbox.swe_images: auto without a registry ------------------------------------------------------------

HUB_DOWN = ('Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: '
            "no such host")


class _Response:
    def __init__(self, status: int, message: str) -> None:
        self.status_code, self.message, self.text = status, message, message

    def json(self) -> dict:
        return {"message": self.message}

    def close(self) -> None: ...


class _Api:
    base_url, api_version, credstore_env = "http+docker://localhost", "1.43", None

    def __init__(self, message: str) -> None:
        from docker.auth import AuthConfig

        self._auth_configs = AuthConfig({"auths": {"unused.example": {"auth": ""}}})
        self.message, self.posts = message, 0

    def post(self, url, **kwargs) -> _Response:
        self.posts += 1
        return _Response(500, self.message)


class _Images:
    def get(self, ref: str):
        raise ImageNotFound(f"no such image: {ref}")


class FailingEngine:
    """An engine with no image, whose every pull fails with `message` (what dockerd says offline)."""

    def __init__(self, message: str = HUB_DOWN) -> None:
        self.api, self.images = _Api(message), _Images()


def test_offline_auto_asks_the_registry_once_and_says_so_once():
    engine, reach, lines = FailingEngine(), RegistryReach(), []
    for i in range(5):
        image = f"swebench/sweb.eval.x86_64.demo_1776_demo-{i}:latest"
        assert resolve_official_image(engine, image, "auto", None, log=lines.append, reach=reach) is None
    assert engine.api.posts == 1
    assert len(lines) == 1 and "Docker Hub does not answer" in lines[0] and "no such host" in lines[0]
    assert reach.down(None) is not None and reach.down("mirror.example:5000") is None
    # another registry is asked on its own; `pull` still asks (and fails loudly) whatever `auto` learnt
    assert resolve_official_image(engine, "swebench/x:1", "auto", "mirror.example:5000", log=lines.append,
                                  reach=reach) is None
    assert engine.api.posts == 2 and len(lines) == 2


def test_a_registry_that_answers_no_is_asked_again():
    engine, reach, lines = FailingEngine("manifest for swebench/x:1 not found: manifest unknown"), RegistryReach(), []
    for _ in range(3):
        assert resolve_official_image(engine, "swebench/x:1", "auto", None, log=lines.append, reach=reach) is None
    assert engine.api.posts == 3 and len(lines) == 3 and reach.down(None) is None
    assert lines[0].endswith("; building locally")
    assert registry_unreachable("dial tcp 127.0.0.1:5999: connect: connection refused")
    assert not registry_unreachable("pull access denied for swebench/x, repository does not exist")


# --- tasks validate prints ids as written -------------------------------------------------------------------

def test_validation_table_prints_pytest_ids_as_written():
    detail = "gold patch: RESOLVED_NO {'FAIL_TO_PASS': {'failure': ['tests/test_x.py::test_x[a-b]', 'test_y[/]']}}"
    result = Validation(instance_id="acme__widget-1[x]", test_patch_applies=True, gold_resolves=False,
                        empty_fails=True, env_ok=True, detail=detail)
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(validation_table("suite[bold]", [result]))
    text = out.getvalue()
    assert "test_x[a-b]" in text and "test_y[/]" in text and "acme__widget-1[x]" in text and "suite[bold]" in text
