"""The typed SWE-bench instance a `Task` carries (`Task.swe`): the row's facts, where its repo comes from,
and the install recipe of its (repo, version) (`EnvSpec`). The loader (suites/swebench.py) makes it; the
image builder (sandbox/swe_images.py) and the grader (scoring/swebench*.py) read it; nothing copies its
facts into dicts on the way. A leaf (it imports only the leaf swebench_layout), so protocols can carry it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentbench.swebench_layout import DEBIAN_PYTHON

DebianRelease = Literal["bullseye", "bookworm", "trixie"]


class EnvSpec(BaseModel):
    """How to build and test one (repo, version)."""

    model_config = ConfigDict(extra="forbid")

    python: str | None = Field(None, pattern=r"^3\.\d+$",
                               description="the interpreter version (default: the Debian release's python3)")
    debian: DebianRelease | None = Field(None, description="the base release; default: the one whose python3 "
                                                           "is `python`, else bookworm")
    apt_packages: list[str] = Field(default_factory=list, description="Debian packages, installed as root")
    packages: list[str] = Field(default_factory=list,
                                description="the environment's first packages (the official table installs them "
                                            "with conda; here with pip, before pip_packages)")
    requirements: list[str] = Field(default_factory=list,
                                    description="requirement files in the repo, each installed with pip -r")
    environment_yml: str | None = Field(None, description="a conda environment file in the repo; it builds only "
                                                          "with sandbox.swe_python: conda")
    pip_packages: list[str] = Field(default_factory=list, description="pip requirements with their pins")
    pre_install: list[str] = Field(default_factory=list,
                                   description="as root in /testbed at build time, before the installs")
    install: list[str] = Field(default_factory=list, description="in /testbed with the venv active, at build time")
    eval_commands: list[str] = Field(default_factory=list,
                                     description="run by the eval script before the tests (exports, locale)")
    test_cmd: str = "pytest -rA"
    test_directives_from: Literal["test_patch", "all"] = "test_patch"
    log_parser: str = "parse_log_pytest"
    source: str = Field("", description="where these facts come from")
    notes: str = Field("", description="where and why this entry departs from its source")

    @field_validator("python", mode="before")
    @classmethod
    def _python_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value

    @field_validator("install", "pre_install", "eval_commands", "packages", "requirements", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def release(self) -> DebianRelease | None:
        """The Debian release to build from: `debian` if set, else the one whose python3 is `python`;
        None when no release ships that Python (another interpreter source is needed)."""
        if self.debian is not None:
            return self.debian
        if self.python is None:
            return "bookworm"
        for release, version in DEBIAN_PYTHON.items():
            if version == self.python:
                return release  # type: ignore[return-value]
        return None


class SweSpec(BaseModel):
    """One SWE-bench instance as loaded: the published row's facts (the problem statement is the Task's
    prompt), the repo's `source`, and `env`, the recipe of its (repo, version) (an empty EnvSpec for a row
    that brings its own `eval_script` and has no entry). What grading derives from it (test directives,
    eval script, log parser, eval type) is made once per instance by scoring/swebench_spec.py."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_id: str
    repo: str = Field(description="owner/name on GitHub")
    version: str
    base_commit: str
    environment_setup_commit: str = Field(description="the commit the environment's dependencies install from")
    patch: str = Field(description="the gold patch")
    test_patch: str
    FAIL_TO_PASS: list[str] = Field(default_factory=list)
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    hints_text: str = ""
    created_at: str = ""
    source: str = Field(description="the repo: a git bundle, a bare repo (full or shallow) or a git URL")
    image: str | None = Field(None, description="the row's official prebuilt image (pulled, never built)")
    eval_script: str | None = Field(None, description="the row's own eval script (SWE-bench 5.x)")
    log_parser: str | None = Field(None, description="the row's own log parser (else the recipe's)")
    eval_type: str | None = Field(None, description="the row's own eval_type (else by repo: fail_only or "
                                                    "pass_and_fail)")
    env: EnvSpec = Field(default_factory=EnvSpec)
