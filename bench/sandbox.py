"""Docker sandbox cost: per-attempt overhead (create, start, first exec, remove) and exec round trip,
next to a `docker run --rm IMAGE true` CLI baseline and a local subprocess, measured in the same run.
Targets: attempt overhead <= 1.0 s and <= the CLI baseline; exec round trip <= 50 ms median."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentbench.protocols import Task  # noqa: E402
from agentbench.sandbox.docker import DockerSandboxConfig, DockerSandboxProvider  # noqa: E402
from agentbench.sandbox.engine import engine_client  # noqa: E402
from agentbench.sandbox.images import ensure_image  # noqa: E402
from agentbench.sandbox.local import LocalSandboxConfig, LocalSandboxProvider  # noqa: E402

TASK = Task(id="bench", kind="qa", prompt="bench")


async def attempt_overhead(provider) -> float:
    t0 = time.perf_counter()
    async with provider.open(TASK) as sandbox:
        await sandbox.exec("true")
    return time.perf_counter() - t0


async def exec_round_trips(provider, n: int) -> list[float]:
    times = []
    async with provider.open(TASK) as sandbox:
        for _ in range(n):
            t0 = time.perf_counter()
            await sandbox.exec("true")
            times.append(time.perf_counter() - t0)
    return times


def cli_baseline(image: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", "--network", "none", image, "true"], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=10)
    parser.add_argument("--execs", type=int, default=50)
    args = parser.parse_args()
    client = engine_client()
    if client is None:
        raise SystemExit("no Docker engine answers")
    image = ensure_image(client, "python")
    docker = DockerSandboxProvider(client, DockerSandboxConfig(), lambda name: image)
    local = LocalSandboxProvider(LocalSandboxConfig())
    attempt, cli, local_attempt = [], [], []
    for _ in range(args.attempts):  # interleaved, so drift hits all three alike
        attempt.append(asyncio.run(attempt_overhead(docker)))
        cli.append(cli_baseline(image))
        local_attempt.append(asyncio.run(attempt_overhead(local)))
    docker_exec = asyncio.run(exec_round_trips(docker, args.execs))
    local_exec = asyncio.run(exec_round_trips(local, args.execs))
    med = statistics.median
    out = {
        "attempt_overhead_s": med(attempt), "cli_docker_run_true_s": med(cli), "local_attempt_s": med(local_attempt),
        "exec_round_trip_ms": med(docker_exec) * 1000, "local_exec_ms": med(local_exec) * 1000,
    }
    print(f"per-attempt overhead (create, start, first exec, remove), median of {args.attempts}:")
    print(f"  docker sandbox          {out['attempt_overhead_s']:.3f} s")
    print(f"  docker run --rm … true  {out['cli_docker_run_true_s']:.3f} s   (CLI baseline)")
    print(f"  local sandbox           {out['local_attempt_s']:.3f} s")
    print(f"ratio sandbox / CLI baseline = {out['attempt_overhead_s'] / out['cli_docker_run_true_s']:.2f} "
          f"(target <= 1.0, and <= 1.0 s: {'OK' if out['attempt_overhead_s'] <= min(1.0, out['cli_docker_run_true_s']) else 'MISSED'})")
    print(f"exec round trip, median of {args.execs}: docker {out['exec_round_trip_ms']:.1f} ms "
          f"(target <= 50: {'OK' if out['exec_round_trip_ms'] <= 50 else 'MISSED'}), local {out['local_exec_ms']:.1f} ms")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
