"""A built SWE-bench environment behaves like an official one: what the build changed in /testbed survives
every sandbox's reset, the attempt's patch holds only the agent's changes, setuptools_scm gets a version,
and a link to the venv's python still runs in the venv (tox-current-env's case).

Real Docker, real git, real pip: one swe-mini row (a git bundle, so the version falls back to the row's)
whose recipe edits a tracked file at build time and leaves an untracked file, as sphinx's and pytest's do."""

from __future__ import annotations

import asyncio
import shutil

import pytest
import yaml

from agentbench.config.schema import SandboxConfig
from agentbench.sandbox.provider import make_sandbox_provider
from agentbench.scoring.swebench import SweBenchScorer, collect_patch, validate_instance
from agentbench.suites.loader import load_suite

from .conftest import ROOT

pytestmark = pytest.mark.integration

ROW = "agentbench-fixtures__semver-7"
MARKER = "# agentbench-test: edited at build time"


@pytest.fixture(scope="module")
def task_and_provider(tmp_path_factory):
    suite = tmp_path_factory.mktemp("suite") / "swe-mini"
    shutil.copytree(ROOT / "tasks" / "swe-mini", suite, ignore=shutil.ignore_patterns("src", "__pycache__"))
    specs = yaml.safe_load((suite / "specs.yaml").read_text())
    entry = specs["agentbench-fixtures/semver"]["1.0"]
    entry["pre_install"] = [f"echo '{MARKER}' >> pyproject.toml"]  # a tracked file, as root
    entry["install"] = [*entry["install"], "echo made > agentbench-build-made.txt"]  # untracked, not ignored
    (suite / "specs.yaml").write_text(yaml.safe_dump(specs))
    _, tasks = load_suite(str(suite))
    (task,) = [t for t in tasks if t.id == ROW]
    provider = make_sandbox_provider(SandboxConfig(backend="docker", swe_images="build"), log=lambda line: None)
    broken = provider.prepare([task])
    assert broken == {}, broken
    yield task, provider
    asyncio.run(provider.aclose())


async def _in_sandbox(provider, task, *commands: str) -> list[str]:
    async with provider.open(task) as sandbox:
        return [(await sandbox.exec(c, timeout=120)).stdout.strip() for c in commands]


def test_the_reset_restores_the_build_state_not_the_base_commit(task_and_provider):
    task, provider = task_and_provider
    base = task.swe.base_commit
    tail, made, parent, status = asyncio.run(_in_sandbox(
        provider, task, "tail -n 1 pyproject.toml", "cat agentbench-build-made.txt",
        "git rev-parse refs/agentbench/env^", "git status --porcelain"))
    assert tail == MARKER and made == "made"
    assert parent == base and status == ""  # the env commit sits on the base commit; nothing left over


def test_the_patch_is_only_the_agents_change_and_grades_on_the_build_state(task_and_provider):
    task, provider = task_and_provider

    async def attempt() -> str:
        async with provider.open(task) as sandbox:
            await sandbox.exec("echo '# the agent' >> README.md && echo new > agent_new.txt", timeout=60)
            return await collect_patch(sandbox, task)

    patch = asyncio.run(attempt())
    assert "diff --git a/README.md b/README.md" in patch and "agent_new.txt" in patch
    assert MARKER not in patch and "pyproject.toml" not in patch and "agentbench-build-made" not in patch
    result = asyncio.run(validate_instance(SweBenchScorer(provider), task))
    assert result.ok, result


def test_an_image_without_the_ref_resets_to_the_base_commit(task_and_provider):
    task, provider = task_and_provider
    setup = " && ".join(task.sandbox.setup)
    head, tail = asyncio.run(_in_sandbox(provider, task, f"git update-ref -d refs/agentbench/env && {setup} && "
                                                         "git rev-parse HEAD", "tail -n 1 pyproject.toml"))
    assert head == task.swe.base_commit and tail != MARKER


def test_setuptools_scm_version_and_a_venv_python_that_survives_a_link(task_and_provider):
    task, provider = task_and_provider
    pretend, is_link, prefix, pytest_at = asyncio.run(_in_sandbox(
        provider, task, "echo $SETUPTOOLS_SCM_PRETEND_VERSION",
        "test -L /opt/miniconda3/envs/testbed/bin/python && echo link || echo file",
        "ln -sf /opt/miniconda3/envs/testbed/bin/python /tmp/linked && /tmp/linked -c 'import sys; print(sys.prefix)'",
        "/tmp/linked -c 'import pytest; print(pytest.__file__)'"))
    assert pretend == "1.0.0"  # a bundle: the row's version 1.0, completed
    assert is_link == "file" and prefix == "/opt/miniconda3/envs/testbed"
    assert pytest_at.startswith("/opt/miniconda3/envs/testbed/"), pytest_at
