"""The version a SWE-bench repo reports when it is built from a depth-1 copy.

An instance layer holds its commit alone: no history, no tags. Repos versioned by setuptools_scm (pytest,
astropy, xarray, ...) would then call themselves `0.1.dev1`, and pytest's own `minversion = 2.0` refuses
to run its tests. The official images clone the whole repo, so setuptools_scm sees the tags there.
agentbench computes on the host, from the mirror, the version setuptools_scm would compute and sets
`SETUPTOOLS_SCM_PRETEND_VERSION` in the instance layer (`ScmVersion.version`; the image's label
`agentbench.swe.scm_version` says which, and `agentbench.swe.scm_version_from` how):

- **describe**: a mirror with history and tags (a full bare repo, or a bundle's refs): setuptools_scm's
  default rule (`guess-next-dev`) over `git describe --tags --long --match '*[0-9]*' COMMIT`: at a tag,
  the tag's version; N commits past it, the tag's last number bumped and `.devN` (5.4.0, 593 commits on:
  `5.4.1.dev593`).
- **row version**: a shallow mirror, no tag below the commit, or a git URL (fetched in the build): the
  row's `version` (SWE-bench's X.Y of the package at the base commit) with `.0` added (`5.4` ->
  `5.4.0`; `v5.3` -> `5.3.0`). The true version is X.Y.Z or X.Y.Z.devN, so X.Y.0 passes the same
  `minversion` checks; a test asserting the exact version string would see the difference.

A repo whose setup files at the commit do not name setuptools_scm (read in a bare mirror, full or
shallow) gets no version: the variable would also version any setuptools_scm sdist pip builds there.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

# setuptools_scm's default tag pattern: an optional `name-` prefix, an optional v, then the version.
_TAG = re.compile(r"^(?:[\w-]+-)?[vV]?(?P<version>\d+(?:\.\d+){0,2}[^+]*)(?:\+.*)?$")
_DESCRIBE = re.compile(r"^(?P<tag>.+)-(?P<distance>\d+)-g[0-9a-f]+$")
_ROW_VERSION = re.compile(r"^[vV]?(?P<version>\d+(?:\.\d+)*)$")
_SCM_MARK = r"setuptools[_-]scm|use_scm_version"
_SETUP_FILES = ("setup.py", "setup.cfg", "pyproject.toml")


class ScmVersion(BaseModel):
    version: str
    source: Literal["describe", "row version"]


def tag_version(tag: str) -> str | None:
    """The version setuptools_scm reads from a tag name (`v5.4.1` -> `5.4.1`); None when it reads none."""
    match = _TAG.match(tag.strip())
    return match.group("version") if match else None


def next_dev_version(version: str, distance: int) -> str:
    """setuptools_scm's guess-next-dev: the tag's version at distance 0; past it, a `.devN` tag loses
    its dev part, any other has its last number bumped, then `.dev<distance>`."""
    if distance == 0:
        return version
    version = version.split("+", 1)[0]
    if ".dev" in version:
        following = version.rsplit(".dev", 1)[0]
    else:
        match = re.match(r"^(.*?)(\d+)$", version)
        if match is None:
            raise ValueError(f"no number to bump at the end of the version {version!r}")
        following = f"{match.group(1)}{int(match.group(2)) + 1}"
    return f"{following}.dev{distance}"


def version_from_describe(described: str) -> str | None:
    """The version from `git describe --tags --long` output (`5.4.0-593-ge6e300e72` -> `5.4.1.dev593`);
    None when the tag holds no version."""
    match = _DESCRIBE.match(described.strip())
    if match is None:
        return None
    version = tag_version(match.group("tag"))
    if version is None:
        return None
    try:
        return next_dev_version(version, int(match.group("distance")))
    except ValueError:
        return None


def version_from_row(row_version: str | None) -> str | None:
    """The fallback: SWE-bench's `version` (X.Y) of the row with `.0` added; None when it is not numeric."""
    match = _ROW_VERSION.match((row_version or "").strip())
    return f"{match.group('version')}.0" if match else None


def describe(repo: Path, commit: str) -> str | None:
    """`git describe --tags --long --match '*[0-9]*' COMMIT` in a repo with full history (None in a
    shallow repo, whose distances would be wrong, or when no tag is below the commit)."""
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=repo, capture_output=True,
                             text=True)
    if shallow.returncode != 0 or shallow.stdout.strip() != "false":
        return None
    proc = subprocess.run(["git", "describe", "--tags", "--long", "--match", "*[0-9]*", commit], cwd=repo,
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def uses_setuptools_scm(repo: Path, commit: str) -> bool | None:
    """Whether the commit's setup.py / setup.cfg / pyproject.toml name setuptools_scm (None: unknown, the
    commit is not in `repo`)."""
    proc = subprocess.run(["git", "grep", "-q", "-E", _SCM_MARK, commit, "--", *_SETUP_FILES], cwd=repo,
                          capture_output=True, text=True)
    return {0: True, 1: False}.get(proc.returncode)


def scm_version(described: str | None, row_version: str | None) -> ScmVersion | None:
    """The version the instance layer pretends: from `described` when it holds one, else from the row."""
    from_tags = version_from_describe(described) if described else None
    if from_tags is not None:
        return ScmVersion(version=from_tags, source="describe")
    fallback = version_from_row(row_version)
    return ScmVersion(version=fallback, source="row version") if fallback else None
