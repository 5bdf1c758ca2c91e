"""Sweep server reuse: a temperature sweep (default 2 levels) on the first gaia-mini tasks (default 3)
against the real embedded CPU model, run twice into fresh folders:

- `before`: every cell a whole run that starts and stops its own managed server (`Runner` opening its own
  endpoint: what `agentbench sweep` did for every cell);
- `after`: the cells run as `agentbench sweep` runs them now (`runner.sweep_cells.run_cells`), the cells of
  one server setting sharing one server.

Prints the wall-clock of each and how many servers each started (counted from the server logs: every
start writes its command line, `$ ...`, first). The attempts are kept short (`limits.max_steps=2`, local
sandbox) so that the server start-up is what the comparison is about. The server is started and stopped
once before either is timed, so both find vLLM's compile caches warm (the first start on a machine
takes longer).

    .venv/bin/python bench/sweep_server.py [--levels 0.0,0.7] [--tasks 3] [--sandbox local] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentbench.analysis.sweep import make_plan, parse_grid  # noqa: E402
from agentbench.config.loader import load_experiment  # noqa: E402
from agentbench.models import embedded  # noqa: E402
from agentbench.models.endpoint import open_endpoint  # noqa: E402
from agentbench.runner.progress import NullProgress  # noqa: E402
from agentbench.runner.runner import Runner  # noqa: E402
from agentbench.runner.sweep_cells import run_cells  # noqa: E402


def server_starts(folder: Path) -> int:
    """Servers started under `folder`: the `$ ` command lines of every server.log in it."""
    return sum(line.startswith("$ ") for log in folder.rglob("server.log") for line in log.read_text().splitlines())


async def warm_up(cfg, log_dir: Path) -> None:
    async with open_endpoint(cfg.model, log_dir):
        pass


async def before(cells: list, out: Path) -> None:
    for cell, cfg in cells:
        (await Runner(cfg, out / cell.name, progress=NullProgress(), base_dir=ROOT).run()).close()


async def after(cells: list, out: Path) -> None:
    await run_cells(cells, out, progress=lambda cfg: NullProgress(), base_dir=ROOT)


def main() -> None:
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)  # LangChain logs each refused call past max_steps: noise here
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="0.0,0.7", help="model.temperature levels")
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--sandbox", default="local", choices=("local", "docker"))
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (the median is reported)")
    args = parser.parse_args()
    if not embedded.is_ready():
        raise SystemExit("the embedded model is not set up: run `make setup`")
    sets = ["model.provider=embedded", f"suite.limit={args.tasks}", f"sandbox.backend={args.sandbox}",
            "limits.max_steps=2", "graph=react"]
    factors = parse_grid([f"model.temperature={args.levels}"], sets)
    cells = [(cell, load_experiment(ROOT / "experiments" / "demo.yaml", [*sets, *cell.overrides()]))
             for cell in make_plan(None, sets, factors, {}).cells]
    tmp = Path(tempfile.mkdtemp(prefix="agentbench-sweep-server-"))
    t0 = time.perf_counter()
    asyncio.run(warm_up(cells[0][1], tmp / "warm-up"))
    print(f"warm-up: one server start and stop, {time.perf_counter() - t0:.1f} s (not counted)", flush=True)
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for rep in range(args.repeat):  # alternating which goes first, against drift in the machine's load
        for name in (("before", "after") if rep % 2 == 0 else ("after", "before")):
            out = tmp / f"{name}-{rep}"
            t0 = time.perf_counter()
            asyncio.run((before if name == "before" else after)(cells, out))
            runs[name].append({"wall_clock_s": round(time.perf_counter() - t0, 1), "server_starts": server_starts(out)})
            print(f"{name:>6}: {len(cells)} cells, {runs[name][-1]['server_starts']} server start(s), "
                  f"{runs[name][-1]['wall_clock_s']:.1f} s", flush=True)
    median = {name: statistics.median(r["wall_clock_s"] for r in rs) for name, rs in runs.items()}
    saved = median["before"] - median["after"]
    print(f"median: before {median['before']:.1f} s, after {median['after']:.1f} s; saved {saved:.1f} s "
          f"({saved / median['before']:.0%})")
    print(json.dumps({"cells": len(cells), "tasks": args.tasks, "median_s": median, "runs": runs}))

if __name__ == "__main__":
    main()
