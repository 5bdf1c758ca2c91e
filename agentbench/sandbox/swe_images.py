"""SWE-bench environment images, built locally: one per (repo, environment setup commit, install recipe).

Layout (what an official SWE-bench 5.x `eval_script` expects): the repo at /testbed, and
`source /opt/miniconda3/bin/activate; conda activate testbed` working. There is no conda here: a small
shim at /opt/miniconda3/bin/activate defines `conda activate ENV`, which sources the virtual
environment /opt/miniconda3/envs/ENV (made with the Debian release's python3). So an official row's
eval_script runs unchanged.

The image is `FROM` a Debian rootfs of the recipe's release (debootstrap: bullseye 3.9, bookworm 3.11,
trixie 3.13). Dependencies install at build time, with network; sandboxes run without it. The tag is
`agentbench/swe-env:<hash of the recipe and the rootfs>`; the repo enters the build context as a git
bundle (from a mirror's bundle or bare repo), or is cloned from its URL during the build.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentbench.sandbox.images import Log, build_context_image, ensure_rootfs, image_exists

REPOSITORY = "agentbench/swe-env"
RECIPE_VERSION = "swe-env-v1"

_ACTIVATE_SHIM = """\
# agentbench: conda's layout without conda. `conda activate NAME` sources the venv
# /opt/miniconda3/envs/NAME, so SWE-bench eval scripts run unchanged.
conda() {
    case "${1:-}" in
        activate) . "/opt/miniconda3/envs/${2:-testbed}/bin/activate" ;;
        deactivate) deactivate ;;
        *) echo "agentbench conda shim: only 'conda activate NAME' and 'conda deactivate' exist here" >&2
           return 1 ;;
    esac
}
"""


class EnvRecipe(BaseModel):
    """The environment a task family needs; built from `Task.sandbox.recipe` (suites/swebench.py)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "swe-env"
    repo: str
    source: str = Field(description="a git bundle, a bare repo, or a git URL")
    commit: str = Field(description="the environment setup commit checked out in /testbed")
    debian: str = "bookworm"
    apt_packages: list[str] = Field(default_factory=list)
    pip_packages: list[str] = Field(default_factory=list)
    install: list[str] = Field(default_factory=list)


def _is_local(source: str) -> bool:
    return "://" not in source and not source.startswith("git@")


BUILD_CA = "/opt/agentbench-build-ca.crt"


def host_ca_bundle() -> Path | None:
    """The CA bundle this host trusts (a proxy's own CA may be in it): builds use it to reach the package
    index. Not part of the image's identity, and removed from the image at the end of the build."""
    for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    default = Path("/etc/ssl/certs/ca-certificates.crt")
    return default if default.is_file() else None


def dockerfile(recipe: EnvRecipe, local: bool) -> str:
    trust = f"PIP_CERT={BUILD_CA} GIT_SSL_CAINFO={BUILD_CA} SSL_CERT_FILE={BUILD_CA}"
    activate = f". /opt/miniconda3/bin/activate && conda activate testbed && export {trust}"
    apt = " ".join(sorted({"bash", "coreutils", "git", "python3", "python3-venv", "python3-pip", "patch", "procps",
                           "ca-certificates", *recipe.apt_packages}))
    fetch = ("COPY repo.bundle /tmp/repo.bundle\nRUN git clone -q /tmp/repo.bundle /testbed && rm /tmp/repo.bundle"
             if local else f"RUN {trust} git clone -q {shlex.quote(recipe.source)} /testbed")
    lines = [
        "ARG BASE", "FROM ${BASE}", "USER root",
        f"RUN set -eux; apt-get update; apt-get install -y --no-install-recommends {apt}; apt-get clean; "
        "rm -rf /var/lib/apt/lists/*",
        "RUN set -eux; groupadd --gid 1000 agent; "
        "useradd --uid 1000 --gid 1000 --create-home --home-dir /home/agent --shell /bin/bash agent; "
        "git config --system --add safe.directory '*'; git config --system user.name agent; "
        "git config --system user.email agent@agentbench.invalid",
        "COPY activate /opt/miniconda3/bin/activate",
        f"COPY build-ca.crt {BUILD_CA}",
        "RUN python3 -m venv /opt/miniconda3/envs/testbed",
        fetch,
        f"RUN cd /testbed && git -c advice.detachedHead=false checkout -q {shlex.quote(recipe.commit)}",
        "ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 LANG=C.UTF-8",
    ]
    if recipe.pip_packages:
        lines.append(f"RUN {activate} && python -m pip install -q {' '.join(shlex.quote(p) for p in recipe.pip_packages)}")
    for command in recipe.install:
        lines.append(f"RUN {activate} && cd /testbed && {command}")
    lines += [f"RUN rm -f {BUILD_CA} && chown -R 1000:1000 /testbed /opt/miniconda3/envs/testbed", "USER 1000:1000",
              "WORKDIR /testbed"]
    return "\n".join(lines) + "\n"


def env_tag(recipe: EnvRecipe, rootfs_tag: str) -> str:
    payload = json.dumps({"v": RECIPE_VERSION, "rootfs": rootfs_tag, "shim": _ACTIVATE_SHIM,
                          **recipe.model_dump(exclude={"source"}), "source": _source_identity(recipe.source)},
                         sort_keys=True)
    return f"{REPOSITORY}:{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def _source_identity(source: str) -> str:
    """Where the repo comes from does not change the image (the commit pins the content); only local
    versus URL does (how it enters the build)."""
    return "local" if _is_local(source) else source


def _bundle(source: str, dest: Path) -> None:
    path = Path(source)
    if path.is_file():
        shutil.copyfile(path, dest)
        return
    if not path.is_dir():
        raise FileNotFoundError(f"repo mirror {source} does not exist")
    proc = subprocess.run(["git", "-C", str(path), "bundle", "create", str(dest), "--all"], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git bundle of {source} failed: {proc.stderr.strip()}")


def ensure_env_image(client: Any, recipe_data: dict[str, Any], log: Log = print) -> str:
    """The tag of the environment image for this recipe, building it (and its rootfs) when missing."""
    recipe = EnvRecipe.model_validate(recipe_data)
    rootfs = ensure_rootfs(client, recipe.debian, log=log)
    tag = env_tag(recipe, rootfs)
    if image_exists(client, tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="agentbench-swe-") as tmp:
        context = Path(tmp) / "swe-env"
        context.mkdir()
        local = _is_local(recipe.source)
        if local:
            _bundle(recipe.source, context / "repo.bundle")
        (context / "Dockerfile").write_text(dockerfile(recipe, local))
        (context / "activate").write_text(_ACTIVATE_SHIM)
        ca = host_ca_bundle()
        (context / "build-ca.crt").write_bytes(ca.read_bytes() if ca else b"")
        return build_context_image(client, f"swe-env {recipe.repo}@{recipe.commit[:10]}", tag, context, rootfs,
                                   labels={"agentbench.swe.repo": recipe.repo}, log=log)
