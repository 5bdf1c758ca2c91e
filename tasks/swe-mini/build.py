"""Build the swe-mini suite: git bundles, instances.jsonl and specs.yaml.

Everything is generated from ``src/``::

    src/<name>/repo.json                 author, commit list (id, date, message)
    src/<name>/commits/<id>/...          files added or replaced by that commit
    src/<name>/instances/<N>/meta.json   base commit id, created_at, version, test lists
    src/<name>/instances/<N>/problem_statement.md
    src/<name>/instances/<N>/hints.md    (optional)
    src/<name>/instances/<N>/gold.patch  the fix (non-test files only)
    src/<name>/instances/<N>/test.patch  the tests that fail before the fix

Commits are made with fixed author/committer names, e-mails and dates and an
isolated git configuration, so commit hashes are the same on every machine and
every run.  The gold and test patches are *not* committed: no instance's fix is
reachable from the bundle an agent works in.

Usage::

    python tasks/swe-mini/build.py           # (re)build repos/, instances.jsonl, specs.yaml
    python tasks/swe-mini/build.py --check   # exit 1 if the committed outputs are stale

Only the standard library and the ``git`` command are needed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
REPOS = HERE / "repos"
INSTANCES = HERE / "instances.jsonl"
SPECS = HERE / "specs.yaml"

OWNER = "agentbench-fixtures"
PYTEST = "pytest==8.3.3"
FIELDS = [
    "repo",
    "instance_id",
    "base_commit",
    "patch",
    "test_patch",
    "problem_statement",
    "hints_text",
    "created_at",
    "version",
    "FAIL_TO_PASS",
    "PASS_TO_PASS",
    "environment_setup_commit",
]


_SHELL_SPECIAL = set("<>|&;*?~^$!(){}'\"`\\")


class BuildError(Exception):
    pass


def is_test_path(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return path.startswith("tests/") or name.startswith("test_") or name == "conftest.py"


def git_env(home: Path, author: dict | None = None, date: str | None = None) -> dict:
    """An environment that ignores every user/system git setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C",
        TZ="UTC",
    )
    if author is not None:
        env.update(
            GIT_AUTHOR_NAME=author["name"],
            GIT_AUTHOR_EMAIL=author["email"],
            GIT_COMMITTER_NAME=author["name"],
            GIT_COMMITTER_EMAIL=author["email"],
        )
    if date is not None:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return env


def git(cwd: Path, *args: str, env: dict, input: str | None = None) -> str:
    cmd = ["git", "-c", "core.autocrlf=false", "-c", "commit.gpgsign=false", "-c", "pack.threads=1", *args]
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, input=input, capture_output=True, text=True, encoding="utf-8", check=False
    )
    if proc.returncode != 0:
        raise BuildError(f"git {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def staged_diff(work: Path, env: dict) -> str:
    """The diff of the index against HEAD, as every patch in src/ is written."""
    return git(work, "diff", "--cached", "--no-color", "--no-ext-diff", "--no-renames", env=env)


def patch_paths(patch: str) -> list[str]:
    paths = []
    for line in patch.splitlines():
        if line.startswith("diff --git a/"):
            paths.append(line.split(" b/", 1)[1])
    return paths


def overlay(src_dir: Path, work: Path) -> None:
    for path in sorted(src_dir.rglob("*")):
        if path.is_dir():
            continue
        target = work / path.relative_to(src_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())


def make_history(repo_dir: Path, work: Path, home: Path) -> dict[str, str]:
    """Create the repo's commits in the empty folder ``work``; return {commit id: sha}."""
    spec = json.loads((repo_dir / "repo.json").read_text(encoding="utf-8"))
    if spec["name"] != repo_dir.name:
        raise BuildError(f"{repo_dir}: repo.json name {spec['name']!r} does not match its folder")
    env = git_env(home)
    git(work, "init", "-q", "-b", "main", env=env)

    shas: dict[str, str] = {}
    for commit in spec["commits"]:
        cid = commit["id"]
        author = commit.get("author", spec["author"])
        overlay(repo_dir / "commits" / cid, work)
        for path in commit.get("delete", []):
            (work / path).unlink()
        git(work, "add", "-A", env=env)
        cenv = git_env(home, author, commit["date"])
        git(work, "commit", "-q", "--no-verify", "-F", "-", env=cenv, input=commit["message"].rstrip() + "\n")
        shas[cid] = git(work, "rev-parse", "HEAD", env=env).strip()
        if "tag" in commit:
            git(work, "tag", commit["tag"], env=env)
    return shas


def build_repo(repo_dir: Path, tmp: Path) -> tuple[dict, list[dict], Path]:
    name = repo_dir.name
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    work = tmp / name
    work.mkdir()
    env = git_env(home)
    shas = make_history(repo_dir, work, home)

    records = []
    for inst_dir in sorted((repo_dir / "instances").iterdir(), key=lambda p: int(p.name)):
        records.append(build_instance(name, inst_dir, work, shas, env))

    bundle = tmp / f"{OWNER}__{name}.bundle"
    git(work, "bundle", "create", "-q", str(bundle), "--all", env=env)
    git(work, "bundle", "verify", "-q", str(bundle), env=env)
    return {"name": name, "shas": shas}, records, bundle


def build_instance(name: str, inst_dir: Path, work: Path, shas: dict, env: dict) -> dict:
    meta = json.loads((inst_dir / "meta.json").read_text(encoding="utf-8"))
    number = int(inst_dir.name)
    iid = f"{OWNER}__{name}-{number}"
    base_id = meta["base_commit"]
    if base_id not in shas:
        raise BuildError(f"{iid}: base commit {base_id!r} is not in repo.json")
    base = shas[base_id]
    gold = (inst_dir / "gold.patch").read_text(encoding="utf-8")
    test = (inst_dir / "test.patch").read_text(encoding="utf-8")

    for label, patch, want_tests in (("gold.patch", gold, False), ("test.patch", test, True)):
        paths = patch_paths(patch)
        if not paths:
            raise BuildError(f"{iid}: {label} changes no file")
        wrong = [p for p in paths if is_test_path(p) != want_tests]
        if wrong:
            kind = "non-test" if want_tests else "test"
            raise BuildError(f"{iid}: {label} touches {kind} files: {wrong}")

    # Both patches must apply at the base commit, and must be exactly what
    # `git diff` writes for the change (so the text is canonical).
    git(work, "checkout", "-q", "--detach", base, env=env)
    for label, patch in (("test.patch", test), ("gold.patch", gold)):
        git(work, "apply", "--check", "-", env=env, input=patch)
        git(work, "apply", "--index", "-", env=env, input=patch)
        regenerated = staged_diff(work, env)
        if regenerated != patch:
            raise BuildError(f"{iid}: {label} is not canonical `git diff` output; regenerate it")
        git(work, "reset", "-q", "--hard", base, env=env)

    pyproject = git(work, "show", f"{base}:pyproject.toml", env=env)
    version_line = next(line for line in pyproject.splitlines() if line.startswith("version = "))
    package_version = version_line.split('"')[1]
    if not package_version.startswith(meta["version"] + "."):
        raise BuildError(f"{iid}: version {meta['version']!r} but pyproject.toml says {package_version!r}")

    f2p, p2p = meta["FAIL_TO_PASS"], meta["PASS_TO_PASS"]
    if not f2p or len(p2p) < 15 or set(f2p) & set(p2p) or len(set(f2p + p2p)) != len(f2p + p2p):
        raise BuildError(f"{iid}: FAIL_TO_PASS/PASS_TO_PASS must be disjoint, F2P non-empty, P2P >= 15")
    # Log parsers split summary lines on whitespace, and harnesses may pass ids
    # through a shell: keep them to plain characters.
    unsafe = [t for t in f2p + p2p if not t.isascii() or any(ch.isspace() or ch in _SHELL_SPECIAL for ch in t)]
    if unsafe:
        raise BuildError(f"{iid}: test ids with whitespace or shell metacharacters: {unsafe}")
    test_files = set(patch_paths(test))
    stray = [t for t in f2p + p2p if t.split("::", 1)[0] not in test_files]
    if stray:
        raise BuildError(f"{iid}: tests outside the files of test.patch: {stray}")

    hints = inst_dir / "hints.md"
    record = {
        "repo": f"{OWNER}/{name}",
        "instance_id": iid,
        "base_commit": base,
        "patch": gold,
        "test_patch": test,
        "problem_statement": (inst_dir / "problem_statement.md").read_text(encoding="utf-8"),
        "hints_text": hints.read_text(encoding="utf-8") if hints.exists() else "",
        "created_at": meta["created_at"],
        "version": meta["version"],
        "FAIL_TO_PASS": json.dumps(f2p),
        "PASS_TO_PASS": json.dumps(p2p),
        "environment_setup_commit": base,
    }
    assert list(record) == FIELDS
    return record


def render_specs(records: list[dict]) -> str:
    lines = [
        "# Generated by build.py: how to install and test each repo at each version.",
        "# debian: the Debian release whose python3 is used (bookworm = Python 3.11).",
    ]
    versions: dict[str, list[str]] = {}
    for rec in records:
        versions.setdefault(rec["repo"], [])
        if rec["version"] not in versions[rec["repo"]]:
            versions[rec["repo"]].append(rec["version"])
    for repo in sorted(versions):
        lines.append(f"{repo}:")
        for version in sorted(versions[repo], key=lambda v: tuple(int(x) for x in v.split("."))):
            lines += [
                f'  "{version}":',
                "    debian: bookworm",
                f'    pip_packages: ["{PYTEST}"]',
                '    install: ["python -m pip install -e ."]',
                '    test_cmd: "pytest -rA -p no:cacheprovider"',
                "    test_directives_from: test_patch",
            ]
    return "\n".join(lines) + "\n"


def render_instances(records: list[dict]) -> str:
    return "".join(json.dumps(rec) + "\n" for rec in records)


def bundle_heads(bundle: Path, env: dict) -> str:
    return git(HERE, "bundle", "list-heads", str(bundle), env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the outputs are up to date")
    args = parser.parse_args(argv)

    records: list[dict] = []
    stale: list[str] = []
    with tempfile.TemporaryDirectory(prefix="swe-mini-build-") as tmpdir:
        tmp = Path(tmpdir)
        env = git_env(tmp)
        bundles = []
        for repo_dir in sorted(p for p in SRC.iterdir() if p.is_dir()):
            repo_tmp = tmp / repo_dir.name
            repo_tmp.mkdir()
            try:
                info, recs, bundle = build_repo(repo_dir, repo_tmp)
            except BuildError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            records.extend(recs)
            bundles.append(bundle)
            shas = ", ".join(f"{cid}={sha[:10]}" for cid, sha in info["shas"].items())
            print(f"{OWNER}/{info['name']}: {len(info['shas'])} commits ({shas}); {len(recs)} instances")

        outputs = {INSTANCES: render_instances(records), SPECS: render_specs(records)}
        REPOS.mkdir(exist_ok=True)
        for bundle in bundles:
            target = REPOS / bundle.name
            # Bundle bytes are not guaranteed stable across git versions; keep
            # the committed file whenever it already holds exactly these refs.
            if target.exists() and bundle_heads(target, env) == bundle_heads(bundle, env):
                continue
            stale.append(str(target.relative_to(HERE)))
            if not args.check:
                shutil.copyfile(bundle, target)
        known = {b.name for b in bundles}
        for old in sorted(REPOS.glob("*.bundle")):
            if old.name not in known:
                stale.append(str(old.relative_to(HERE)))
                if not args.check:
                    old.unlink()
        for path, text in outputs.items():
            if not path.exists() or path.read_bytes() != text.encode("utf-8"):
                stale.append(path.name)
                if not args.check:
                    path.write_bytes(text.encode("utf-8"))

    if args.check:
        if stale:
            print("stale (run build.py): " + ", ".join(stale), file=sys.stderr)
            return 1
        print("up to date")
        return 0
    print(f"wrote {len(records)} instances" + (f"; updated: {', '.join(stale)}" if stale else "; nothing changed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
