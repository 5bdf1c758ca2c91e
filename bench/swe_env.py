"""SWE-bench environment cost: one real SWE-bench Lite instance (swe-lite) next to one swe-mini instance,
measured in the same run, and how a big repo enters an image build (whole-history bundle vs shallow clone).

Per instance: image build time (environment + instance layer, from cold: this bench removes the two tags
first; the rootfs stays), image size, attempt start latency (container create to the first exec's answer,
median of N) and grading time (the gold patch applied and the row's tests run in a fresh container).
Ratios are real / swe-mini.

With --full-mirror PATH (a full bare clone of sympy/sympy, e.g. 339 MB of history), it also builds the
sympy environment's repo step both ways: the whole history as a git bundle in the build context (how
agentbench did it before), and a depth-1 clone of the one commit needed (now); prints context bytes and
build seconds for each and their ratio.

Usage: python bench/swe_env.py [--real sympy__sympy-13480] [--mini agentbench-fixtures__semver-7]
                               [--starts 7] [--full-mirror PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentbench.config.schema import SandboxConfig  # noqa: E402
from agentbench.protocols import Task  # noqa: E402
from agentbench.sandbox.provider import make_sandbox_provider  # noqa: E402
from agentbench.sandbox.engine import engine_client  # noqa: E402
from agentbench.sandbox.images import build_context_image  # noqa: E402
from agentbench.sandbox.swe_images import EnvSettings, ensure_env_image, env_tag, instance_tag, stage_repo  # noqa: E402
from agentbench.scoring.swebench import SweBenchScorer  # noqa: E402
from agentbench.suites.loader import load_suite  # noqa: E402

QUIET = lambda _line: None  # noqa: E731


def task(suite: str, instance: str) -> Task:
    _, tasks = load_suite(suite)
    return next(t for t in tasks if t.id == instance)


def cold_build(client, t: Task) -> tuple[float, str]:
    settings = EnvSettings(images="build")
    from agentbench.sandbox.images import ensure_rootfs

    rootfs = ensure_rootfs(client, t.swe.env.release() or "bookworm", log=QUIET)
    env = env_tag(t.swe, settings, rootfs)
    for tag in (instance_tag(t.swe, env), env):
        try:
            client.images.remove(tag, force=True)
        except Exception:  # not there: already cold
            pass
    t0 = time.perf_counter()
    tag = ensure_env_image(client, t.swe, settings, log=QUIET)
    return time.perf_counter() - t0, tag


async def starts(provider, t: Task, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        async with provider.open(t) as sandbox:
            assert (await sandbox.exec("true")).exit_code == 0
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def grading(provider, t: Task) -> float:
    scorer = SweBenchScorer(provider)
    t0 = time.perf_counter()
    run = await scorer.evaluate(t, t.swe.patch)
    elapsed = time.perf_counter() - t0
    assert run.resolved, f"the gold patch of {t.id} did not resolve it: {run.report}"
    return elapsed


def measure(client, t: Task, n: int) -> dict[str, float]:
    build_s, tag = cold_build(client, t)
    size = client.images.get(tag).attrs["Size"]
    provider = make_sandbox_provider(SandboxConfig(backend="docker"), log=QUIET)

    async def timed() -> tuple[float, float]:
        try:
            return await starts(provider, t, n), await grading(provider, t)
        finally:
            await provider.aclose()

    start_s, grade_s = asyncio.run(timed())
    return {"build_s": build_s, "size_mb": size / 1e6, "start_s": start_s, "grade_s": grade_s}


def mirror_entry(client, full_mirror: Path, t: Task) -> None:
    """The repo step of the environment build, both ways, from the same full mirror."""
    commit = t.swe.environment_setup_commit
    base = ensure_env_image(client, t.swe, EnvSettings(images="build"), log=QUIET)
    rows = {}
    for way in ("bundle", "shallow"):
        with tempfile.TemporaryDirectory(prefix="agentbench-bench-") as tmp:
            context = Path(tmp) / f"mirror-{way}"
            context.mkdir()
            t0 = time.perf_counter()
            if way == "bundle":
                # the default branch's whole history (`--all` also works where every ref's objects are there)
                subprocess.run(["git", "-C", str(full_mirror), "bundle", "create", str(context / "repo.bundle"),
                                "HEAD"], check=True, capture_output=True)
                steps = ["COPY repo.bundle /tmp/repo.bundle",
                         f"RUN git clone -q /tmp/repo.bundle /tmp/repo && cd /tmp/repo && git checkout -q {commit}"]
            else:
                stage_repo(str(full_mirror), commit, context / "commit.git", bare=True)
                steps = ["COPY commit.git /tmp/commit.git",
                         f"RUN git init -q /tmp/repo && cd /tmp/repo && git fetch -q --depth 1 file:///tmp/commit.git "
                         f"{commit} && git checkout -q {commit}"]
            size = sum(p.stat().st_size for p in context.rglob("*") if p.is_file())
            (context / "Dockerfile").write_text("\n".join(["ARG BASE", "FROM ${BASE}", *steps]) + "\n")
            tag = f"agentbench/bench-mirror:{way}"
            try:
                client.images.remove(tag, force=True)
            except Exception:
                pass
            build_context_image(client, f"bench {way}", tag, context, base, labels={}, log=QUIET)
            rows[way] = (size, time.perf_counter() - t0)
            client.images.remove(tag, force=True)
    print(f"\nhow the repo enters the build ({full_mirror.name}, {t.swe.repo}@{commit[:10]}):")
    print(f"{'':>10} {'context MB':>11} {'build s':>9}")
    for way, (size, seconds) in rows.items():
        print(f"{way:>10} {size / 1e6:>11.1f} {seconds:>9.1f}")
    (b_size, b_s), (s_size, s_s) = rows["bundle"], rows["shallow"]
    print(f"{'ratio':>10} {s_size / b_size:>11.3f} {s_s / b_s:>9.3f}   (shallow / bundle)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", default="sympy__sympy-13480")
    ap.add_argument("--mini", default="agentbench-fixtures__semver-7")
    ap.add_argument("--starts", type=int, default=7)
    ap.add_argument("--full-mirror", type=Path)
    args = ap.parse_args()
    client = engine_client()
    if client is None:
        sys.exit("no Docker engine answers (make setup starts one)")
    client.api.timeout = 3600
    real, mini = task("swe-lite", args.real), task("swe-mini", args.mini)
    figures = {"real": measure(client, real, args.starts), "mini": measure(client, mini, args.starts)}
    print(f"{'':>14} {'build s':>9} {'image MB':>9} {'start s':>9} {'grading s':>10}")
    for name, t in (("real", real), ("mini", mini)):
        f = figures[name]
        print(f"{t.id[:14]:>14} {f['build_s']:>9.1f} {f['size_mb']:>9.0f} {f['start_s']:>9.3f} {f['grade_s']:>10.1f}")
    r, m = figures["real"], figures["mini"]
    print(f"{'real / mini':>14} {r['build_s'] / m['build_s']:>9.2f} {r['size_mb'] / m['size_mb']:>9.2f} "
          f"{r['start_s'] / m['start_s']:>9.2f} {r['grade_s'] / m['grade_s']:>10.2f}")
    if args.full_mirror:
        mirror_entry(client, args.full_mirror, real)


if __name__ == "__main__":
    main()
