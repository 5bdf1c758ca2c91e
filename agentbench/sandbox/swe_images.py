"""SWE-bench environment images: an environment layer per (repo, environment setup commit, recipe) and an
instance layer per base commit on top, built locally; or the row's official image, pulled. Everything is
read from the task's `SweSpec` (agentbench/swe_spec.py: the row, the repo's source, the recipe `env`).

Layout (what an official SWE-bench `eval_script` expects): the repo at /testbed, and
`source /opt/miniconda3/bin/activate; conda activate testbed` working. With Debian's python3 (the
default interpreter source) there is no conda: a small shim at /opt/miniconda3/bin/activate defines
`conda activate ENV`, which sources the virtual environment /opt/miniconda3/envs/ENV. With
`sandbox.swe_python: conda` the image gets a real Miniconda there; with `uv`, a uv-managed CPython
behind the same shim. Both download at build time, so they need internet; Debian's needs only the
package mirrors.

- **environment** `agentbench/swe-env:<hash>`: FROM the Debian rootfs whose python3 matches the recipe
  (bullseye 3.9, bookworm 3.11, trixie 3.13), the repo at the environment setup commit, pip, setuptools
  and wheel upgraded, then the recipe's packages, requirement files and pip pins.
- **instance** `agentbench/swe-inst:<hash>`: FROM the environment, the base commit fetched and checked
  out, `SETUPTOOLS_SCM_PRETEND_VERSION` for a setuptools_scm repo (the version setuptools_scm would read
  from the mirror's tags, or the row's version: swe_scm.py), the recipe's pre_install (as root) and
  install, then the build's working tree recorded as a commit at `refs/agentbench/env` (ENV_REF; ignored
  files stay ignored, so build outputs stay out of it and stay on disk), then offline pip defaults for
  attempts (no index, no build isolation: an eval script's reinstall works without network).

The testbed venv (Debian's python3) is made with `--copies`, and its `python` / `python3` are a wrapper
that starts the venv's python3.X under the venv's path (swe_shims.py): a link to it elsewhere
(tox-current-env's `.tox/py39/bin/python`) still runs in the venv, as with a conda env. (uv's venv is a
plain one; conda's env is a real prefix.)

Every sandbox of a task resets /testbed to ENV_REF (`git checkout -f`, `git clean -fdq`: the task's
`setup`, suites/swebench.py), so what pre_install and install changed in tracked files (sphinx's
`pytest -rA` in tox.ini, pins in setup.py / setup.cfg / pyproject.toml) survives the reset, as it does in
an official image; the attempt's patch is the diff against ENV_REF (scoring/swebench.py). An official
image gets the same commit over its working tree (`official_dockerfile`). An image without the ref (built
before) resets to the base commit.

Repos enter a build as a shallow clone of just the commit the layer needs, made on the host from the
mirror (a bundle, a full bare repo or a shallow bare repo), or fetched from the git URL inside the build.

Tags: swe_tags.py (digests of typed keys, unchanged since swe-env-v4).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from agentbench.sandbox.images import ImageBuildError, Log, build_context_image, ensure_rootfs, image_exists
from agentbench.sandbox.swe_scm import ScmVersion, describe, scm_version, uses_setuptools_scm
from agentbench.sandbox.swe_shims import ACTIVATE_SHIM, RECORD_ENV, python_wrapper
from agentbench.sandbox.swe_tags import (ENVS, OFFICIAL_REPOSITORY, TESTBED_ENV, EnvSettings, OfficialLayerKey, digest,
                                         env_tag, instance_tag, is_local)
from agentbench.swe_spec import SweSpec
from agentbench.swebench_layout import DEBIAN_PYTHON

BUILD_CA = "/opt/agentbench-build-ca.crt"
class EnvUnbuildable(ImageBuildError):
    """No way to build this environment with these settings (known before any build starts)."""

    def __init__(self, swe: SweSpec, reason: str) -> None:
        super().__init__(f"swe-env {swe.repo}", "-", reason)


def unbuildable_reason(swe: SweSpec, settings: EnvSettings) -> str | None:
    """Why this instance's recipe cannot be built with these settings, in one line; None when it can."""
    if settings.python_source != "debian":
        return None
    known = ", ".join(f"{r} {v}" for r, v in DEBIAN_PYTHON.items())
    if swe.env.release() is None:
        return (f"Python {swe.env.python} is in no Debian release agentbench builds from ({known}): set "
                f"sandbox.swe_python: conda or uv (they download the interpreter: needs internet), or use the "
                f"row's official image (sandbox.swe_images: pull)")
    if swe.env.environment_yml:
        return (f"the recipe installs a conda environment file ({swe.env.environment_yml}): set "
                f"sandbox.swe_python: conda (needs internet), or use the row's official image")
    return None


def host_ca_bundle() -> Path | None:
    """The CA bundle this host trusts (a proxy's own CA may be in it): builds use it to reach the package
    index. Not part of the image's identity, and removed from the image at the end of the build."""
    for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    default = Path("/etc/ssl/certs/ca-certificates.crt")
    return default if default.is_file() else None


def _git(*args: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")


def stage_repo(source: str, commit: str, dest: Path, bare: bool = False) -> None:
    """A repo at `dest` holding `commit` (checked out unless `bare`), made from a local mirror: a bare
    repo, full or shallow, gives a depth-1 fetch of that commit alone; a bundle (no shallow fetch) is
    fetched whole."""
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"repo mirror {source} does not exist")
    _git("init", "-q", *(["--bare"] if bare else []), str(dest))
    if path.is_file():  # a bundle
        _git("fetch", "-q", str(path), "+refs/*:refs/mirror/*", cwd=dest)
    else:
        _git("fetch", "-q", "--depth", "1", f"file://{path.resolve()}", commit, cwd=dest)
    _git("update-ref", "refs/agentbench/commit", commit, cwd=dest)
    if not bare:
        _git("-c", "advice.detachedHead=false", "checkout", "-q", commit, cwd=dest)


def _trust() -> str:
    return f"PIP_CERT={BUILD_CA} GIT_SSL_CAINFO={BUILD_CA} SSL_CERT_FILE={BUILD_CA}"


def _python_version(swe: SweSpec) -> str:
    return swe.env.python or DEBIAN_PYTHON.get(swe.env.release() or "bookworm", "3.11")


def _interpreter(swe: SweSpec, settings: EnvSettings) -> list[str]:
    """Dockerfile lines that leave an environment at /opt/miniconda3/envs/testbed behind `conda activate`."""
    version = _python_version(swe)
    if settings.python_source == "conda":
        url = shlex.quote(settings.conda_installer_url)
        lines = [f"RUN {_trust()} python3 -c \"import sys, urllib.request as u; u.urlretrieve(sys.argv[1], "
                 f"'/tmp/miniconda.sh')\" {url} && bash /tmp/miniconda.sh -b -u -p /opt/miniconda3 && "
                 f"rm /tmp/miniconda.sh"]
        if swe.env.environment_yml:
            yml = shlex.quote(f"/testbed/{swe.env.environment_yml}")
            return lines + [f"RUN {_trust()} /opt/miniconda3/bin/conda env create -q -n testbed -f {yml} && "
                            f"/opt/miniconda3/bin/conda install -q -y -n testbed python={version}"]
        return lines + [f"RUN {_trust()} /opt/miniconda3/bin/conda create -q -y -n testbed python={version}"]
    lines = ["COPY activate /opt/miniconda3/bin/activate"]
    if settings.python_source == "uv":
        return lines + [f"RUN {_trust()} python3 -m venv /opt/uv && /opt/uv/bin/pip install -q uv && "
                        f"/opt/uv/bin/uv python install {version} && "
                        f"/opt/uv/bin/uv venv -q --seed --python {version} {ENVS}/testbed"]
    # python and python3 become python_wrapper (swe_shims.py): the venv holds even through a link
    return lines + [f"RUN python3 -m venv --copies {TESTBED_ENV} && test -x {TESTBED_ENV}/bin/python{version}",
                    *(f"COPY --chown=1000:1000 python-wrapper {TESTBED_ENV}/bin/{name}"
                      for name in ("python", "python3"))]


def env_dockerfile(swe: SweSpec, settings: EnvSettings, local: bool) -> str:
    activate = f". /opt/miniconda3/bin/activate && conda activate testbed && export {_trust()}"
    env = swe.env
    apt = " ".join(sorted({"bash", "coreutils", "git", "python3", "python3-venv", "python3-pip", "patch", "procps",
                           "ca-certificates", *env.apt_packages}))
    pip = f"{activate} && python -m pip install -q"
    lines = [
        "ARG BASE", "FROM ${BASE}", "USER root",
        f"RUN set -eux; apt-get update; apt-get install -y --no-install-recommends {apt}; apt-get clean; "
        "rm -rf /var/lib/apt/lists/*",
        "RUN set -eux; groupadd --gid 1000 agent; "
        "useradd --uid 1000 --gid 1000 --create-home --home-dir /home/agent --shell /bin/bash agent; "
        "git config --system --add safe.directory '*'; git config --system user.name agent; "
        "git config --system user.email agent@agentbench.invalid; "
        "mkdir -p /testbed /opt/miniconda3/bin && chown -R 1000:1000 /testbed /opt/miniconda3",
        f"COPY build-ca.crt {BUILD_CA}",
        "USER 1000:1000",  # everything below is the agent's own: no chown layer doubling the image
        "ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 LANG=C.UTF-8 HOME=/home/agent",
        "RUN git init -q /testbed",
        *_fetch(swe.source, swe.environment_setup_commit, local),
        *_interpreter(swe, settings),
        f"RUN {pip} --upgrade pip setuptools wheel",
    ]
    if env.packages:
        lines.append(f"RUN {pip} {' '.join(shlex.quote(p) for p in env.packages)}")
    if env.requirements:  # the first that exists, flattened as the official harness reads it
        paths = " ".join(shlex.quote(r) for r in env.requirements)
        lines += ["COPY requirements_flatten.py /opt/agentbench-requirements.py",
                  f"RUN cd /testbed && python3 /opt/agentbench-requirements.py /tmp/agentbench-reqs.txt {paths} && "
                  f"if [ -f /tmp/agentbench-reqs.txt ]; then {pip} -r /tmp/agentbench-reqs.txt && "
                  f"rm /tmp/agentbench-reqs.txt; fi"]
    if env.pip_packages:
        lines.append(f"RUN {pip} {' '.join(shlex.quote(p) for p in env.pip_packages)}")
    return "\n".join(lines) + "\n"


def _fetch(source: str, commit: str, local: bool) -> list[str]:
    """Dockerfile lines that bring `commit` (depth 1) into /testbed and check it out: from `commit.git` in
    the context (staged on the host from the mirror), or fetched from the URL."""
    sha = shlex.quote(commit)
    fetch = (f"COPY --chown=1000:1000 commit.git /tmp/commit.git\nRUN cd /testbed && git fetch -q --depth 1 "
             f"file:///tmp/commit.git {sha} && rm -rf /tmp/commit.git" if local else
             f"RUN {_trust()} cd /testbed && git fetch -q --depth 1 {shlex.quote(source)} {sha}")
    return [fetch, f"RUN cd /testbed && git -c advice.detachedHead=false checkout -q -f {sha}"]


def instance_dockerfile(swe: SweSpec, local: bool, version: ScmVersion | None = None) -> str:
    activate = f". /opt/miniconda3/bin/activate && conda activate testbed && export {_trust()}"
    lines = ["ARG BASE", "FROM ${BASE}", "USER 1000:1000", *_fetch(swe.source, swe.base_commit, local)]
    if version is not None:  # the depth-1 copy has no tags: setuptools_scm would say 0.1.dev1
        lines.append(f"ENV SETUPTOOLS_SCM_PRETEND_VERSION={shlex.quote(version.version)}")
    if swe.env.pre_install:  # as root (the official ones install Debian packages, edit setup files)
        lines += ["USER root", *(f"RUN cd /testbed && {command}" for command in swe.env.pre_install),
                  "RUN chown -R 1000:1000 /testbed", "USER 1000:1000"]
    lines += [f"RUN {activate} && cd /testbed && {command}" for command in swe.env.install]
    lines += [f"RUN cd /testbed && {RECORD_ENV}",
              "USER root", f"RUN rm -f {BUILD_CA}",
              # attempts run without network: pip must not wait for an index, nor fetch build dependencies
              "ENV PIP_NO_INDEX=1 PIP_NO_BUILD_ISOLATION=0",
              "USER 1000:1000", "WORKDIR /testbed"]
    return "\n".join(lines) + "\n"


def pretend_version(swe: SweSpec) -> ScmVersion | None:
    """The version the instance layer gives setuptools_scm (swe_scm.py): from the tags of a full bare
    mirror, else from the row's version (a bundle, a shallow mirror, a URL); None for a repo that a bare
    mirror shows not to use setuptools_scm."""
    path = Path(swe.source)
    mirror = is_local(swe.source) and path.is_dir()
    if mirror and uses_setuptools_scm(path, swe.base_commit) is False:
        return None
    return scm_version(describe(path, swe.base_commit) if mirror else None, swe.version)


def official_dockerfile() -> str:
    """A thin local layer on an official image (root-owned /testbed, conda's python3): the agent's uid owns
    the repo and the environment, python3 answers for agentbench's command server, pip works offline."""
    return "\n".join([
        "ARG BASE", "FROM ${BASE}", "USER root",
        "RUN (getent passwd 1000 >/dev/null || useradd --uid 1000 --create-home --shell /bin/bash agent) && "
        f"chown -R 1000:1000 /testbed $(ls -d {ENVS}/testbed 2>/dev/null) && "
        "(command -v python3 >/dev/null || ln -s /opt/miniconda3/bin/python3 /usr/local/bin/python3) && "
        "git config --system --add safe.directory '*'",
        "ENV PIP_NO_INDEX=1 PIP_NO_BUILD_ISOLATION=0", "USER 1000:1000", "WORKDIR /testbed",
        # the official working tree holds pre_install's edits uncommitted: record them as ENV_REF
        f"RUN {RECORD_ENV}"]) + "\n"


def adapt_official(client: Any, image: str, log: Log = print) -> str:
    """The official image as agentbench runs it (official_dockerfile), built once per image id."""
    image_id = client.images.get(image).id
    tag = f"{OFFICIAL_REPOSITORY}:{digest(OfficialLayerKey(id=image_id, df=official_dockerfile()))}"
    if image_exists(client, tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="agentbench-swe-") as tmp:
        context = Path(tmp) / "swe-official"
        context.mkdir()
        (context / "Dockerfile").write_text(official_dockerfile())
        return build_context_image(client, f"swe-official {image}", tag, context, image,
                                   labels={"agentbench.swe.official": image}, log=log)


def _context(tmp: Path, name: str) -> Path:
    context = tmp / name
    context.mkdir()
    ca = host_ca_bundle()
    (context / "build-ca.crt").write_bytes(ca.read_bytes() if ca else b"")
    return context


def ensure_env_image(client: Any, swe: SweSpec, settings: EnvSettings | None = None, log: Log = print) -> str:
    """The image an attempt of this instance runs in: the row's official image (per `settings.images`), else
    the instance layer on the environment layer, each built when missing. Raises EnvUnbuildable (no way to
    build it here, known before building), ImageBuildError (with the build log's tail) or ImagePullError."""
    from agentbench.sandbox.official_images import resolve_official_image

    settings = settings or EnvSettings()
    official = resolve_official_image(client, swe.image, settings.images, settings.registry, log)
    if official is not None:
        return adapt_official(client, official, log)
    reason = unbuildable_reason(swe, settings)
    if reason is not None:
        raise EnvUnbuildable(swe, reason)
    rootfs = ensure_rootfs(client, swe.env.release() or "bookworm", log=log)
    env = env_tag(swe, settings, rootfs)
    version = pretend_version(swe)
    inst = instance_tag(swe, env, version)
    if image_exists(client, inst):
        return inst
    local = is_local(swe.source)
    with tempfile.TemporaryDirectory(prefix="agentbench-swe-") as tmp:
        if not image_exists(client, env):
            context = _context(Path(tmp), "swe-env")
            if local:
                stage_repo(swe.source, swe.environment_setup_commit, context / "commit.git", bare=True)
            (context / "Dockerfile").write_text(env_dockerfile(swe, settings, local))
            (context / "activate").write_text(ACTIVATE_SHIM)
            (context / "python-wrapper").write_text(python_wrapper(TESTBED_ENV, f"python{_python_version(swe)}"))
            (context / "python-wrapper").chmod(0o755)
            shutil.copyfile(Path(__file__).with_name("requirements_flatten.py"), context / "requirements_flatten.py")
            build_context_image(client, f"swe-env {swe.repo}@{swe.environment_setup_commit[:10]}", env, context,
                                rootfs, labels={"agentbench.swe.repo": swe.repo}, log=log)
        context = _context(Path(tmp), "swe-inst")
        if local:
            stage_repo(swe.source, swe.base_commit, context / "commit.git", bare=True)
        (context / "Dockerfile").write_text(instance_dockerfile(swe, local, version))
        labels = {"agentbench.swe.repo": swe.repo,
                  **({"agentbench.swe.scm_version": version.version,
                      "agentbench.swe.scm_version_from": version.source} if version else {})}
        return build_context_image(client, f"swe-inst {swe.repo}@{swe.base_commit[:10]}", inst, context, env,
                                   labels=labels, log=log)
