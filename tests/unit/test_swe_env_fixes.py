"""Built SWE-bench environments as the official ones: setuptools_scm's version from the mirror's tags (or
the row's), the reset to the build's own commit (ENV_REF) with a fall back to the base commit, the venv
made of copies, and the Dockerfile lines that do it. Real git in temporary folders; no Docker here (the
integration test test_swe_env_state.py builds one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentbench.sandbox.swe_images import (EnvSettings, env_dockerfile, env_tag, instance_dockerfile, instance_tag,
                                           official_dockerfile, pretend_version)
from agentbench.sandbox.swe_scm import (ScmVersion, describe, next_dev_version, scm_version, tag_version,
                                        uses_setuptools_scm, version_from_describe, version_from_row)
from agentbench.sandbox.swe_shims import RECORD_ENV, python_wrapper
from agentbench.sandbox.swe_tags import OfficialLayerKey, digest
from agentbench.suites.swe_recipes import find_spec
from agentbench.suites.swebench import SweRow, reset_to_env, task_from_row
from agentbench.swe_spec import EnvSpec, SweSpec
from agentbench.swebench_layout import ENV_REF


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


def sh(repo: Path, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=repo, capture_output=True, text=True)


# --- the version setuptools_scm would compute -------------------------------------------------------------

@pytest.mark.parametrize("described,expected", [
    ("5.4.0-593-ge6e300e72", "5.4.1.dev593"),  # pytest-dev__pytest-7432's base commit in the full mirror
    ("5.4.0-0-ge6e300e72", "5.4.0"),
    ("v5.0.3-12-g1234567", "5.0.4.dev12"),
    ("v4.3-1-gabcdef0", "4.4.dev1"),
    ("pytest-2.9.2-7-gabcdef0", "2.9.3.dev7"),
    ("1.0.0rc1-3-gabcdef0", "1.0.0rc2.dev3"),
    ("3.0.dev0-4-gabcdef0", "3.0.dev4"),  # a dev tag: its release, then .devN
    ("nightly-3-gabcdef0", None),  # no version in the tag
    ("not describe output", None),
])
def test_version_from_describe_is_guess_next_dev(described, expected):
    assert version_from_describe(described) == expected


def test_tag_version_and_next_dev_version():
    assert tag_version("v5.4.1") == "5.4.1" and tag_version("V2.0") == "2.0" and tag_version("latest") is None
    assert next_dev_version("5.4.1", 0) == "5.4.1" and next_dev_version("5.4.9", 2) == "5.4.10.dev2"
    with pytest.raises(ValueError):
        next_dev_version("abc", 1)


@pytest.mark.parametrize("row,expected", [("5.4", "5.4.0"), ("v5.3", "5.3.0"), ("2022.03", "2022.03.0"),
                                          ("0.12", "0.12.0"), ("", None), (None, None), ("dev", None)])
def test_the_fallback_is_the_rows_version_completed(row, expected):
    assert version_from_row(row) == expected


def test_scm_version_prefers_the_tags_and_says_where_it_came_from():
    assert scm_version("5.4.0-3-gabc1234", "5.4") == ScmVersion(version="5.4.1.dev3", source="describe")
    assert scm_version(None, "5.4") == ScmVersion(version="5.4.0", source="row version")
    assert scm_version("nightly-3-gabc1234", "5.4") == ScmVersion(version="5.4.0", source="row version")
    assert scm_version(None, None) is None


@pytest.fixture
def tagged(tmp_path) -> tuple[Path, list[str]]:
    """A setuptools_scm repo with 4 commits, `v1.2.0` on the second."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "pyproject.toml").write_text("[tool.setuptools_scm]\n")
    git(repo, "add", "pyproject.toml")
    shas = []
    for i in range(4):
        (repo / "f.txt").write_text(f"{i}\n")
        git(repo, "add", "f.txt")
        git(repo, "commit", "-q", "-m", f"c{i}")
        shas.append(git(repo, "rev-parse", "HEAD"))
        if i == 1:
            git(repo, "tag", "v1.2.0")
    return repo, shas


def test_describe_reads_a_full_mirror_and_refuses_a_shallow_one(tagged, tmp_path):
    repo, shas = tagged
    bare = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    assert version_from_describe(describe(bare, shas[3]) or "") == "1.2.1.dev2"
    assert version_from_describe(describe(bare, shas[1]) or "") == "1.2.0"
    assert describe(bare, shas[0]) is None  # no tag below it
    shallow = tmp_path / "shallow.git"
    git(tmp_path, "clone", "-q", "--bare", "--depth", "2", f"file://{repo}", str(shallow))
    assert describe(shallow, shas[3]) is None  # distances in a shallow repo would be wrong


def recipe(source: str, base: str, **env) -> SweSpec:
    return SweSpec(instance_id="acme__widget-1", repo="acme/widget", source=source, environment_setup_commit=base,
                   base_commit=base, version="1.2", patch="", test_patch="", env=EnvSpec(**env))


def test_pretend_version_from_a_mirror_then_from_the_row(tagged, tmp_path):
    repo, shas = tagged
    bare = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    assert pretend_version(recipe(str(bare), shas[2])) == ScmVersion(version="1.2.1.dev1", source="describe")
    assert pretend_version(recipe("https://github.com/acme/widget.git", shas[2])) == ScmVersion(
        version="1.2.0", source="row version")
    bundle = tmp_path / "w.bundle"
    git(repo, "bundle", "create", str(bundle), "--all")
    assert pretend_version(recipe(str(bundle), shas[2])).source == "row version"
    # a repo whose setup files do not name setuptools_scm gets none (a mirror shows it; a bundle cannot)
    (repo / "pyproject.toml").write_text("[project]\nname = 'w'\n")
    git(repo, "commit", "-q", "-am", "no scm")
    plain = git(repo, "rev-parse", "HEAD")
    git(bare, "fetch", "-q", str(repo), "HEAD")
    assert uses_setuptools_scm(bare, plain) is False and uses_setuptools_scm(bare, shas[2]) is True
    assert uses_setuptools_scm(bare, "f" * 40) is None
    assert pretend_version(recipe(str(bare), plain)) is None
    # the version is part of the instance image's identity: a full mirror after a shallow one rebuilds
    r = recipe(str(bare), shas[2])
    assert instance_tag(r, "env", pretend_version(r)) != instance_tag(r, "env", ScmVersion(version="1.2.0",
                                                                                           source="row version"))


# --- image tags -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("repo,version,source,debian_env,conda_env,with_version,without", [
    ("sqlfluff/sqlfluff", "0.6", "/m/x.git", "76b9ecb5177b", "36d653a9bcf8", "48d7d43afd7a", "853b6a3eca00"),
    ("astropy/astropy", "4.3", "https://github.com/astropy/astropy.git", "aa71efcf733a", "5995f609d87b",
     "6097cabc7d07", "132c9360f418"),
])
def test_image_tags_are_the_ones_built_before_the_typed_spec(repo, version, source, debian_env, conda_env,
                                                              with_version, without):
    """The same recipe names the same images as before Task.swe (#23; the values that code computed), so
    images built then are reused. A change to the shim, the python wrapper or requirements_flatten.py changes
    the environment tags on purpose: update the values here with it (and say so: every image rebuilds)."""
    patch = "diff --git a/t/test_x.py b/t/test_x.py\n--- a/t/test_x.py\n+++ b/t/test_x.py\n@@ -1 +1 @@\n-a\n+b\n"
    row = SweRow(repo=repo, instance_id="x-1", base_commit="a" * 40, patch="", test_patch=patch, problem_statement="p",
                 version=version, FAIL_TO_PASS=[], PASS_TO_PASS=[], environment_setup_commit="b" * 40)
    swe = task_from_row(row, find_spec(repo, version), source, "x").swe
    env = env_tag(swe, EnvSettings(), "agentbench/rootfs:abc")
    assert env == f"agentbench/swe-env:{debian_env}"
    conda = EnvSettings(python_source="conda")
    assert env_tag(swe, conda, "agentbench/rootfs:abc") == f"agentbench/swe-env:{conda_env}"
    assert instance_tag(swe, env, ScmVersion(version="1.2", source="describe")) == f"agentbench/swe-inst:{with_version}"
    assert instance_tag(swe, env, None) == f"agentbench/swe-inst:{without}"
    moved = swe.model_copy(update={"source": "/elsewhere/x.bundle" if "://" not in source else source})
    assert env_tag(moved, EnvSettings(), "agentbench/rootfs:abc") == env  # which mirror does not count
    assert digest(OfficialLayerKey(id="sha256:" + "c" * 64, df=official_dockerfile())) == "9b646d22a3eb"


# --- Dockerfiles ------------------------------------------------------------------------------------------

def test_the_instance_layer_sets_the_version_first_and_records_the_build_last():
    r = recipe("/mirror.git", "a" * 40, pre_install=["sed -i 's/pytest/pytest -rA/' tox.ini"],
               install=["python -m pip install -e ."])
    lines = instance_dockerfile(r, True, ScmVersion(version="5.4.1.dev593", source="describe")).splitlines()
    env = lines.index("ENV SETUPTOOLS_SCM_PRETEND_VERSION=5.4.1.dev593")
    pre = next(i for i, line in enumerate(lines) if "tox.ini" in line)
    install = next(i for i, line in enumerate(lines) if "pip install -e ." in line)
    record = lines.index(f"RUN cd /testbed && {RECORD_ENV}")
    assert env < pre < install < record
    assert lines[record - 1] == lines[install] and "USER 1000:1000" in lines[:record]  # as the agent, last
    assert "SETUPTOOLS_SCM" not in instance_dockerfile(r, True, None)


def test_the_official_image_gets_its_working_tree_recorded_as_the_agent():
    lines = official_dockerfile().splitlines()
    assert lines[-1] == f"RUN {RECORD_ENV}"
    assert "USER 1000:1000" in lines and "WORKDIR /testbed" in lines


def test_the_debian_venv_is_copies_and_its_python_a_wrapper():
    made = recipe("/m.git", "a" * 40, python="3.9", debian="bullseye")
    lines = env_dockerfile(made, EnvSettings(), True).splitlines()
    venv = lines.index("RUN python3 -m venv --copies /opt/miniconda3/envs/testbed && "
                       "test -x /opt/miniconda3/envs/testbed/bin/python3.9")
    assert lines[venv + 1:venv + 3] == [
        "COPY --chown=1000:1000 python-wrapper /opt/miniconda3/envs/testbed/bin/python",
        "COPY --chown=1000:1000 python-wrapper /opt/miniconda3/envs/testbed/bin/python3"]
    assert venv < next(i for i, line in enumerate(lines) if "--upgrade pip" in line)


def test_a_link_to_the_wrapper_runs_in_the_venv(tmp_path):
    """A real venv made as the image makes it (copies, python and python3 the wrapper): started through a
    symlink elsewhere (tox-current-env's .tox/ENV/bin/python), python still runs in the venv; the plain
    venv python does not (what broke sphinx's tox --current-env)."""
    env = tmp_path / "testbed"
    subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(env)], check=True)
    real = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    prefix = "import sys; print(sys.prefix)"
    plain = tmp_path / "plain" / "bin" / "python"
    plain.parent.mkdir(parents=True)
    plain.symlink_to(env / "bin" / real)
    assert subprocess.run([str(plain), "-c", prefix], capture_output=True, text=True).stdout.strip() != str(env)
    for name in ("python", "python3"):
        (env / "bin" / name).unlink()
        (env / "bin" / name).write_text(python_wrapper(str(env), real))
        (env / "bin" / name).chmod(0o755)
    link = tmp_path / "tox" / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(env / "bin" / "python")
    out = subprocess.run([str(link), "-X", "dev", "-c", prefix + "; print(sys.executable, sys.argv[1:])", "a b"],
                         capture_output=True, text=True, check=True).stdout
    assert out == f"{env}\n{env}/bin/python ['a b']\n"


# --- what RECORD_ENV and the reset do, in a real repo ------------------------------------------------------

def test_the_reset_restores_the_recorded_build_and_falls_back_to_the_base_commit(tagged):
    repo, shas = tagged
    base = shas[2]
    git(repo, "checkout", "-q", base)
    (repo / ".gitignore").write_text("*.egg-info/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")
    base = git(repo, "rev-parse", "HEAD")
    # the build: pre_install edits a tracked file, install leaves an untracked file and an ignored folder
    (repo / "f.txt").write_text("edited by pre_install\n")
    (repo / "made.txt").write_text("by install\n")
    (repo / "w.egg-info").mkdir()
    (repo / "w.egg-info" / "PKG-INFO").write_text("x\n")
    assert sh(repo, RECORD_ENV).returncode == 0
    assert git(repo, "rev-parse", f"{ENV_REF}^") == base
    assert "w.egg-info" not in git(repo, "show", "--stat", "--format=", ENV_REF)  # ignored stays ignored
    # an attempt changes things; the reset brings back the build's state, not the base commit's
    (repo / "f.txt").write_text("agent\n")
    (repo / "made.txt").unlink()
    (repo / "agent.txt").write_text("new\n")
    for command in reset_to_env(base):
        assert sh(repo, command).returncode == 0, command
    assert (repo / "f.txt").read_text() == "edited by pre_install\n" and (repo / "made.txt").exists()
    assert not (repo / "agent.txt").exists() and (repo / "w.egg-info" / "PKG-INFO").exists()
    # an image without the ref: the base commit, as before
    git(repo, "update-ref", "-d", ENV_REF)
    for command in reset_to_env(base):
        assert sh(repo, command).returncode == 0, command
    assert git(repo, "rev-parse", "HEAD") == base and (repo / "f.txt").read_text() == "2\n"


# --- the Docker provider's image per task -------------------------------------------------------------------

def test_the_docker_provider_resolves_each_environment_once_from_the_typed_spec():
    """Each distinct SweSpec is built (or found) once, from the spec itself, never from a dict; tasks of our
    own sandbox recipes go to `resolve_image` by name. No engine: the resolvers are fakes."""
    from types import SimpleNamespace

    from agentbench.protocols import Task, TaskSandbox
    from agentbench.sandbox.docker import DockerSandboxProvider, DockerSandboxConfig

    built: list[SweSpec] = []
    named: list[str] = []
    provider = DockerSandboxProvider(SimpleNamespace(api=None), DockerSandboxConfig(grading_network=False),
                                     resolve_image=lambda name: named.append(name) or f"agentbench/{name}:1",
                                     resolve_env=lambda swe: built.append(swe) or f"agentbench/swe-inst:{len(built)}")
    one, two = recipe("/m.git", "a" * 40), recipe("/m.git", "c" * 40)
    task = lambda i, swe: Task(id=i, kind="swe", prompt="p", swe=swe,  # noqa: E731
                               sandbox=TaskSandbox(image="swe-env", workdir="/testbed"))
    qa = Task(id="q", kind="qa", prompt="p", sandbox=TaskSandbox(image="python"))
    assert provider.prepare([task("a", one), task("a2", one), task("b", two), qa, qa]) == {}
    assert built == [one, two] and named == ["python"]
    assert provider._image(task("b", two)) == "agentbench/swe-inst:2" and len(built) == 2
