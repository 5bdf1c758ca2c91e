"""Prove every swe-mini instance without Docker.

For each instance in instances.jsonl:

1. clone ``repos/<owner>__<name>.bundle`` into a temporary folder and check out
   ``base_commit`` (``environment_setup_commit`` must exist too);
2. ``git apply --check`` then apply the test patch;
3. run ``python -m pytest -rA -p no:cacheprovider <files of the test patch>``
   with no model patch: every FAIL_TO_PASS test must fail (or error) and every
   PASS_TO_PASS test must pass;
4. apply the gold patch the same way and run again: every FAIL_TO_PASS and
   PASS_TO_PASS test must pass, and together they must be *all* the tests that
   pytest ran in those files;
5. finally run the repo's whole test suite, which must pass with the gold patch.

Usage::

    python tasks/swe-mini/validate_local.py [--python /path/to/python-with-pytest] [-k semver]

Needs only the standard library, the ``git`` command, and a Python that has
pytest (``--python``, default: the interpreter running this script).
Exits 1 naming the instance(s) that failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATUSES = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")
_SUMMARY_HEADER = re.compile(r"^=+ short test summary info =+$")


class InstanceFailure(Exception):
    pass


def git_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C")
    return env


def run_git(cwd: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-c", "core.autocrlf=false", "-c", "advice.detachedHead=false", *args],
        cwd=cwd,
        env=git_env(),
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )


def must_git(cwd: Path, *args: str, input: str | None = None, what: str = "") -> str:
    proc = run_git(cwd, *args, input=input)
    if proc.returncode != 0:
        raise InstanceFailure(f"{what or 'git ' + ' '.join(args)} failed:\n{proc.stdout}{proc.stderr}".rstrip())
    return proc.stdout


def patch_files(patch: str) -> list[str]:
    files = []
    for line in patch.splitlines():
        if line.startswith("diff --git a/"):
            path = line.split(" b/", 1)[1]
            if path not in files:
                files.append(path)
    return files


def parse_pytest_summary(output: str) -> dict[str, str]:
    """Map node id -> status from the `-rA` "short test summary info" section."""
    statuses: dict[str, str] = {}
    in_summary = False
    for line in output.splitlines():
        if _SUMMARY_HEADER.match(line):
            in_summary = True
            continue
        if not in_summary:
            continue
        status, _, rest = line.partition(" ")
        if status not in STATUSES or not rest:
            continue
        if status in ("FAILED", "ERROR"):
            rest = rest.split(" - ", 1)[0]
        if status == "SKIPPED":
            continue  # "SKIPPED [1] tests/x.py:12: reason" names no node id
        statuses[rest.strip()] = status
    return statuses


def run_pytest(python: str, repo: Path, files: list[str]) -> tuple[dict[str, str], str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(
        [python, "-m", "pytest", "-rA", "-p", "no:cacheprovider", *files],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
        check=False,
    )
    output = proc.stdout + proc.stderr
    return parse_pytest_summary(output), output


def spec_versions(path: Path) -> dict[str, set[str]]:
    """{repo: {version, ...}} read from specs.yaml (just its two key levels; no YAML library needed)."""
    versions: dict[str, set[str]] = {}
    repo = None
    if not path.exists():
        return versions
    for line in path.read_text(encoding="utf-8").splitlines():
        top = re.fullmatch(r"([^\s#][^:]*):\s*", line)
        if top:
            repo = top.group(1).strip().strip('"')
            versions[repo] = set()
            continue
        version = re.fullmatch(r"  ([\"']?)([^\"':]+)\1:\s*", line)
        if version and repo:
            versions[repo].add(version.group(2))
    return versions


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def check_instance(inst: dict, python: str, repos_dir: Path, workdir: Path) -> str:
    owner, name = inst["repo"].split("/")
    bundle = repos_dir / f"{owner}__{name}.bundle"
    if not bundle.exists():
        raise InstanceFailure(f"bundle {bundle} is missing")
    f2p = json.loads(inst["FAIL_TO_PASS"])
    p2p = json.loads(inst["PASS_TO_PASS"])
    if not f2p:
        raise InstanceFailure("FAIL_TO_PASS is empty")

    repo = workdir / name
    must_git(workdir, "clone", "-q", str(bundle), str(repo), what="cloning the bundle")
    heads = must_git(repo, "branch", "--list", "main")
    if "main" not in heads:
        raise InstanceFailure("the bundle has no branch 'main'")
    for field in ("base_commit", "environment_setup_commit"):
        if run_git(repo, "cat-file", "-e", f"{inst[field]}^{{commit}}").returncode != 0:
            raise InstanceFailure(f"{field} {inst[field]} is not a commit in the bundle")
    must_git(repo, "checkout", "-q", "--detach", inst["base_commit"])

    files = patch_files(inst["test_patch"])
    stray = sorted({t.split("::", 1)[0] for t in f2p + p2p} - set(files))
    if stray:
        raise InstanceFailure(f"tests listed in files the test patch does not touch: {stray}")
    gold_files = patch_files(inst["patch"])
    if not gold_files or set(gold_files) & set(files):
        raise InstanceFailure(f"gold patch must change non-test files only (it changes {gold_files})")

    must_git(repo, "apply", "--check", "-", input=inst["test_patch"], what="git apply --check <test_patch>")
    must_git(repo, "apply", "-", input=inst["test_patch"], what="git apply <test_patch>")

    # Empty model patch: FAIL_TO_PASS must fail, PASS_TO_PASS must pass.
    before, out_before = run_pytest(python, repo, files)
    problems = []
    passed_f2p = [t for t in f2p if before.get(t) == "PASSED"]
    if passed_f2p:
        problems.append(f"FAIL_TO_PASS tests already pass without the fix: {passed_f2p}")
    broken_p2p = [f"{t} ({before.get(t, 'not run')})" for t in p2p if before.get(t) != "PASSED"]
    if broken_p2p:
        problems.append(f"PASS_TO_PASS tests do not pass before the fix: {broken_p2p}")
    if problems:
        raise InstanceFailure("with an empty patch: " + "; ".join(problems) + "\n" + tail(out_before))

    # Gold patch: everything must pass.
    must_git(repo, "apply", "--check", "-", input=inst["patch"], what="git apply --check <gold patch>")
    must_git(repo, "apply", "-", input=inst["patch"], what="git apply <gold patch>")
    after, out_after = run_pytest(python, repo, files)
    failing = [f"{t} ({after.get(t, 'not run')})" for t in f2p + p2p if after.get(t) != "PASSED"]
    if failing:
        raise InstanceFailure(f"with the gold patch, these tests do not pass: {failing}\n" + tail(out_after))
    unlisted = sorted(set(after) - set(f2p) - set(p2p))
    if unlisted:
        raise InstanceFailure(f"tests run by the test patch's files but in neither list: {unlisted}")

    # The whole suite must be green with the gold patch.
    everything, out_all = run_pytest(python, repo, [])
    red = sorted(t for t, status in everything.items() if status not in ("PASSED", "XFAIL"))
    if red or not everything:
        raise InstanceFailure(f"the repo's full suite is not green with the gold patch: {red}\n" + tail(out_all))

    return (
        f"{len(f2p)} FAIL_TO_PASS fail -> pass, {len(p2p)} PASS_TO_PASS pass -> pass, "
        f"full suite {len(everything)} passed"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate swe-mini instances without Docker.")
    parser.add_argument("--python", default=sys.executable, help="a Python with pytest (default: this one)")
    parser.add_argument("--instances", type=Path, default=HERE / "instances.jsonl")
    parser.add_argument("--repos", type=Path, default=HERE / "repos")
    parser.add_argument("--specs", type=Path, default=HERE / "specs.yaml")
    parser.add_argument("-k", dest="select", default="", help="only instances whose id contains this")
    args = parser.parse_args(argv)

    # pytest runs inside the cloned repo, so a relative --python must be made absolute.
    if os.sep in args.python or (os.altsep and os.altsep in args.python):
        args.python = os.path.abspath(args.python)
    probe = subprocess.run([args.python, "-m", "pytest", "--version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        print(f"error: {args.python} cannot run pytest:\n{probe.stdout}{probe.stderr}", file=sys.stderr)
        return 2
    print(f"using {args.python}: {(probe.stdout + probe.stderr).strip()}")

    instances = [json.loads(line) for line in args.instances.read_text(encoding="utf-8").splitlines() if line.strip()]
    specs = spec_versions(args.specs)
    instances = [inst for inst in instances if args.select in inst["instance_id"]]
    if not instances:
        print("error: no instance selected", file=sys.stderr)
        return 2

    failed = []
    for inst in instances:
        iid = inst["instance_id"]
        with tempfile.TemporaryDirectory(prefix="swe-mini-validate-") as tmp:
            try:
                if inst["version"] not in specs.get(inst["repo"], ()):
                    raise InstanceFailure(f"specs.yaml has no entry {inst['repo']} / {inst['version']!r}")
                summary = check_instance(inst, args.python, args.repos.resolve(), Path(tmp))
            except InstanceFailure as exc:
                failed.append(iid)
                print(f"FAIL {iid}: {exc}")
            except subprocess.TimeoutExpired:
                failed.append(iid)
                print(f"FAIL {iid}: pytest timed out")
            else:
                print(f"ok   {iid}: {summary}")

    if failed:
        print(f"\n{len(failed)} of {len(instances)} instances FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"\nall {len(instances)} instances valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
