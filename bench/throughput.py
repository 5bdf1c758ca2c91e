"""Does the runner keep the model server busy? The planning agent against the embedded vLLM at concurrency
1, 2, 4, 8 and 16: attempts per minute and the server's generation tokens/s at each level (from vLLM's own
/metrics, sampled twice a second), next to the server's ceiling for the same number of plain concurrent
requests, measured in the same run. Two ceilings:

- replay (the target's yardstick): the agent's own model calls of that level — the same prompts, in the
  order the agent sent them, streamed with the same temperature and seed, the same number of completion
  tokens (ignore_eos) — sent as plain requests by the same number of workers, back to back, with no agent, sandbox or framework in between: the same
  server work, at full load;
- decode: plain short-prompt requests generating max_tokens each (the server's raw generation rate; agent
  prompts are long, so prefill makes this one unreachable for any agent on a CPU).

Every phase starts from an empty prefix cache (the bench's server runs with VLLM_SERVER_DEV_MODE=1 for
POST /reset_prefix_cache): a replay must not find the agent's prompts already cached.

Each phase is measured twice: **steady** — while all N workers are busy (the agent: from the first attempt's
start until the last one starts, when the queue runs dry; the replay: until the last request is taken; the
decode ceiling: until its deadline) — and **whole** — including the drain at the end, where fewer than N
are in flight by construction, so it depends on how long the slowest attempts run. The model requests the
agent kept in flight are read from its traces.

Target (issue #5): at concurrency 8 the agent gets at least 80% of the (replay) ceiling, steady.

    .venv/bin/python bench/throughput.py [--levels 1,2,4,8,16] [--attempts 4] [--ceiling-s 40]

--attempts is per unit of concurrency (level 8 runs 32, rounded up to whole epochs of the 25-task suite:
50). One embedded server serves every level.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from collections.abc import AsyncIterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from agentbench.config.loader import load_experiment  # noqa: E402
from agentbench.config.schema import ModelConfig  # noqa: E402
from agentbench.events import ModelCall  # noqa: E402
from agentbench.metrics import mean_in_flight  # noqa: E402
from agentbench.models import embedded  # noqa: E402
from agentbench.models.server import ManagedServer  # noqa: E402
from agentbench.runner.episode import attempt_seed  # noqa: E402
from agentbench.runner.runner import Runner  # noqa: E402
from agentbench.models.supervisor import ServerSupervisor  # noqa: E402
from agentbench.store import RunStore  # noqa: E402

MAX_TOKENS = 256
SUITE_SIZE = 25  # gaia-mini; more attempts than that run as further epochs
PROMPT = [{"role": "user", "content": "Write a short paragraph about the history of the bicycle."}]


def counter_at(samples: list[tuple[float, float]], t: float) -> float:
    """A monotone counter's value at time t, linear between samples (clamped at the ends)."""
    times = [s[0] for s in samples]
    i = bisect.bisect_left(times, t)
    if i == 0:
        return samples[0][1]
    if i == len(samples):
        return samples[-1][1]
    (t0, v0), (t1, v1) = samples[i - 1], samples[i]
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1


@contextlib.asynccontextmanager
async def sampled(root: str) -> AsyncIterator[list[dict[str, float]]]:
    """vLLM's counters sampled twice a second while in use, by the runner's own supervisor."""
    supervisor = ServerSupervisor(root, None, interval_s=0.5, max_restarts=0)
    await supervisor.start()
    done = asyncio.Event()
    watch = asyncio.create_task(supervisor.watch(done))
    try:
        yield supervisor.samples
    finally:
        done.set()
        await watch
        await supervisor.finish()


def generation_rate(samples: list[dict[str, float]], start: float, end: float) -> float:
    series = [(s["t"], s.get("generation_tokens", 0.0)) for s in samples]
    return (counter_at(series, end) - counter_at(series, start)) / (end - start)


async def reset_prefix_cache(root: str) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        (await client.post(root + "/reset_prefix_cache")).raise_for_status()


def phase(samples: list[dict[str, float]], t0: float, steady_end: float, t1: float, **extra: float) -> dict:
    steady_end = steady_end if steady_end > t0 + 1.0 else t1  # too short to measure: the whole phase
    return {"wall_s": t1 - t0, "steady_s": steady_end - t0, "gen_tokens_per_s": generation_rate(samples, t0, t1),
            "steady_gen_tokens_per_s": generation_rate(samples, t0, steady_end), **extra}


async def agent_level(base_url: str, root: str, concurrency: int, attempts: int, out: Path) -> dict:
    cfg = load_experiment(ROOT / "experiments" / "demo.yaml", [
        "model.provider=openai", f"model.base_url={base_url}", f"model.max_tokens={MAX_TOKENS}",
        f"run.concurrency={concurrency}", f"suite.limit={min(attempts, SUITE_SIZE)}",
        f"run.epochs={-(-attempts // SUITE_SIZE)}", "sandbox.backend=local",
        "limits.max_steps=4", "limits.timeout_s=600"])
    async with sampled(root) as samples:
        store = await Runner(cfg, out, base_dir=ROOT).run()
    spans, calls = store.spans(), store.spans("model_call")
    store.close()
    t0, last_start, t1 = min(a for a, _ in spans), max(a for a, _ in spans), max(b for _, b in spans)
    last_start = last_start if last_start > t0 + 1.0 else t1  # as phase() does
    return phase(samples, t0, last_start, t1, attempts=len(spans), attempts_per_min=len(spans) / (t1 - t0) * 60,
                 steady_attempts_in_flight=mean_in_flight(spans, t0, last_start),
                 steady_model_calls_in_flight=mean_in_flight(calls, t0, last_start),
                 model_calls_in_flight=mean_in_flight(calls, t0, t1))


async def decode_level(base_url: str, root: str, concurrency: int, seconds: float) -> dict:
    async with httpx.AsyncClient(timeout=600) as client, sampled(root) as samples:
        t0 = time.time()
        deadline = t0 + seconds

        async def worker() -> None:
            while time.time() < deadline:
                resp = await client.post(base_url + "/chat/completions", json={
                    "model": ModelConfig().name, "messages": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0.7,
                    "ignore_eos": True})
                resp.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        t1 = time.time()
    return phase(samples, t0, deadline, t1)


def recorded_requests(run_dir: Path) -> list[dict]:
    """The request body of every model call the agent made in a run, in the order sent: its prompt, its
    temperature and the attempt's seed (as the runner derives it), the completion pinned to the length the
    agent got (min_tokens = max_tokens, ignore_eos)."""
    store = RunStore(run_dir / "run.sqlite")
    config = store.meta("config") or {}
    seed, temperature = config["run"]["seed"], config["model"]["temperature"]
    roles = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}
    calls = []
    for row in store.attempt_rows():
        for event in store.events(row["id"]):
            if isinstance(event, ModelCall):
                tokens = max(1, event.completion_tokens)
                calls.append((event.t_start, {
                    "messages": [{"role": roles.get(m["role"], m["role"]), "content": m["content"]}
                                 for m in event.messages],
                    "max_tokens": tokens, "min_tokens": tokens, "ignore_eos": True, "temperature": temperature,
                    "seed": attempt_seed(seed, row["task_id"], row["epoch"])}))
    store.close()
    return [body for _, body in sorted(calls, key=lambda c: c[0])]


async def replay_level(base_url: str, root: str, concurrency: int, requests: list[dict]) -> dict:
    """The agent's requests as it sent them: streamed with usage (as the agent's client does), each stream
    read to its end."""
    queue = collections.deque(requests)
    dry = [0.0]  # when the last request was taken: from then on fewer than N are in flight
    async with httpx.AsyncClient(timeout=600) as client, sampled(root) as samples:
        async def worker() -> None:
            while queue:
                body = queue.popleft()
                if not queue:
                    dry[0] = time.time()
                async with client.stream("POST", base_url + "/chat/completions", json={
                        **body, "model": ModelConfig().name, "stream": True,
                        "stream_options": {"include_usage": True}}) as resp:
                    resp.raise_for_status()
                    async for _ in resp.aiter_lines():
                        pass

        t0 = time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        t1 = time.time()
    return phase(samples, t0, dry[0] or t1, t1, requests=len(requests))


async def main_async(levels: list[int], attempts: int, ceiling_s: float) -> dict:
    if not embedded.is_ready():
        raise SystemExit("the embedded model is not set up: run `make setup`")
    cfg = ModelConfig()
    spec = embedded.vllm_server_spec(cfg, embedded.venv_python(), str(embedded.model_dir()))
    spec.env["VLLM_SERVER_DEV_MODE"] = "1"  # POST /reset_prefix_cache between phases (this bench's server only)
    tmp = Path(tempfile.mkdtemp(prefix="agentbench-throughput-"))
    results = {}
    async with ManagedServer(spec, tmp / "server.log") as server:
        base, root = server.base_url, server.root_url
        for level in levels:
            await reset_prefix_cache(root)
            decode = await decode_level(base, root, level, ceiling_s)
            await reset_prefix_cache(root)
            agent = await agent_level(base, root, level, attempts * level, tmp / f"run-{level}")
            await reset_prefix_cache(root)
            replay = await replay_level(base, root, level, recorded_requests(tmp / f"run-{level}"))
            r = results[level] = {
                "agent": agent, "replay_ceiling": replay, "decode_ceiling": decode,
                "ratio": agent["steady_gen_tokens_per_s"] / replay["steady_gen_tokens_per_s"],
                "ratio_whole": agent["gen_tokens_per_s"] / replay["gen_tokens_per_s"],
                "ratio_decode": agent["steady_gen_tokens_per_s"] / decode["steady_gen_tokens_per_s"]}
            print(f"concurrency {level:>2}: {agent['attempts']} attempts, {agent['attempts_per_min']:5.1f}/min; "
                  f"steady ({agent['steady_s']:.0f} s): agent {agent['steady_gen_tokens_per_s']:5.1f} gen tok/s "
                  f"with {agent['steady_model_calls_in_flight']:.2f} requests in flight, replay ceiling "
                  f"{replay['steady_gen_tokens_per_s']:5.1f} = {r['ratio']:.2f}, decode ceiling "
                  f"{decode['steady_gen_tokens_per_s']:5.1f} = {r['ratio_decode']:.2f}; whole level: agent "
                  f"{agent['gen_tokens_per_s']:5.1f} vs replay {replay['gen_tokens_per_s']:5.1f} = "
                  f"{r['ratio_whole']:.2f}", flush=True)
    return results


def main() -> None:
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,2,4,8,16")
    parser.add_argument("--attempts", type=int, default=4, help="attempts per unit of concurrency")
    parser.add_argument("--ceiling-s", type=float, default=40.0)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    results = asyncio.run(main_async(levels, args.attempts, args.ceiling_s))
    if 8 in results:
        r = results[8]
        print(f"at concurrency 8: {r['ratio']:.2f} of the replay ceiling, steady (target >= 0.80: "
              f"{'OK' if r['ratio'] >= 0.8 else 'MISSED'}); whole level incl. the drain {r['ratio_whole']:.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
