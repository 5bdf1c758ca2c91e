"""Docker sandbox cost, next to a `docker run --rm IMAGE true` CLI baseline and a local subprocess, all
measured in the same run (interleaved, so drift hits every series alike):

- attempt latency: what one attempt waits for — create, attach, start, first exec, close. The container's
  removal runs off the critical path (the next attempt starts meanwhile).
- back-to-back cost: N attempts in a row, divided by N, *including* waiting for every removal at the end;
  the fair comparison with the CLI, whose `--rm` waits for the removal each time.
- exec round trip: one `true` in an open sandbox.

Targets (issue #3): attempt overhead <= 1.0 s and <= the CLI baseline; exec round trip <= 50 ms median."""

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


async def one_attempt(provider) -> float:
    t0 = time.perf_counter()
    async with provider.open(TASK) as sandbox:
        result = await sandbox.exec("true")
        assert result.exit_code == 0, result
    return time.perf_counter() - t0


async def back_to_back(provider, n: int) -> float:
    """Seconds per attempt over `n` attempts in a row, the wait for every removal included."""
    t0 = time.perf_counter()
    for _ in range(n):
        await one_attempt(provider)
    await provider.aclose()
    return (time.perf_counter() - t0) / n


async def exec_round_trips(provider, n: int) -> list[float]:
    times = []
    async with provider.open(TASK) as sandbox:
        for _ in range(n):
            t0 = time.perf_counter()
            await sandbox.exec("true")
            times.append(time.perf_counter() - t0)
    await provider.aclose()
    return times


def cli_baseline(image: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", "--network", "none", image, "true"], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


async def measure(docker, local, image: str, rounds: int, batch: int, execs: int) -> dict:
    latency, per_attempt, cli, cli_batch, local_latency = [], [], [], [], []
    for _ in range(rounds):
        latency.append(await one_attempt(docker))
        await docker.aclose()
        cli.append(await asyncio.to_thread(cli_baseline, image))
        local_latency.append(await one_attempt(local))
        per_attempt.append(await back_to_back(docker, batch))
        t0 = time.perf_counter()
        for _ in range(batch):
            await asyncio.to_thread(cli_baseline, image)
        cli_batch.append((time.perf_counter() - t0) / batch)
    docker_exec = await exec_round_trips(docker, execs)
    local_exec = await exec_round_trips(local, execs)
    med = statistics.median
    return {"attempt_latency_s": med(latency), "attempt_back_to_back_s": med(per_attempt),
            "cli_docker_run_true_s": med(cli), "cli_back_to_back_s": med(cli_batch),
            "local_attempt_s": med(local_latency), "exec_round_trip_ms": med(docker_exec) * 1000,
            "local_exec_ms": med(local_exec) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds (medians over them)")
    parser.add_argument("--batch", type=int, default=5, help="attempts per back-to-back measurement")
    parser.add_argument("--execs", type=int, default=100)
    args = parser.parse_args()
    client = engine_client()
    if client is None:
        raise SystemExit("no Docker engine answers")
    image = ensure_image(client, "python")
    docker = DockerSandboxProvider(client, DockerSandboxConfig(), lambda name: image)
    local = LocalSandboxProvider(LocalSandboxConfig())
    out = asyncio.run(measure(docker, local, image, args.rounds, args.batch, args.execs))
    ok = out["attempt_latency_s"] <= min(1.0, out["cli_docker_run_true_s"])
    ok_batch = out["attempt_back_to_back_s"] <= out["cli_back_to_back_s"]
    print(f"per attempt, median of {args.rounds} interleaved rounds:")
    print(f"  docker sandbox, latency (create..first exec..close)   {out['attempt_latency_s']:.3f} s")
    print(f"  docker run --rm IMAGE true (CLI baseline)             {out['cli_docker_run_true_s']:.3f} s")
    print(f"  local sandbox                                         {out['local_attempt_s']:.3f} s")
    print(f"  back to back, {args.batch} in a row, removals included: sandbox {out['attempt_back_to_back_s']:.3f} s"
          f" vs CLI {out['cli_back_to_back_s']:.3f} s")
    print(f"ratio latency / CLI = {out['attempt_latency_s'] / out['cli_docker_run_true_s']:.2f}, back to back "
          f"= {out['attempt_back_to_back_s'] / out['cli_back_to_back_s']:.2f} (target <= 1.0 and <= 1.0 s: "
          f"{'OK' if ok and ok_batch else 'MISSED'})")
    print(f"exec round trip, median of {args.execs}: docker {out['exec_round_trip_ms']:.1f} ms "
          f"(target <= 50: {'OK' if out['exec_round_trip_ms'] <= 50 else 'MISSED'}), local {out['local_exec_ms']:.1f} ms")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
