"""Export formats at scale: the synthetic run of bench/report.py (500 attempts × 100 events, conversations
that grow every step, ~250 MB of store) written in each format of `agentbench export`.

Each format runs in a fresh child process per repeat (as the CLI would), which reports the export's own
time (imports excluded), its peak memory (ru_maxrss of the child) and the bytes written; the parent also
times the whole child (interpreter start and imports included). Target: well under 30 s per format.

    .venv/bin/python bench/export.py [--attempts 500] [--steps 25] [--repeats 3] [--formats parquet,inspect]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_S = 30.0


def _parquet(store, out: Path) -> list[Path]:
    from agentbench.export.parquet import write_parquet

    return write_parquet(store, out / "parquet")


def _inspect(store, out: Path) -> list[Path]:
    from agentbench.export.inspect_log import write_inspect_log

    return [write_inspect_log(store, out / "inspect")]


FORMATS = {"parquet": _parquet, "inspect": _inspect}
"""format name -> export(store, out folder) returning the files written."""


def child(fmt: str, run_dir: Path, out: Path) -> None:
    """One export in this process; prints its figures as JSON."""
    from agentbench.store import RunStore

    export = FORMATS[fmt]
    store = RunStore.in_dir(run_dir)
    if fmt == "inspect":
        import inspect_ai.log  # noqa: F401 - imports are not the export's time
    else:
        import pyarrow.parquet  # noqa: F401
    t0 = time.perf_counter()
    paths = export(store, out)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "bytes": sum(Path(p).stat().st_size for p in paths)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=500)
    parser.add_argument("--steps", type=int, default=25, help="agent steps per attempt (4 events each)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--child", nargs=3, metavar=("FORMAT", "RUN_DIR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return

    from bench.report import make_store

    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        t0 = time.perf_counter()
        make_store(run_dir, args.attempts, args.steps).close()
        print(f"synthetic store: {args.attempts} attempts × {args.steps * 4} events, "
              f"{(run_dir / 'run.sqlite').stat().st_size / 1e6:.0f} MB, made in {time.perf_counter() - t0:.1f} s")
        for fmt in args.formats.split(","):
            runs, walls = [], []
            for i in range(args.repeats):
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, __file__, "--child", fmt, str(run_dir), f"{tmp}/out{i}"],
                                      capture_output=True, text=True, check=True)
                walls.append(time.perf_counter() - t0)
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            seconds = statistics.median(r["seconds"] for r in runs)
            figures[fmt] = {"export_s": seconds, "process_s": statistics.median(walls),
                            "max_rss_mb": max(r["max_rss_mb"] for r in runs), "output_mb": runs[0]["bytes"] / 1e6}
            print(f"{fmt}: export {seconds:.2f} s (median of {args.repeats}; whole process "
                  f"{figures[fmt]['process_s']:.2f} s), peak memory {figures[fmt]['max_rss_mb']:.0f} MB, "
                  f"output {figures[fmt]['output_mb']:.1f} MB; target < {TARGET_S:.0f} s: "
                  f"{'met' if figures[fmt]['process_s'] < TARGET_S else 'MISSED'}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
