"""A small real run store for the exporters' unit tests (real SQLite in tmp_path, written through
RunStore's own API): 2 tasks × 2 epochs with a solved text-protocol attempt (few-shot prompt, a command, a
repeated observation), a failed tool-calling attempt, a `limit` that is the second try of an `error`, and
a final `error`. A literal secret the writing store does not know is planted in prompts, outputs and
answers; `open_export_store` opens the store with a redactor that knows it (as an export would, from the
run's config and environment)."""

from __future__ import annotations

from pathlib import Path

from agentbench.events import CLASSES, Event
from agentbench.protocols import AttemptRecord, AttemptTotals, Score, Usage
from agentbench.redact import Redactor
from agentbench.store import RunStore

SECRET = "correct-horse-battery-staple-4242"
PROMPT = f"How many files are there? Token {SECRET}."
SYSTEM = "You run commands in a sandbox."
SHOT_Q, SHOT_A = "Example: count the lines of a.txt", "```bash\nwc -l a.txt\n```"
CONFIG = {"graph": "planning", "graph_params": {"plan": False},
          "model": {"name": "tiny", "temperature": 0.0, "top_p": 1.0, "max_tokens": 64},
          "limits": {"max_steps": 3, "max_tokens": 1000, "timeout_s": 60.0, "on_limit": "grade"},
          "run": {"epochs": 2, "seed": 0, "concurrency": 2}}
T0 = 1_800_000_000.0


class Events:
    def __init__(self, t: float) -> None:
        self.events: list[Event] = []
        self.t = t

    def add(self, type_: str, node: str | None = None, dt: float = 0.5, **fields) -> Event:
        e = CLASSES[type_](seq=len(self.events), t_start=self.t, t_end=self.t + dt, node=node, **fields)
        self.events.append(e)
        self.t += dt
        return e


def _call(ev: Events, messages: list[dict], reply: dict | None, pt: int, ct: int, **extra) -> None:
    ev.add("model_call", "act", 1.0, messages=messages, reply=reply, prompt_tokens=pt, completion_tokens=ct,
           latency_s=1.0, **extra)


def solved(t: float) -> tuple[AttemptRecord, list[Event]]:
    """Text protocol: few-shot prompt, `ls` twice (the same observation twice), then the answer."""
    ev = Events(t)
    ev.add("attempt_start", dt=0.0, task_id="t1", epoch=0)
    base = [{"role": "system", "content": SYSTEM}, {"role": "human", "content": SHOT_Q},
            {"role": "ai", "content": SHOT_A}, {"role": "human", "content": PROMPT}]
    act = {"role": "ai", "content": "```bash\nls\n```"}
    obs = {"role": "human", "content": f"exit code: 0\nstdout:\na.txt {SECRET}"}
    history = list(base)
    for _ in range(2):
        ev.add("node_start", "act", 0.0)
        _call(ev, list(history), act, 10 + len(history), 3)
        ev.add("sandbox_exec", "act", 0.2, kind="bash", command="ls", exit_code=0, duration_s=0.2,
               stdout=f"a.txt {SECRET}", stderr="", truncated=False, timed_out=False)
        ev.add("node_end", "act", 0.0)
        history += [act, obs]
    ev.add("node_start", "act", 0.0)
    _call(ev, list(history), {"role": "ai", "content": "FINAL ANSWER: 1"}, 20, 4)
    ev.add("node_end", "act", 0.0)
    ev.add("score", dt=0.01, passed=True, value=1.0, details={"expected": "1", "answer": "1"}, env_error=None)
    ev.add("attempt_end", dt=0.0, status="solved")
    totals = AttemptTotals(usage=Usage(prompt_tokens=10 + 4 + 10 + 6 + 20, completion_tokens=10), model_calls=3,
                           tool_calls=2, supersteps=3, wall_clock_s=4.0, model_time_s=3.0, sandbox_time_s=0.4)
    record = AttemptRecord(task_id="t1", epoch=0, status="solved", answer="1", totals=totals,
                           score=Score(passed=True, value=1.0, details={"expected": "1", "answer": "1"}),
                           metadata={"level": 1})
    return record, ev.events


def failed(t: float) -> tuple[AttemptRecord, list[Event]]:
    """Native tool calls: a `bash` tool call and its tool message, then a wrong answer."""
    ev = Events(t)
    ev.add("attempt_start", dt=0.0, task_id="t1", epoch=1)
    first = [{"role": "system", "content": SYSTEM}, {"role": "human", "content": PROMPT}]
    call = {"role": "ai", "content": "", "tool_calls": [{"name": "bash", "args": {"command": "ls"}}]}
    _call(ev, first, call, 8, 5)
    ev.add("tool_call", "tools", 0.1, tool="bash", input="{'command': 'ls'}", output="a.txt")
    second = first + [call, {"role": "tool", "content": "a.txt"}]
    _call(ev, second, {"role": "ai", "content": "FINAL ANSWER: 7"}, 12, 4)
    ev.add("score", dt=0.01, passed=False, value=0.0, details={"expected": "1", "answer": "7"}, env_error=None)
    ev.add("attempt_end", dt=0.0, status="failed")
    totals = AttemptTotals(usage=Usage(prompt_tokens=20, completion_tokens=9), model_calls=2, tool_calls=1,
                           wall_clock_s=2.2, model_time_s=2.0, sandbox_time_s=0.0)
    record = AttemptRecord(task_id="t1", epoch=1, status="failed", answer="7", totals=totals,
                           score=Score(passed=False, value=0.0, details={"expected": "1", "answer": "7"}))
    return record, ev.events


def error(epoch: int, t: float) -> tuple[AttemptRecord, list[Event]]:
    ev = Events(t)
    ev.add("attempt_start", dt=0.0, task_id="t2", epoch=epoch)
    ev.add("error", dt=0.0, source="model", reason="model", error="APIConnectionError: Connection error.",
           traceback="Traceback (most recent call last):\n  ...\nAPIConnectionError")
    ev.add("attempt_end", dt=0.0, status="error", reason="model")
    record = AttemptRecord(task_id="t2", epoch=epoch, status="error", reason="model",
                           error="APIConnectionError: Connection error.")
    return record, ev.events


def limit(t: float) -> tuple[AttemptRecord, list[Event]]:
    """Steps limit; its last model call was cut off (cancelled, no reply)."""
    ev = Events(t)
    ev.add("attempt_start", dt=0.0, task_id="t2", epoch=0)
    first = [{"role": "system", "content": SYSTEM}, {"role": "human", "content": "Second task?"}]
    _call(ev, first, {"role": "ai", "content": "thinking"}, 5, 2)
    _call(ev, first + [{"role": "ai", "content": "thinking"}], None, 0, 0, cancelled=True)
    ev.add("error", dt=0.0, source="agent", reason="steps", error="steps limit reached", which="steps")
    ev.add("attempt_end", dt=0.0, status="limit", reason="steps")
    totals = AttemptTotals(usage=Usage(prompt_tokens=5, completion_tokens=2), model_calls=1, model_time_s=2.0,
                           wall_clock_s=2.0)
    record = AttemptRecord(task_id="t2", epoch=0, status="limit", reason="steps", error="steps limit reached",
                           totals=totals)
    return record, ev.events


def make_store(run_dir: Path) -> RunStore:
    """The store as a run writes it (its redactor does not know SECRET)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    store = RunStore.in_dir(run_dir, redactor=Redactor())
    for key, value in (("run_id", "unit-run"), ("run_uid", "0123abcd"), ("config", CONFIG),
                       ("suite", {"name": "unit_suite", "tasks": ["t1", "t2"]}),
                       ("model_identity", {"provider": "openai", "served_model_name": "tiny",
                                           "base_url": "http://127.0.0.1:9/v1"}),
                       ("versions", {"agentbench": "0.0.0", "python": "3.11"}), ("started_at", T0),
                       ("finished_at", T0 + 100), ("wall_clock_s", 100.0)):
        store.set_meta(key, value)
    t = T0
    for made in (solved(t), failed(t + 10), error(0, t + 20), limit(t + 30), error(1, t + 40)):
        record, events = made
        store.add_attempt(record, events, events[0].t_start, events[-1].t_end)
    return store


def open_export_store(run_dir: Path) -> RunStore:
    return RunStore.in_dir(run_dir, redactor=Redactor([SECRET]))
