"""A repo's requirement file, flattened the way the SWE-bench harness reads it (runs inside image builds).

The first file of the candidates that exists is read; `-r other.txt` includes are inlined (relative to
the including file); `-e .` lines, comments and `.[test…]` lines are dropped (the package itself is the
recipe's install step); `types-pkg_resources` becomes `types-setuptools` (the former left PyPI).
Standard library only, Python >= 3.6: it is copied into the build context and run by the environment's
own interpreter. Usage: `python requirements_flatten.py OUT CANDIDATE...` (exit 0 with no OUT written
when no candidate exists).
"""

import os
import sys

_DROP = ("-e .", "#", ".[test")


def flatten(path, seen=None):
    """The requirement lines of `path`, includes inlined, in order."""
    seen = set() if seen is None else seen
    real = os.path.realpath(path)
    if real in seen:
        return []
    seen.add(real)
    lines = []
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith(_DROP):
                continue
            if line.startswith("-r"):
                lines += flatten(os.path.join(os.path.dirname(path), line[2:].strip()), seen)
                continue
            lines.append("types-setuptools" if line.startswith("types-pkg_resources") else line)
    return lines


def first_existing(candidates):
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    return None


def main(argv):
    out, candidates = argv[0], argv[1:]
    found = first_existing(candidates)
    if found is None:
        print("agentbench: none of the requirement files exists: " + ", ".join(candidates))
        return 0
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("\n".join(flatten(found)) + "\n")
    print("agentbench: requirements from " + found)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
