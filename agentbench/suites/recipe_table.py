"""Which built-in SWE-bench recipes build offline, and the Markdown table of them (docs/swebench-recipes.md).

"Offline" means a build machine that reaches only PyPI and Debian's package mirror (no conda channel, no
GitHub, no other host), with agentbench's default interpreter source: Debian's python3 (bullseye 3.9,
bookworm 3.11, trixie 3.13). Pure functions: nothing here builds anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agentbench.suites.swe_recipes import Specs, builtin_specs
from agentbench.swe_spec import EnvSpec
from agentbench.swebench_layout import DEBIAN_PYTHON

CONDA = "needs sandbox.swe_python: conda"
_URL = re.compile(r"\b(?:https?|ftp)://([^/\s\"'@]+@)?([^/\s\"':]+)")
_FETCHER = re.compile(r"\b(?:wget|curl)\b|\bgit\s+clone\b|\bgit\+")


def _downloads(field: str, commands: Iterable[str]) -> str | None:
    """`FIELD downloads from HOST, ...` when the commands fetch from a host other than PyPI / Debian."""
    text = "\n".join(commands)
    hosts = sorted({m.group(2) for m in _URL.finditer(text)})
    if hosts:
        return f"{field} downloads from {', '.join(hosts)}"
    fetcher = _FETCHER.search(text)
    return f"{field} downloads with {fetcher.group(0).strip()}" if fetcher else None


def offline_status(spec: EnvSpec) -> tuple[bool, str]:
    """(True, how) when the environment builds from Debian's python3, PyPI and Debian packages alone;
    else (False, why not): what needs conda, then what downloads from elsewhere, joined by '; '."""
    release = spec.release()
    conda: list[str] = []
    if release is None:
        conda.append(f"Python {spec.python} is in no Debian release")
    elif spec.python is not None and spec.python != DEBIAN_PYTHON[release]:
        conda.append(f"Python {spec.python} is not Debian {release}'s python3 ({DEBIAN_PYTHON[release]})")
    if spec.environment_yml:
        conda.append("conda environment.yml")
    reasons = [f"{', '.join(conda)}: {CONDA}"] if conda else []
    reasons += [r for f in ("pre_install", "install", "packages", "pip_packages")
                if (r := _downloads(f, getattr(spec, f)))]
    if reasons or release is None:
        return False, "; ".join(reasons)
    apt = bool(spec.apt_packages) or any(re.search(r"\bapt(-get)?\s+install\b", c) for c in spec.pre_install)
    return True, f"Debian {release} python{DEBIAN_PYTHON[release]}, pip" + (", apt" if apt else "")


def version_key(version: str) -> tuple[int, ...]:
    """'1.10' after '1.9'; 'v5.3' as 5.3."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


def offline_counts(specs: Specs | None = None) -> tuple[int, int]:
    """(entries that build offline, entries that do not) over every (repo, version)."""
    table = builtin_specs() if specs is None else specs
    flags = [offline_status(spec)[0] for versions in table.values() for spec in versions.values()]
    return sum(flags), len(flags) - sum(flags)


def markdown_table(specs: Specs | None = None) -> str:
    """One row per (repo, offline, how) group, versions in version order, then the totals line."""
    table = builtin_specs() if specs is None else specs
    rows = ["| repo | versions | offline | how |", "| --- | --- | --- | --- |"]
    for repo in sorted(table):
        groups: dict[tuple[bool, str], list[str]] = {}
        for version in sorted(table[repo], key=version_key):
            groups.setdefault(offline_status(table[repo][version]), []).append(version)
        for (ok, how), versions in groups.items():
            cell = how.replace("|", "\\|")
            rows.append(f"| {repo} | {', '.join(versions)} | {'yes' if ok else 'no'} | {cell} |")
    yes, no = offline_counts(table)
    rows += ["", f"{yes} of {yes + no} (repo, version) entries build offline; {no} do not."]
    return "\n".join(rows) + "\n"
