"""SWE-bench install recipes: the built-in table of `EnvSpec` entries (the schema of one (repo, version),
defined in agentbench/swe_spec.py beside the SweSpec that carries it).

The built-in table is package data: one YAML file per repository under `swebench_recipes/`, each
mapping `version -> EnvSpec`, each file naming where its facts come from. A suite's own `specs.yaml`
(same shape, keyed by repo first) overrides an entry; official rows need none.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import ValidationError

from agentbench.safe_parse import ParseError, yaml_text
from agentbench.suites.errors import SuiteError
from agentbench.swe_spec import EnvSpec

RECIPES_PACKAGE = "agentbench.suites.swebench_recipes"

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
