"""No secret reaches a file a run writes.

Two real runs through the CLI (our planning agent on 2 gaia-mini tasks, the local sandbox) against an
OpenAI-compatible stub on loopback, then `agentbench compare` of the two. Each run has its own random key
in each place a secret can come from: (a) the environment variable named by `model.api_key_env`, (b)
`model.server.env`, (c) `model.server.extra_args` (`--hf-token KEY`: the schema refuses `--api-key`
outright), and in run B (d) the userinfo of `model.base_url`. The stub also says every key back in its
replies, so they flow through the traces, the answers and the report. Then every file of both run folders
and the compare output is read as bytes (run.sqlite, its -wal and -shm included) and every table of each
store is dumped: no key may appear anywhere.

Controls, so that the test can fail: the stub received run A's key as its Bearer token and run B's URL
password as Basic auth (the secrets really were used), the keys were in the replies it sent, and the
scanner finds a key planted into a copy of a store.
"""

from __future__ import annotations

import base64
import asyncio
import secrets
import shutil
import sqlite3
from pathlib import Path

import pytest

from agentbench.testing.http1 import read_request
from agentbench.testing.openai_stub import OpenAIStub, ThreadedStub

from .conftest import ROOT, run_cli


ENV_VAR = "AGENTBENCH_TEST_SECRET_KEY"
SOURCES = ("env", "server_env", "extra_args", "url")


class RecordingStub(OpenAIStub):
    """The stub, also keeping every request's headers."""

    def __init__(self, reply) -> None:
        super().__init__(reply=reply)
        self.headers: list[dict[str, str]] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                req = await read_request(reader)
                self.headers.append(req.headers)
                await self._respond(writer, req.method, req.path, req.body)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def new_keys(sources: tuple[str, ...] = SOURCES) -> dict[str, str]:
    return {source: f"ab{secrets.token_hex(16)}" for source in sources}


def telling_reply(keys: dict[str, str]):
    text = (f"The key is {keys['env']}, the server token {keys['server_env']}, the flag value "
            f"{keys['extra_args']}, the password {keys.get('url', '(none)')}.\nFINAL ANSWER: {keys['env']}")
    return lambda messages: text


def run(out: Path, keys: dict[str, str], with_userinfo: bool) -> tuple[RecordingStub, str]:
    with ThreadedStub(RecordingStub(telling_reply(keys))) as stub:
        base_url = (f"http://user:{keys['url']}@127.0.0.1:{stub.port}/v1" if with_userinfo else stub.base_url)
        proc = run_cli(
            "run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet",
            "--set", "graph=planning", "--set", "graph_params={plan: false}", "--set", "model.provider=openai",
            "--set", f"model.base_url={base_url}", "--set", "model.name=stub", "--set", f"model.api_key_env={ENV_VAR}",
            "--set", f"model.server.env={{HF_TOKEN: {keys['server_env']}, VLLM_LOGGING_LEVEL: DEBUG}}",
            "--set", f"model.server.extra_args=[--hf-token, {keys['extra_args']}, --max-model-len, '4096']",
            "--set", "model.retries=1", "--set", "suite.limit=2", "--set", "limits.max_steps=3",
            "--set", "run.concurrency=2", "--set", "sandbox.backend=local",
            env={ENV_VAR: keys["env"]})
    return stub, proc.stdout + proc.stderr


def leaks(folder: Path, needles: list[str]) -> list[str]:
    """Where any needle shows up under `folder`: in any file's bytes, or in any row of a SQLite store."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path}: {n}" for n in needles if n.encode() in data]
        if path.name.endswith(".sqlite"):
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                assert {"run", "attempt", "event"} <= set(tables)
                dump = repr([(t, db.execute(f"SELECT * FROM {t}").fetchall()) for t in tables])
            finally:
                db.close()
            found += [f"{path} (rows): {n}" for n in needles if n in dump]
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("secrets")
    keys_a, keys_b = new_keys(SOURCES[:3]), new_keys()  # run A without userinfo: its Bearer token gets through
    stub_a, log_a = run(root / "a", keys_a, with_userinfo=False)
    stub_b, log_b = run(root / "b", keys_b, with_userinfo=True)
    compare_out = root / "compare-out" / "cmp.json"
    compare_out.parent.mkdir()
    proc = run_cli("compare", str(root / "a"), str(root / "b"), "--json", str(compare_out),
                   env={ENV_VAR: keys_b["env"]})
    return {"root": root, "keys": [*keys_a.values(), *keys_b.values()], "keys_a": keys_a, "keys_b": keys_b,
            "stubs": (stub_a, stub_b), "output": log_a + log_b + proc.stdout + proc.stderr}


def test_the_secrets_were_really_used(runs):
    """The control: the runs did send their keys, and the stub said them all back."""
    stub_a, stub_b = runs["stubs"]
    assert stub_a.requests >= 2 and stub_b.requests >= 2
    chat_a = [h for h in stub_a.headers if "authorization" in h]
    assert chat_a and all(h["authorization"] == f"Bearer {runs['keys_a']['env']}" for h in chat_a)
    basic = {h.get("authorization") for h in stub_b.headers} - {None}
    userinfo = f"user:{runs['keys_b']['url']}"
    assert basic == {"Basic " + base64.b64encode(userinfo.encode()).decode()}  # httpx: URL userinfo wins
    assert all(k in telling_reply(runs["keys_a"])([]) for k in runs["keys_a"].values())


def test_the_runs_are_real_and_complete(runs):
    for name in ("a", "b"):
        folder = runs["root"] / name
        assert {"config.yaml", "run.sqlite", "summary.json", "report.html"} <= {p.name for p in folder.iterdir()}
        db = sqlite3.connect(folder / "run.sqlite")
        try:
            statuses = [s for (s,) in db.execute("SELECT status FROM attempt")]
            events = db.execute("SELECT COUNT(*) FROM event WHERE type = 'model_call'").fetchone()[0]
            replies = db.execute("SELECT COUNT(*) FROM event WHERE payload LIKE '%the server token ***%'").fetchone()[0]
        finally:
            db.close()
        assert len(statuses) == 2 and "error" not in statuses and events >= 2 and replies >= 1
    assert (runs["root"] / "a" / "compare.json").is_file() and (runs["root"] / "compare-out" / "cmp.json").is_file()


def test_no_key_in_any_file_written(runs):
    assert leaks(runs["root"], runs["keys"]) == []


def test_no_key_in_what_the_commands_print(runs):
    assert [k for k in runs["keys"] if k in runs["output"]] == []


def test_the_scanner_sees_a_planted_key(runs, tmp_path):
    """The other control: a key written into a copy of a store is found, in the bytes and in the rows."""
    copy = tmp_path / "copy"
    shutil.copytree(runs["root"] / "a", copy)
    planted = runs["keys_a"]["server_env"]
    db = sqlite3.connect(copy / "run.sqlite")
    db.execute("INSERT INTO run(key, value) VALUES ('planted', ?)", (f'"{planted}"',))
    db.commit()
    db.close()
    assert any("(rows)" in hit for hit in leaks(copy, [planted]))
    assert leaks(copy, [planted])
