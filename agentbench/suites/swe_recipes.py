"""SWE-bench install recipes: the schema of one (repo, version) entry and the built-in table.

The built-in table is package data: one YAML file per repository under `swebench_recipes/`, each
mapping `version -> EnvSpec`, each file naming where its facts come from. A suite's own `specs.yaml`
(same shape, keyed by repo first) overrides an entry; official rows need none.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentbench.safe_parse import ParseError, yaml_text
from agentbench.suites.errors import SuiteError
from agentbench.swebench_layout import DEBIAN_PYTHON

DebianRelease = Literal["bullseye", "bookworm", "trixie"]
RECIPES_PACKAGE = "agentbench.suites.swebench_recipes"


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


Specs = dict[str, dict[str, EnvSpec]]


def parse_specs(data: Any, where: str, repo: str | None = None) -> Specs:
    """{repo: {version: EnvSpec}} from YAML data; with `repo`, the data is one repo's {version: spec}."""
    if repo is not None:
        data = {repo: data}
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: expected a mapping: repo -> version -> install recipe")
    specs: Specs = {}
    for name, versions in data.items():
        if not isinstance(versions, dict):
            raise SuiteError(f"{where}: field {str(name)!r}: expected a mapping of version -> recipe")
        for version, spec in versions.items():
            if str(version).startswith("_"):  # `_source:` and other notes
                continue
            try:
                specs.setdefault(str(name), {})[str(version)] = EnvSpec.model_validate(spec or {})
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join([str(name), str(version), *(str(p) for p in err["loc"])])
                raise SuiteError(f"{where}: field {field!r}: {err['msg']}") from None
    return specs


@lru_cache(maxsize=1)
def builtin_specs() -> Specs:
    """The built-in table: every `swebench_recipes/*.yaml` (file `owner__name.yaml` holds repo owner/name)."""
    specs: Specs = {}
    for entry in sorted(resources.files(RECIPES_PACKAGE).iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        repo = entry.name.removesuffix(".yaml").replace("__", "/", 1)
        where = f"{RECIPES_PACKAGE}/{entry.name}"
        try:
            data = yaml_text(entry.read_text(encoding="utf-8"))
        except ParseError as exc:
            raise SuiteError(f"{where}: not valid YAML: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("versions"), dict):
            raise SuiteError(f"{where}: expected `source:` and `versions:` (version -> recipe)")
        source = str(data.get("source", ""))
        versions = {v: {"source": source, **(spec or {})} for v, spec in data["versions"].items()}
        specs.update(parse_specs(versions, where, repo=repo))
    return specs


def find_spec(repo: str, version: str, overrides: Specs | None = None) -> EnvSpec | None:
    """The suite's entry when it has one, else the built-in one, else None."""
    for table in (overrides or {}, builtin_specs()):
        spec = table.get(repo, {}).get(version)
        if spec is not None:
            return spec
    return None
