"""report.html at scale: a synthetic run of 500 attempts × 100 events, next to baselines from the same run.

The store is made in a temp folder with RunStore's own API: each attempt is 25 agent steps of
node_start / model_call / sandbox_exec / node_end, with a conversation that grows every step (the
tracer stores each call's whole prompt, as a real run does), replies of ~400 characters, command outputs
of ~800 and a realistic status mix. Then:

- generation: `write_html_report` (read the store, build the page, draw the plots, write the file),
  against just reading the same attempts and events from the store;
- page load in headless Chromium: navigation start until the page's script sets `data-ready`
  (the table sortable and filterable, every trace openable), against a minimal static page of the same
  byte size (one JSON blob of that size and a script that only sets `data-ready`);
- opening the biggest trace (parse its blob, build its DOM).

Target (issue #6): page load < 3 s for 500 × 100. Needs `chromium` and `chromium-driver` (Debian) and
selenium; `--no-browser` times generation only.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentbench.events import Event, ModelCall, NodeEnd, NodeStart, SandboxExec  # noqa: E402
from agentbench.protocols import AttemptRecord, AttemptTotals, Score, Usage  # noqa: E402
from agentbench.report.html import load_attempts, write_html_report  # noqa: E402
from agentbench.store import RunStore  # noqa: E402

WORDS = ("the data file column value sum total rows check output answer python pandas read csv count filter "
         "error line result test function return list dict open import print compute mean group by sort "
         "query select where order unique missing numbers string parse").split()
SYSTEM = ("You are solving a task inside a sandbox. Your working directory holds the task's files. Each turn, "
          "write one short thought, then exactly ONE fenced code block; it will be run and you will see its "
          "output. " * 8)
STATUSES = ["solved"] * 8 + ["failed"] * 7 + ["limit"] * 4 + ["error"]


def _text(rng: random.Random, chars: int) -> str:
    out, n = [], 0
    while n < chars:
        line = " ".join(rng.choices(WORDS, k=rng.randint(6, 14)))
        out.append(line)
        n += len(line) + 1
    return "\n".join(out)


def make_attempt(rng: random.Random, index: int, steps: int) -> tuple[AttemptRecord, list[Event], float, float]:
    """One synthetic attempt of `steps` × (node_start, model_call, sandbox_exec, node_end)."""
    t = 1_800_000_000.0 + index * 60.0
    t_start = t
    messages = [{"role": "system", "content": SYSTEM}, {"role": "human", "content": _text(rng, 400)}]
    events: list[Event] = []
    model_s = sandbox_s = 0.0
    prompt_tokens = completion_tokens = 0
    for _ in range(steps):
        node = "act"
        events.append(NodeStart(seq=len(events), t_start=t, t_end=t, node=node))
        latency = rng.uniform(0.3, 2.5)
        reply = _text(rng, 300) + "\n```bash\n" + " ".join(rng.choices(WORDS, k=8)) + "\n```"
        pt, ct = sum(len(m["content"]) for m in messages) // 4, len(reply) // 4
        events.append(ModelCall(seq=len(events), t_start=t + 0.01, t_end=t + 0.01 + latency, node=node,
                                messages=list(messages), reply={"role": "ai", "content": reply}, prompt_tokens=pt,
                                completion_tokens=ct, latency_s=latency))
        t += 0.01 + latency
        duration = rng.uniform(0.02, 1.5)
        stdout = _text(rng, 800)
        code = 0 if rng.random() > 0.2 else 1
        stderr = "" if code == 0 else _text(rng, 120)
        events.append(SandboxExec(seq=len(events), t_start=t + 0.005, t_end=t + 0.005 + duration, node=node,
                                  kind="bash", command=" ".join(rng.choices(WORDS, k=8)), exit_code=code,
                                  duration_s=duration, stdout=stdout, stderr=stderr, truncated=False,
                                  timed_out=False))
        t += 0.005 + duration + 0.003
        events.append(NodeEnd(seq=len(events), t_start=events[-3].t_start, t_end=t, node=node))
        observation = f"exit code: {code}\nstdout:\n{stdout}"
        messages += [{"role": "ai", "content": reply}, {"role": "human", "content": observation}]
        model_s, sandbox_s = model_s + latency, sandbox_s + duration
        prompt_tokens, completion_tokens = prompt_tokens + pt, completion_tokens + ct
    status = STATUSES[index % len(STATUSES)]
    score = None if status in ("limit", "error") else Score(
        passed=status == "solved", value=float(status == "solved"), details={"expected": "42", "answer": "42"})
    record = AttemptRecord(
        task_id=f"task-{index // 2:04d}", epoch=index % 2, status=status, answer="42" if score else None, score=score,
        error={"limit": "steps limit reached", "error": "APIConnectionError: Connection error."}.get(status),
        totals=AttemptTotals(usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
                             model_calls=steps, tool_calls=steps, supersteps=steps, wall_clock_s=t - t_start,
                             model_time_s=model_s, sandbox_time_s=sandbox_s))
    return record, events, t_start, t


def make_store(run_dir: Path, attempts: int, steps: int) -> RunStore:
    store = RunStore.in_dir(run_dir)
    rng = random.Random(0)
    store.set_meta("run_id", "bench-report")
    store.set_meta("config", {"name": "bench", "graph": "planning", "model": {"name": "synthetic"}})
    store.set_meta("model_identity", {"provider": "none", "served_model_name": "synthetic"})
    store.set_meta("suite", {"name": "synthetic"})
    store.set_meta("wall_clock_s", attempts * 60.0 / 8)
    for i in range(attempts):
        store.add_attempt(*make_attempt(rng, i, steps))
    return store


def chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--disable-gpu", "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def load_ms(driver, path: Path) -> float:
    """ms from navigation start until the page sets data-ready (a fresh navigation, no cache)."""
    driver.get("about:blank")
    driver.get(path.as_uri())
    return poll_ms(driver, "document.documentElement.dataset.readyMs", f"{path} never became ready")


def poll_ms(driver, expression: str, error: str) -> float:
    """A number the page sets asynchronously (a data-* attribute), waited for up to 60 s."""
    deadline = time.time() + 60
    while time.time() < deadline:
        value = driver.execute_script(f"return {expression} || null")
        if value is not None:
            return float(value)
        time.sleep(0.02)
    raise TimeoutError(error)


def baseline_page(path: Path, size: int) -> None:
    """A minimal page of `size` bytes: one inert JSON blob and a script that only sets data-ready."""
    head = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>baseline</title></head><body><p>baseline</p>'
    tail = ('</script><script>document.documentElement.dataset.readyMs = performance.now().toFixed(1);'
            'document.documentElement.dataset.ready = "1";</script></body></html>')
    opening = '<script type="application/json">["'
    filler = size - len(head) - len(opening) - len('"]') - len(tail)
    path.write_text(head + opening + "x" * max(0, filler) + '"]' + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=500)
    parser.add_argument("--steps", type=int, default=25, help="agent steps per attempt (4 events each)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        t0 = time.perf_counter()
        store = make_store(run_dir, args.attempts, args.steps)
        made_s = time.perf_counter() - t0
        print(f"synthetic store: {args.attempts} attempts × {args.steps * 4} events, "
              f"{(run_dir / 'run.sqlite').stat().st_size / 1e6:.0f} MB, made in {made_s:.1f} s")

        read, gen = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            load_attempts(store)
            read.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            path = write_html_report(run_dir, store)
            gen.append(time.perf_counter() - t0)
        size = path.stat().st_size
        figures: dict[str, float] = {"generate_s": statistics.median(gen), "read_store_s": statistics.median(read),
                                     "report_mb": size / 1e6}
        print(f"generation (median of {args.repeats}): {figures['generate_s']:.2f} s; reading the store alone "
              f"{figures['read_store_s']:.2f} s; ratio {figures['generate_s'] / figures['read_store_s']:.2f}; "
              f"report.html {size / 1e6:.1f} MB")

        if not args.no_browser:
            base = run_dir / "baseline.html"
            baseline_page(base, size)
            driver = chrome()
            try:
                load_ms(driver, path)  # warm up the browser process
                pages, bases = [], []
                for _ in range(args.repeats):  # interleaved, so drift hits both alike
                    pages.append(load_ms(driver, path))
                    bases.append(load_ms(driver, base))
                biggest = max(load_attempts(store), key=lambda a: len(a.events)).id
                load_ms(driver, path)
                driver.execute_script(f"location.hash = 'attempt-{biggest}'")
                trace_ms = poll_ms(driver, "document.getElementById('trace').dataset.renderMs",
                                   "the trace never rendered")  # hashchange fires asynchronously
            finally:
                driver.quit()
            figures.update(page_load_ms=statistics.median(pages), baseline_load_ms=statistics.median(bases),
                           open_trace_ms=trace_ms)
            print(f"page load to data-ready (median of {args.repeats}): {figures['page_load_ms']:.0f} ms; "
                  f"static page of the same size {figures['baseline_load_ms']:.0f} ms; "
                  f"ratio {figures['page_load_ms'] / figures['baseline_load_ms']:.2f}; "
                  f"target < 3000 ms: {'met' if figures['page_load_ms'] < 3000 else 'MISSED'}")
            print(f"open the biggest trace ({args.steps * 4} events): {trace_ms:.0f} ms")
        print(json.dumps(figures))
        store.close()


if __name__ == "__main__":
    main()
