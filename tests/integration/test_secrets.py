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
import hashlib
import http.server
import secrets
import shutil
import sqlite3
import threading
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


# -- the terminal, the server's log, graph_params (issue 22): one redaction pass on every output ---------------
# Small runs through the CLI, no model server: a config error, a fake endpoint that refuses the key (401), a
# graph that uses a graph_params secret, a "model server" that prints its secrets and dies.

def quick_run(out: Path, *sets: str, env: dict[str, str] | None = None):
    args = ["run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet",
            "--set", "sandbox.backend=local", "--set", "suite.ids=[gm-l1-001]", *(a for s in sets for a in ("--set", s))]
    return run_cli(*args, env=env, check=False, timeout=300)


def test_a_config_error_does_not_echo_a_set_secret(tmp_path):
    secret = "hf_secret123"
    proc = quick_run(tmp_path / "run", f"model.server.env.HF_TOKEN={secret}", "run.epochs=zero")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "run.epochs" in proc.stderr and "model.server.env.HF_TOKEN=***" in proc.stderr  # it was quoted
    assert secret not in proc.stdout + proc.stderr


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A fake OpenAI endpoint that refuses every key (401), keeping each request's Authorization header."""

    seen: list[str | None] = []

    def _refuse(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        body = b'{"error": {"message": "invalid key", "type": "invalid_request_error"}}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _refuse

    def log_message(self, *args) -> None:
        pass


def test_a_refused_key_names_the_url_without_userinfo_and_writes_no_password(tmp_path):
    password = f"pw{secrets.token_hex(12)}"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    _Refusing.seen = []
    try:
        proc = quick_run(tmp_path / "run", "graph=tests/integration/graphs/one_shot.py", "model.provider=openai",
                         f"model.base_url=http://alice:{password}@127.0.0.1:{port}/v1", "model.name=x",
                         "model.retries=0")
    finally:
        server.shutdown()
        server.server_close()
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert f"the model endpoint http://127.0.0.1:{port}/v1 refused the request (HTTP 401" in " ".join(output.split())
    assert password not in output and "alice" not in output
    basic = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
    assert basic in _Refusing.seen  # the control: the password really was sent
    assert leaks(tmp_path / "run", [password]) == []


SECRET_GRAPH = '''"""Uses graph_params.api_token: checks it got the real value, runs a command with it, answers 10."""
import hashlib
from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    messages: list
    answer: str | None


def build_graph(ctx):
    async def work(state: State) -> dict:
        token = ctx.params["api_token"]
        if hashlib.sha256(token.encode()).hexdigest() != "{digest}":
            raise ValueError("graph_params.api_token is not the value the experiment gave")
        result = await ctx.tools.bash(f"echo using {{token}}")
        assert result.exit_code == 0 and token in result.stdout
        return {{"answer": "10"}}

    graph = StateGraph(State)
    graph.add_node("work", work)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile()


build_graph.uses_model = False
'''


def test_a_graph_params_secret_reaches_the_graph_and_nothing_it_writes(tmp_path):
    token, password = f"tok{secrets.token_hex(12)}", f"pw{secrets.token_hex(12)}"
    graph = tmp_path / "secret_graph.py"
    graph.write_text(SECRET_GRAPH.format(digest=hashlib.sha256(token.encode()).hexdigest()))
    proc = quick_run(tmp_path / "run", f"graph={graph}", f"graph_params={{api_token: {token}, password: {password}}}")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    run = tmp_path / "run"
    db = sqlite3.connect(run / "run.sqlite")
    try:
        (status,) = db.execute("SELECT status FROM attempt").fetchone()
        commands = [p for (p,) in db.execute("SELECT payload FROM event WHERE type = 'sandbox_exec'")]
    finally:
        db.close()
    assert status == "solved"  # the graph got the real value (else it raises: failed)
    assert any("echo using ***" in p for p in commands), commands  # the control: it used it, masked
    assert {"config.yaml", "run.sqlite", "report.html", "summary.json"} <= {p.name for p in run.iterdir()}
    assert "api_token: '***'" in (run / "config.yaml").read_text()
    assert leaks(run, [token, password]) == [] and token not in output and password not in output


FAKE_VLLM = """#!/bin/sh
echo "fake vllm: $*"
echo "token in the environment: $HF_TOKEN, custom: $CUSTOM_SETTING" >&2
exit 3
"""


def test_a_failed_server_start_prints_no_secret_and_its_log_keeps_none(tmp_path):
    hf, custom, flag = (f"s{secrets.token_hex(12)}" for _ in range(3))
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_VLLM)
    fake.chmod(0o755)
    proc = quick_run(tmp_path / "run", "graph=tests/integration/graphs/one_shot.py", "model.provider=vllm",
                     f"model.server.python={fake}", f"model.server.model_path={tmp_path}",
                     f"model.server.env={{HF_TOKEN: {hf}, CUSTOM_SETTING: {custom}}}",
                     f"model.server.extra_args=[--hf-token, {flag}]", "model.server.startup_timeout_s=60")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "model server exited with code 3 during start-up" in output
    log = (tmp_path / "run" / "server.log").read_text()
    assert "token in the environment: ***, custom: ***" in log and "--hf-token ***" in log  # it printed them
    assert "fake vllm: -m vllm.entrypoints.openai.api_server" in log
    assert [s for s in (hf, custom, flag) if s in output] == []
    assert leaks(tmp_path / "run", [hf, custom, flag]) == []
