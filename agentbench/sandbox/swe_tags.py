"""The tags of SWE-bench environment images (swe_images.py): each the digest of a typed key holding what
the image is made of. An image whose key is unchanged is found again and reused; RECIPE_VERSION changes
every key (bump it when the Dockerfiles change what a key cannot see).

The digest is sha256 over the key's fields as sorted-key JSON, 12 hex digits: the serialisation these tags
have had since swe-env-v4 (then of a dict of the same names and values), so images built before are found
again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agentbench.sandbox.swe_scm import ScmVersion
from agentbench.sandbox.swe_shims import ACTIVATE_SHIM, python_wrapper
from agentbench.swe_spec import SweSpec

ENV_REPOSITORY = "agentbench/swe-env"
INSTANCE_REPOSITORY = "agentbench/swe-inst"
OFFICIAL_REPOSITORY = "agentbench/swe-official"
RECIPE_VERSION = "swe-env-v4"
ENVS = "/opt/miniconda3/envs"
#: The environment the eval script reinstalls the repo into: a Docker sandbox keeps it writable.
TESTBED_ENV = f"{ENVS}/testbed"
PythonSource = Literal["debian", "conda", "uv"]


ImageMode = Literal["auto", "pull", "build"]


class EnvSettings(BaseModel):
    """How environments are made (from the run's sandbox config)."""

    model_config = ConfigDict(extra="forbid")

    python_source: PythonSource = "debian"
    images: ImageMode = "auto"
    registry: str | None = None
    conda_installer_url: str = "https://repo.anaconda.com/miniconda/Miniconda3-py311_24.7.1-0-Linux-x86_64.sh"


def is_local(source: str) -> bool:
    """A mirror on this host (a path), not a git URL."""
    return "://" not in source and not source.startswith("git@")


class EnvLayerKey(BaseModel):
    """What an environment image is made of; its tag is the digest of this."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: str = RECIPE_VERSION
    rootfs: str
    shim: str = ACTIVATE_SHIM
    wrapper: str = python_wrapper(TESTBED_ENV, "python")
    flatten: str
    python_source: PythonSource
    kind: str = "swe-env"
    repo: str
    commit: str
    python: str | None
    debian: str | None
    apt_packages: list[str]
    packages: list[str]
    requirements: list[str]
    environment_yml: str | None
    pip_packages: list[str]
    source: str = Field(description="`local` or the git URL: how the repo enters the build (the commits pin "
                                    "the content, so which mirror does not count)")


class InstanceLayerKey(BaseModel):
    """What an instance image adds to its environment image; its tag is the digest of this."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: str = RECIPE_VERSION
    env: str
    base: str
    pre_install: list[str]
    install: list[str]
    scm_version: ScmVersion | None


class OfficialLayerKey(BaseModel):
    """The thin local layer on an official image (`official_dockerfile`); its tag is the digest of this."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: str = RECIPE_VERSION
    id: str
    df: str


def digest(key: EnvLayerKey | InstanceLayerKey | OfficialLayerKey) -> str:
    """12 hex digits of sha256 over the key's fields as sorted-key JSON: the serialisation these tags have had
    since swe-env-v4 (then of a dict of the same names and values), so an image built before is found again."""
    return hashlib.sha256(json.dumps(key.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]


def env_tag(swe: SweSpec, settings: EnvSettings, rootfs_tag: str) -> str:
    env = swe.env
    flatten = Path(__file__).with_name("requirements_flatten.py").read_text()
    key = EnvLayerKey(rootfs=rootfs_tag, flatten=flatten, python_source=settings.python_source, repo=swe.repo,
                      commit=swe.environment_setup_commit, python=env.python, debian=env.release(),
                      apt_packages=env.apt_packages, packages=env.packages, requirements=env.requirements,
                      environment_yml=env.environment_yml, pip_packages=env.pip_packages,
                      source="local" if is_local(swe.source) else swe.source)
    return f"{ENV_REPOSITORY}:{digest(key)}"


def instance_tag(swe: SweSpec, env: str, version: ScmVersion | None = None) -> str:
    key = InstanceLayerKey(env=env, base=swe.base_commit, pre_install=swe.env.pre_install, install=swe.env.install,
                           scm_version=version)
    return f"{INSTANCE_REPOSITORY}:{digest(key)}"
