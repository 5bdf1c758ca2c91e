"""SWE-bench facts shared by the loader, the image builder and the grader: where the repo lives in an
environment, which Debian release ships which python3, and which files a diff touches. A leaf: imports
nothing from agentbench, so suites, sandbox and scoring each use it without importing one another."""

from __future__ import annotations

import re

#: The repo's folder in every SWE-bench environment (official images and ours).
TESTBED = "/testbed"
#: The commit an environment build leaves in /testbed: the base commit plus what the recipe's pre_install
#: and install changed there (ignored files stay out). A sandbox's reset restores it; an attempt's patch is
#: the diff against it. Images without it (older ones) reset to the base commit.
ENV_REF = "refs/agentbench/env"
#: The Debian releases agentbench builds environments from, and the python3 each ships.
DEBIAN_PYTHON: dict[str, str] = {"bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13"}

_DIFF_PATH = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)


def patch_problem(patch: str) -> str | None:
    """Why `patch` is not a unified diff the grader can use (None when it is, or when it is empty)."""
    if not patch.strip():
        return None
    from unidiff import PatchSet  # swebench's own diff parser; imported here so the leaf stays light
    from unidiff.errors import UnidiffParseError

    try:
        PatchSet(patch)
    except (UnidiffParseError, ValueError, IndexError) as exc:
        return f"not a unified diff: {exc}"[:300]
    return None


def patch_files(patch: str) -> list[str]:
    """The paths a unified git diff touches (the `b/` side), in order, without duplicates."""
    return list(dict.fromkeys(m.group(2) for m in _DIFF_PATH.finditer(patch)))
