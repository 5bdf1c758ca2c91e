"""What Ray costs per attempt, and how fast the driver takes attempts in.

The oracle graph on the local sandbox (no model, a real `ls` per attempt, GAIA scoring), N attempts
(gaia-mini, as many epochs as it takes) through the Runner twice in the same run: `run.executor: local`
(asyncio workers in this process) and `run.executor: ray` (a local Ray cluster the executor starts, one
actor per attempt slot), at the same `run.concurrency`. Printed per executor:

- attempts/s: attempts over the attempt phase (the first attempt's start to the last one's end, from the
  store: cluster start and worker start-up excluded) and over the whole run (wall);
- Ray adds (ms/attempt): per attempt, the driver's round trip (the actor call sent → its result back)
  minus the attempt's own time inside the worker — placement, (de)serialisation and transfer of the
  AttemptResult; the mean (and p50 / p95). Also the slot-time difference C·(1/rate_ray − 1/rate_local);
- the driver's peak RSS during each run (sampled every 50 ms).

And the driver's ingest rate: `RunStore.add_attempt` (redaction and one transaction per attempt
included) on synthetic attempts of `--events` events each, the way the driver stores what comes back.
Targets (issue #15): Ray adds ≤ 25 ms per attempt; the driver ingests ≥ 20,000 events/s.

    .venv/bin/python bench/scale.py [--attempts 1000] [--concurrency 4] [--events 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402  (comes with ray)

from agentbench.config.loader import load_experiment  # noqa: E402
from agentbench.config.schema import ExperimentConfig  # noqa: E402
from agentbench.events import ModelCall, SandboxExec  # noqa: E402
from agentbench.protocols import AttemptRecord, AttemptTotals, Score  # noqa: E402
from agentbench.redact import Redactor  # noqa: E402
from agentbench.runner.executors.local import LocalExecutor  # noqa: E402
from agentbench.runner.executors.ray import RayExecutor  # noqa: E402
from agentbench.runner.runner import Runner  # noqa: E402
from agentbench.store import RunStore  # noqa: E402

SUITE_SIZE = 25  # gaia-mini


class PeakRss:
    """The driver's resident memory, sampled in a thread while in use: the peak (MiB)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> float:
        return self.peak / 2**20


def config(attempts: int, concurrency: int, executor: str) -> ExperimentConfig:
    return load_experiment(ROOT / "experiments" / "demo.yaml", [
        "graph=oracle", "sandbox.backend=local", f"run.epochs={math.ceil(attempts / SUITE_SIZE)}",
        f"run.concurrency={concurrency}", f"run.executor={executor}", "name=scale"])


def run_once(cfg: ExperimentConfig, executor, out: Path) -> dict:
    with PeakRss() as rss:
        t0 = time.perf_counter()
        store = asyncio.run(Runner(cfg, out, executor=executor, base_dir=ROOT).run())
        wall = time.perf_counter() - t0
    rows = store.attempt_rows()
    solved = sum(a.status == "solved" for a in store.attempts())
    phase = max(r["t_end"] for r in rows) - min(r["t_start"] for r in rows)
    (events,) = store._db.execute("SELECT COUNT(*) FROM event").fetchone()
    store.close()
    return {"attempts": len(rows), "solved": solved, "wall_s": wall, "phase_s": phase,
            "rate": len(rows) / phase, "rate_wall": len(rows) / wall, "rss_mib": rss.mib, "events": events}


def ray_cost(timings: list[tuple[float, float, float, float]]) -> dict:
    extra = sorted(((back - sent) - (end - start)) * 1000 for sent, back, start, end in timings)
    return {"mean_ms": statistics.fmean(extra), "p50_ms": extra[len(extra) // 2],
            "p95_ms": extra[int(len(extra) * 0.95)]}


def ingest(attempts: int, events: int, out: Path) -> dict:
    """RunStore.add_attempt on synthetic attempts shaped like real ones (model calls with messages,
    sandbox commands with output), through the run's redactor."""
    out.mkdir(parents=True, exist_ok=True)
    store = RunStore.in_dir(out, redactor=Redactor.from_config(ExperimentConfig()))
    call = {"prompt_tokens": 900, "completion_tokens": 60, "latency_s": 0.8,
            "messages": [{"role": "user", "content": "What is the capital? " * 20}],
            "reply": {"role": "ai", "content": "The answer is 42. " * 5}}
    command = {"command": "python -c 'print(1)'", "exit_code": 0, "stdout": "1\n" + "x" * 300, "stderr": "",
               "duration_s": 0.02}
    evs = [ModelCall(seq=j, t_start=1.0 + j, t_end=1.5 + j, node="agent", **call) if j % 2 else
           SandboxExec(seq=j, t_start=1.0 + j, t_end=1.5 + j, node="agent", **command) for j in range(events)]
    records = [AttemptRecord(task_id=f"t{i % 500}", epoch=i // 500, status="solved", answer="42",
                             score=Score(passed=True, value=1.0), totals=AttemptTotals(model_calls=events // 2))
               for i in range(attempts)]
    with PeakRss() as rss:
        t0 = time.perf_counter()
        for record in records:
            store.add_attempt(record, evs, 1.0, 2.0)
        dt = time.perf_counter() - t0
    store.close()
    return {"events_per_s": attempts * events / dt, "attempts_per_s": attempts / dt, "rss_mib": rss.mib}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--events", type=int, default=20, help="events per synthetic attempt (ingest)")
    parser.add_argument("--ingest-attempts", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    work = Path(tempfile.mkdtemp(prefix="agentbench-scale-"))
    results: dict[str, dict] = {}
    results["local"] = run_once(config(args.attempts, args.concurrency, "local"), LocalExecutor(), work / "local")
    ray_executor = RayExecutor()
    results["ray"] = run_once(config(args.attempts, args.concurrency, "ray"), ray_executor, work / "ray")
    cost = ray_cost(ray_executor.timings)
    slot_ms = args.concurrency * (1 / results["ray"]["rate"] - 1 / results["local"]["rate"]) * 1000
    feed = ingest(args.ingest_attempts, args.events, work / "ingest")

    n = results["local"]["attempts"]
    print(f"{n} oracle attempts on the local sandbox, run.concurrency {args.concurrency}, "
          f"{psutil.cpu_count()} CPUs")
    print(f"{'executor':10}{'attempts/s':>12}{'(wall)':>9}{'solved':>8}{'events':>8}{'driver peak RSS':>17}")
    for name, r in results.items():
        print(f"{name:10}{r['rate']:12.1f}{r['rate_wall']:9.1f}{r['solved']:8d}{r['events']:8d}"
              f"{r['rss_mib']:13.0f} MiB")
    print(f"Ray adds per attempt: {cost['mean_ms']:.2f} ms mean (p50 {cost['p50_ms']:.2f}, p95 {cost['p95_ms']:.2f}): "
          f"driver round trip − the attempt's own time  [target <= 25 ms]")
    print(f"slot time difference C·(1/rate_ray − 1/rate_local): {slot_ms:+.2f} ms per attempt")
    print(f"driver ingest: {feed['events_per_s']:,.0f} events/s ({feed['attempts_per_s']:,.0f} attempts/s of "
          f"{args.events} events, RunStore.add_attempt), peak RSS {feed['rss_mib']:.0f} MiB  [target >= 20,000]")
    print(json.dumps({"runs": results, "ray_adds_ms": cost, "slot_ms": slot_ms, "ingest": feed}))


if __name__ == "__main__":
    main()
