"""`agentbench export otel` at scale: the synthetic run of bench/report.py (500 attempts × 100 events,
conversations that grow every step) sent after the fact to a collector on loopback, timed.

The collector is bench/otlp_collector.py (a separate process that decodes and counts what it gets), or
with `--phoenix` a real Arize Phoenix (its ingestion then sets the pace: it answers 503 while its queue
is full, and the export waits and retries). The figure is `export_run`'s own time (reading the store,
mapping, encoding, sending until the collector accepted the last request); the collector's span count is
checked against what was sent. Target (issue #16): under 30 s for 500 × 100 without content.

    .venv/bin/python bench/otel_export.py [--attempts 500] [--steps 25] [--repeats 3] [--content] [--phoenix]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentbench.export.otel import export_run  # noqa: E402
from bench.report import make_store  # noqa: E402

TARGET_S = 30.0


def start_collector(tmp: Path) -> tuple[subprocess.Popen, str]:
    port_file = tmp / "collector-port"
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "otlp_collector.py"), str(port_file)])
    while not port_file.exists() or not port_file.read_text():
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port_file.read_text()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=500)
    parser.add_argument("--steps", type=int, default=25, help="agent steps per attempt (4 events each)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--content", action="store_true", help="export prompts, replies and outputs too")
    parser.add_argument("--phoenix", action="store_true", help="send to a real Phoenix instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "run").mkdir()
        store = make_store(tmp / "run", args.attempts, args.steps)
        print(f"synthetic store: {args.attempts} attempts × {args.steps * 4} events, "
              f"{store.path.stat().st_size / 1e6:.0f} MB")
        if args.phoenix:
            sys.path.insert(0, str(ROOT / "tests" / "integration"))
            from phoenix_server import Phoenix

            phoenix = Phoenix(tmp / "phoenix").start()
            url, stop = phoenix.url, phoenix.stop
        else:
            proc, url = start_collector(tmp)
            stop = proc.terminate
        try:
            times, sent = [], None
            for r in range(args.repeats):
                stats = export_run(store, url, content=args.content, service_name=f"bench-{r}")
                times.append(stats.seconds)
                sent = stats
            if not args.phoenix:
                got = json.loads(httpx.get(url + "/stats").text)
                assert got["spans"] == sent.spans * args.repeats, (got, sent)
        finally:
            stop()
        median = statistics.median(times)
        print(f"export to {'Phoenix' if args.phoenix else 'a loopback collector'}"
              f"{' with content' if args.content else ''} (median of {args.repeats}): {median:.2f} s for "
              f"{sent.traces} traces, {sent.spans} spans, {sent.requests} requests, {sent.bytes / 1e6:.1f} MB; "
              f"target < {TARGET_S:.0f} s: {'met' if median < TARGET_S else 'MISSED'}")
        print(json.dumps({"export_s": median, "runs_s": times, "traces": sent.traces, "spans": sent.spans,
                          "requests": sent.requests, "mb": sent.bytes / 1e6}))
        store.close()


if __name__ == "__main__":
    main()
