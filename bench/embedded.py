"""The embedded CPU model's speed by dtype: generated tokens/s of the real embedded vLLM server in bfloat16
and in float32, at 1 and 8 concurrent plain requests (short prompt, 256 tokens each, ignore_eos), from
vLLM's own /metrics, in one run. Ratios are float32 / bfloat16 at the same concurrency.

It also prints which dtype `model.server.dtype: auto` picks on this CPU (bfloat16 only with AVX-512 BF16
or AMX, else float32), so the default can be checked against the measurement.

    .venv/bin/python bench/embedded.py [--seconds 30] [--levels 1,8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from throughput import decode_level  # noqa: E402  (the same plain-request load as the throughput bench)

from agentbench.config.schema import ModelConfig  # noqa: E402
from agentbench.models import embedded  # noqa: E402
from agentbench.models.server import ManagedServer  # noqa: E402


async def measure(dtype: str, levels: list[int], seconds: float, tmp: Path) -> dict[int, float]:
    cfg = ModelConfig.model_validate({"server": {"dtype": dtype}})
    spec = embedded.vllm_server_spec(cfg, embedded.venv_python(), str(embedded.model_dir()))
    rates = {}
    async with ManagedServer(spec, tmp / f"server-{dtype}.log") as server:
        await decode_level(server.base_url, server.root_url, 1, 5.0)  # warm-up, not counted
        for level in levels:
            rates[level] = (await decode_level(server.base_url, server.root_url, level, seconds))[
                "steady_gen_tokens_per_s"]
            print(f"{dtype:>9} at {level:>2} concurrent: {rates[level]:6.1f} generated tok/s", flush=True)
    return rates


async def main_async(levels: list[int], seconds: float) -> None:
    if not embedded.is_ready():
        raise SystemExit("the embedded model is not set up: run `make setup`")
    tmp = Path(tempfile.mkdtemp(prefix="agentbench-embedded-"))
    flags = embedded.cpu_flags()
    print(f"this CPU: {', '.join(sorted(flags & embedded.BF16_FLAGS)) or 'no native bf16'}; "
          f"dtype auto -> {embedded.cpu_dtype('auto', flags)}")
    bf16 = await measure("bfloat16", levels, seconds, tmp)
    fp32 = await measure("float32", levels, seconds, tmp)
    print(f"\n{'concurrent':>10} {'bfloat16':>9} {'float32':>9} {'fp32/bf16':>10}")
    for level in levels:
        print(f"{level:>10} {bf16[level]:>9.1f} {fp32[level]:>9.1f} {fp32[level] / bf16[level]:>10.2f}")


def main() -> None:
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--levels", default="1,8")
    args = parser.parse_args()
    asyncio.run(main_async([int(x) for x in args.levels.split(",")], args.seconds))


if __name__ == "__main__":
    main()
