"""Does the runner keep the model server busy? The planning agent against the embedded vLLM at concurrency
1, 2, 4, 8 and 16: attempts per minute and the server's generation tokens/s at each level (from vLLM's own
/metrics), next to the server's ceiling for the same number of plain concurrent requests, measured in the
same run. Two ceilings:

- replay (the target's yardstick): the agent's own model calls of that level — the same prompts, the same
  number of completion tokens (ignore_eos) — sent as plain requests by the same number of workers, back to
  back, with no agent, sandbox or framework in between: the same server work, at full load;
- decode: plain short-prompt requests generating max_tokens each (the server's raw generation rate; agent
  prompts are long, so prefill makes this one unreachable for any agent on a CPU).

Target (issue #5): at concurrency 8 the agent gets at least 80% of the (replay) ceiling.

    .venv/bin/python bench/throughput.py [--levels 1,2,4,8,16] [--attempts 2] [--ceiling-s 40]

--attempts is per unit of concurrency (level 8 runs 16 attempts). One embedded server serves every level.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from agentbench.config.loader import load_experiment  # noqa: E402
from agentbench.config.schema import ModelConfig  # noqa: E402
from agentbench.models import embedded, server_metrics  # noqa: E402
from agentbench.models.server import ManagedServer  # noqa: E402
from agentbench.runner.runner import Runner  # noqa: E402

MAX_TOKENS = 256
SUITE_SIZE = 25  # gaia-mini; more attempts than that run as further epochs
PROMPT = [{"role": "user", "content": "Write a short paragraph about the history of the bicycle."}]


async def generated(root: str) -> float:
    scraped = await server_metrics.scrape(root)
    return (scraped or {}).get("generation_tokens", 0.0)


async def agent_level(base_url: str, root: str, concurrency: int, attempts: int, out: Path) -> dict:
    cfg = load_experiment(ROOT / "experiments" / "demo.yaml", [
        "model.provider=openai", f"model.base_url={base_url}", f"model.max_tokens={MAX_TOKENS}",
        f"run.concurrency={concurrency}", f"suite.limit={min(attempts, SUITE_SIZE)}",
        f"run.epochs={-(-attempts // SUITE_SIZE)}", "sandbox.backend=local",
        "limits.max_steps=4", "limits.timeout_s=600"])
    g0, t0 = await generated(root), time.perf_counter()
    store = await Runner(cfg, out, base_dir=ROOT).run()
    wall, tokens = time.perf_counter() - t0, await generated(root) - g0
    n = len(store.attempts())
    store.close()
    return {"attempts": n, "wall_s": wall, "attempts_per_min": n / wall * 60, "gen_tokens_per_s": tokens / wall}


async def ceiling_level(base_url: str, root: str, concurrency: int, seconds: float) -> dict:
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=600) as client:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                resp = await client.post(base_url + "/chat/completions", json={
                    "model": ModelConfig().name, "messages": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0.7,
                    "ignore_eos": True})
                resp.raise_for_status()

        g0, t0 = await generated(root), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"wall_s": wall, "gen_tokens_per_s": (await generated(root) - g0) / wall}


def recorded_calls(run_dir: Path) -> list[tuple[list[dict], int]]:
    """(prompt messages, completion tokens) of every model call the agent made in a run."""
    from agentbench.store import RunStore

    store = RunStore(run_dir / "run.sqlite")
    roles = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}
    calls = []
    for row in store.attempt_rows():
        for event in store.events(row["id"]):
            if event.type == "model_call":
                messages = [{"role": roles.get(m["role"], m["role"]), "content": m["content"]}
                            for m in event.payload["messages"]]
                calls.append((messages, max(1, int(event.payload["completion_tokens"]))))
    store.close()
    return calls


async def replay_level(base_url: str, root: str, concurrency: int, calls: list[tuple[list[dict], int]]) -> dict:
    queue = list(calls)
    async with httpx.AsyncClient(timeout=600) as client:
        async def worker() -> None:
            while queue:
                messages, tokens = queue.pop()
                resp = await client.post(base_url + "/chat/completions", json={
                    "model": ModelConfig().name, "messages": messages, "max_tokens": tokens, "min_tokens": tokens,
                    "temperature": 0.0, "ignore_eos": True})
                resp.raise_for_status()

        g0, t0 = await generated(root), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"requests": len(calls), "wall_s": wall, "gen_tokens_per_s": (await generated(root) - g0) / wall}


async def main_async(levels: list[int], attempts: int, ceiling_s: float) -> dict:
    if not embedded.is_ready():
        raise SystemExit("the embedded model is not set up: run `make setup`")
    cfg = ModelConfig()
    spec = embedded.vllm_server_spec(cfg, embedded.venv_python(), str(embedded.model_dir()))
    tmp = Path(tempfile.mkdtemp(prefix="agentbench-throughput-"))
    results = {}
    async with ManagedServer(spec, tmp / "server.log") as server:
        for level in levels:
            decode = await ceiling_level(server.base_url, server.root_url, level, ceiling_s)
            agent = await agent_level(server.base_url, server.root_url, level, attempts * level, tmp / f"run-{level}")
            replay = await replay_level(server.base_url, server.root_url, level, recorded_calls(tmp / f"run-{level}"))
            results[level] = {"agent": agent, "replay_ceiling": replay, "decode_ceiling": decode,
                              "ratio": agent["gen_tokens_per_s"] / replay["gen_tokens_per_s"],
                              "ratio_decode": agent["gen_tokens_per_s"] / decode["gen_tokens_per_s"]}
            print(f"concurrency {level:>2}: {agent['attempts_per_min']:6.1f} attempts/min, agent "
                  f"{agent['gen_tokens_per_s']:6.1f} gen tok/s vs replay ceiling {replay['gen_tokens_per_s']:6.1f} "
                  f"= {results[level]['ratio']:.2f} (decode ceiling {decode['gen_tokens_per_s']:6.1f} = "
                  f"{results[level]['ratio_decode']:.2f})", flush=True)
    return results


def main() -> None:
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,2,4,8,16")
    parser.add_argument("--attempts", type=int, default=2, help="attempts per unit of concurrency")
    parser.add_argument("--ceiling-s", type=float, default=40.0)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    results = asyncio.run(main_async(levels, args.attempts, args.ceiling_s))
    if 8 in results:
        ok = results[8]["ratio"] >= 0.8
        print(f"at concurrency 8: {results[8]['ratio']:.2f} of the replay ceiling "
              f"(target >= 0.80: {'OK' if ok else 'MISSED'})")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
