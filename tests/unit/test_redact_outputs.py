"""No secret on any output (issue 22, item 3): the one redaction pass (agentbench.redact) as the terminal,
the managed server's log and the messages naming an endpoint use it.

- URLs in messages lose their userinfo (`public_url`); a refused key names the endpoint without it;
- graph_params values under secret-looking keys are secrets of the run (masked in the config as written and
  searched for in everything else), and a stored config that masked one cannot be resumed from alone;
- the terminal's Redactor knows `--set` secrets (even of overrides the config check refuses), the values of
  environment variables with secret-looking names, and the shapes (`HF_TOKEN=…`, `Bearer …`, userinfo);
  the consoles mask before rich lays a line out (a wrapped line cannot split a secret) and as they write;
- the managed server's output reaches server.log through a Redactor, line by line as it comes (a secret
  split across two pipe reads included), and its start failure messages quote only that log.

The CLI end to end (subprocesses, a fake 401 endpoint, a graph that uses a secret) is in
tests/integration/test_secrets.py.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import secrets
import sys
import threading
import time

import httpx
import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentbench import cli_common
from agentbench.cli_common import (RedactingConsole, TerminalRedaction, input_secrets, redacting_log_handler,
                                   set_values)
from agentbench.config.loader import dump_config
from agentbench.config.schema import ExperimentConfig
from agentbench.models.client import RetryInfo, RetryPolicy, RetryTransport
from agentbench.models.endpoint import auth_message
from agentbench.models.server import MAX_LINE, ManagedServer, RedactedLog, ServerSpec, ServerStartError, spec_redactor
from agentbench.redact import (MASK, Redactor, config_secrets, environ_secrets, keyed_secrets, masked_fields,
                               public_url)


def key(prefix: str = "") -> str:
    return prefix + secrets.token_hex(12)


# -- URLs ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, shown", [
    ("http://user:pw@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
    ("https://tok3n@api.example.com/v1/models", "https://api.example.com/v1/models"),
    ("GET http://a:b@h/x failed; mail bob@example.com", "GET http://h/x failed; mail bob@example.com"),
    ("http://host/path@not-userinfo", "http://host/path@not-userinfo"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
])
def test_public_url_drops_the_userinfo(text, shown):
    assert public_url(text) == shown


def test_a_refused_key_names_the_endpoint_without_its_userinfo():
    password = key()
    message = auth_message(f"http://alice:{password}@127.0.0.1:9/v1", None, "HTTP 401")
    assert "http://127.0.0.1:9/v1 refused the request (HTTP 401)" in message
    assert password not in message and "alice" not in message


async def test_retry_reports_name_the_url_without_userinfo():
    """Fault injection: the endpoint answers 503 once, then 200; the retry report names the URL."""
    password, seen = key(), []
    answers = iter([503, 200])
    transport = RetryTransport(RetryPolicy(retries=2, backoff_initial_s=0.001, backoff_max_s=0.001),
                               inner=httpx.MockTransport(lambda request: httpx.Response(next(answers))),
                               on_retry=seen.append)
    async with httpx.AsyncClient(transport=transport) as client:
        resp = await client.get(f"http://bob:{password}@127.0.0.1:9/v1/models")
    assert resp.status_code == 200
    assert [(i.url, i.reason) for i in seen] == [("http://127.0.0.1:9/v1/models", "HTTP 503")]
    assert isinstance(seen[0], RetryInfo)


# -- graph_params secrets ------------------------------------------------------------------------------------
def test_values_under_secret_looking_keys_are_secrets_of_the_run():
    token, password, nested = key(), key(), key()
    cfg = ExperimentConfig.model_validate({"graph_params": {
        "api_token": token, "password": password, "service": {"client_secret": nested, "retries": 3},
        "max_tokens": 512, "tokenizer": "gpt2-tokenizer", "use_tokens": True, "pin": 12345678}})
    found = config_secrets(cfg.model_dump(mode="json"), environ={})
    assert {token, password, nested} <= found
    assert not {"512", "gpt2-tokenizer", "True", "3"} & found
    r = Redactor.from_config(cfg, environ={})
    assert r.text(f"curl -H 'X: {token}' -u me:{password} # {nested}") == "curl -H 'X: ***' -u me:*** # ***"
    assert r.dumps({"command": f"echo {token}"}) == '{"command": "echo ***"}'


def test_the_config_as_written_masks_them_numbers_too_and_the_graph_keeps_them():
    token = key()
    cfg = ExperimentConfig.model_validate({"graph_params": {"api_token": token, "password": 12345678,
                                                            "k": 3, "items": [{"token": token}]}})
    written = Redactor.from_config(cfg, environ={}).config(cfg)
    assert written["graph_params"] == {"api_token": MASK, "password": MASK, "k": 3, "items": [{"token": MASK}]}
    assert token not in dump_config(cfg) and "12345678" not in dump_config(cfg)
    assert cfg.graph_params["api_token"] == token and cfg.graph_params["password"] == 12345678  # the graph's


def test_a_stored_config_with_a_masked_graph_param_cannot_be_resumed_from_alone():
    stored = {"graph_params": {"api_token": MASK, "plan": True, "nested": {"password": MASK}}, "model": {}}
    assert sorted(masked_fields(stored)) == ["graph_params.api_token", "graph_params.nested.password"]
    assert masked_fields({"graph_params": {"api_token": "real-value-123", "note": MASK}}) == []


def test_the_walk_of_a_hostile_document_is_bounded():
    shared: list = [{"password": "x" * 8}]
    for _ in range(40):  # 2**40 paths through 40 shared lists: a walk without a budget never ends
        shared = [shared, shared]
    started = time.perf_counter()
    keyed_secrets({"graph_params": shared}, budget=10_000)
    assert time.perf_counter() - started < 1.0


# -- the terminal's secrets ------------------------------------------------------------------------------------
def test_the_shape_of_a_secret_assignment_is_masked_whatever_its_source():
    r = Redactor()
    assert r.text("--set model.server.env.HF_TOKEN=hf_secret123") == "--set model.server.env.HF_TOKEN=***"
    assert r.text("GITHUB_TOKEN: ghx0123456789abcdef") == "GITHUB_TOKEN: ***"
    assert r.text("max_tokens=512 --max-num-batched-tokens=8192 next_token=abc") == \
        "max_tokens=512 --max-num-batched-tokens=8192 next_token=abc"


def test_environment_variables_with_secret_looking_names():
    env = {"HF_TOKEN": "h-1", "OPENAI_API_KEY": "o-2", "DB_PASSWORD": "p-3", "AWS_SECRET_ACCESS_KEY": "a-4",
           "HOME": "/home/me", "MAX_TOKENS": "512", "TOKENIZERS_PARALLELISM": "false", "EMPTY_TOKEN": ""}
    assert environ_secrets(env) == {"h-1", "o-2", "p-3", "a-4"}


def test_set_values_reads_both_spellings():
    assert set_values(["run", "x.yaml", "--set", "a=1", "--set=b=2", "--quiet", "--set"]) == ["a=1", "b=2"]


def test_input_secrets_reads_the_file_and_overrides_before_validation(tmp_path):
    file_key, env_key, param_key, url_pw, raw_key = (key() for _ in range(5))
    experiment = tmp_path / "e.yaml"
    experiment.write_text(f"run: {{epochs: zero}}\ngraph_params: {{password: {file_key}}}\n")
    found = input_secrets(experiment, [
        f"model.server.env.HF_TOKEN={env_key}", f"graph_params.api_token={param_key}",
        f"model.base_url=http://u:{url_pw}@h/v1", f"graph_params.client_secret=[{raw_key}",  # not YAML
        "model.temperature=0.2"])
    assert {file_key, env_key, param_key, url_pw, raw_key} <= found
    assert "0.2" not in found
    assert input_secrets(tmp_path / "missing.yaml", ["a.b.c", "x=[oops"]) == set()


def test_the_terminal_knows_the_command_lines_secrets_from_the_first_message():
    secret = key("hf_")
    terminal = TerminalRedaction(argv=["run", "e.yaml", "--set", f"model.server.env.HF_TOKEN={secret[:12]}"],
                                 environ={"MY_SERVICE_TOKEN": secret})
    assert terminal.text(f"a {secret} b {secret[:12]}") == "a *** b ***"
    later = key()
    terminal.learn([later])
    assert terminal.text(f"{later} {secret}") == "*** ***"


@pytest.fixture
def terminal(monkeypatch):
    """cli_common's terminal, knowing one fresh secret (restored after)."""
    fresh = TerminalRedaction(argv=[], environ={})
    monkeypatch.setattr(cli_common, "terminal", fresh)
    secret = key("pw")
    fresh.learn([secret])
    return secret


def test_a_wrapped_message_cannot_split_a_secret(terminal):
    console = RedactingConsole(file=io.StringIO(), width=16, force_terminal=False)
    console.print(f"[bold red]error:[/] the endpoint refused the key {terminal} at http://u:{terminal}@h/v1")
    console.print(Text(f"plain {terminal}"), markup=False)
    out = console.file.getvalue()
    assert MASK in out and "plain ***" in out
    flat = out.replace("\n", "")
    assert terminal not in flat and terminal[:8] not in flat  # not even a piece of it, at a line's end

    plain = Console(file=io.StringIO(), width=16, force_terminal=False)  # the control: rich splits it
    plain.print(f"[bold red]error:[/] the endpoint refused the key {terminal}")
    assert terminal not in plain.file.getvalue() and terminal in plain.file.getvalue().replace("\n", "")


def test_what_a_renderable_writes_is_masked_too(terminal):
    console = RedactingConsole(file=io.StringIO(), width=200, force_terminal=False)
    table = Table("task", "error")
    table.add_row("t1", f"401 with Bearer abcdefghijkl0123 and {terminal}")
    console.print(table)
    out = console.file.getvalue()
    assert "Bearer ***" in out and MASK in out and terminal not in out


def test_fail_prints_a_masked_message_and_exits_2(terminal, capsys):
    import typer

    with pytest.raises(typer.Exit) as exit_:
        cli_common.fail(ValueError(f"--set model.server.env.HF_TOKEN={terminal}: [not] valid"))
    assert exit_.value.exit_code == 2
    err = capsys.readouterr().err
    assert "HF_TOKEN=***: [not] valid" in err and terminal not in err


def test_log_records_are_masked(terminal):
    stream = io.StringIO()
    handler = redacting_log_handler()
    handler.setStream(stream)
    log = logging.getLogger("test_redact_outputs")
    log.addHandler(handler)
    try:
        log.warning("POST http://u:%s@h/v1 failed", terminal)
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == "POST http://***@h/v1 failed\n"


# -- the managed server's log ------------------------------------------------------------------------------
def test_the_log_pump_masks_a_secret_split_across_two_reads(tmp_path):
    secret = key()
    log = RedactedLog(tmp_path / "server.log", Redactor([secret]))
    log.write(f"$ serve --hf-token {secret}\n")
    writer = log.write_fd
    log.write_fd = os.dup(writer)  # start() closes our copy; this test writes through the original
    log.start()
    os.write(writer, f"INFO first {secret[:10]}".encode())
    time.sleep(0.2)  # the pump has read the first piece
    os.write(writer, f"{secret[10:]} rest\nno newline at the end {secret}".encode())
    os.close(writer)
    log.drain(5.0)
    text = (tmp_path / "server.log").read_text()
    assert text == "$ serve --hf-token ***\nINFO first *** rest\nno newline at the end ***"


def test_a_line_longer_than_the_limit_is_written_in_pieces(tmp_path):
    log = RedactedLog(tmp_path / "server.log", Redactor())
    writer = log.write_fd
    log.write_fd = os.dup(writer)
    log.start()
    os.write(writer, b"x" * (MAX_LINE + 10))  # no newline: not held back whole
    deadline = time.monotonic() + 5
    while (tmp_path / "server.log").stat().st_size < MAX_LINE and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "server.log").stat().st_size >= MAX_LINE  # written while the writer is still open
    os.close(writer)
    log.drain(5.0)
    assert (tmp_path / "server.log").stat().st_size == MAX_LINE + 10


FAKE_SERVER = """
import os, sys
print("argv:", " ".join(sys.argv[1:]), flush=True)
print("env token", os.environ["HF_TOKEN"], "other", os.environ["SERVICE_CRED"], file=sys.stderr, flush=True)
print("auth: Bearer", os.environ["SERVICE_CRED"], flush=True)
sys.exit(3)
"""


def test_a_failed_start_quotes_a_masked_log(tmp_path):
    hf, cred, arg, run_secret = key("hf_"), key(), key(), key()
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER + f"# {run_secret}\n")
    spec = ServerSpec(argv=[sys.executable, str(script), "--port", "{port}", "--hf-token", arg, "--note", run_secret],
                      env={"HF_TOKEN": hf, "SERVICE_CRED": cred}, secret_env=["SERVICE_CRED"], startup_timeout_s=30)
    server = ManagedServer(spec, tmp_path / "server.log", Redactor([run_secret]))
    with pytest.raises(ServerStartError) as exc:
        asyncio.run(server.start())
    message, log = str(exc.value), (tmp_path / "server.log").read_text()
    assert "exited with code 3" in message
    for text in (message, log):
        assert not [s for s in (hf, cred, arg, run_secret) if s in text], text
        assert "--hf-token ***" in text and "env token *** other ***" in text and "Bearer ***" in text
    assert log.startswith("$ ") and log.count("argv:") == 1


def test_spec_redactor_knows_named_and_secret_looking_variables_and_flags():
    values = [key() for _ in range(4)]
    spec = ServerSpec(argv=["vllm", "--api-key", values[0], "--model", "/models/m"],
                      env={"VLLM_API_KEY": values[1], "CUSTOM": values[2], "PLAIN": values[3], "TMPDIR": "/tmp/x"},
                      secret_env=["CUSTOM"])
    assert spec_redactor(spec).secrets == frozenset(values[:3])


async def test_a_running_server_log_streams_and_masks(tmp_path):
    """A healthy server writes its log as it runs, masked; stop() lets the pump finish."""
    secret = key()
    script = tmp_path / "serve.py"
    script.write_text(
        "import http.server, os, sys\n"
        "print('starting with', os.environ['API_TOKEN'], flush=True)\n"
        "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)"
        ".serve_forever()\n")
    pumps = lambda: {t for t in threading.enumerate() if t.name.startswith("log server.log")}  # noqa: E731
    before = pumps()  # another server's pump (a session's shared server) is not this one's
    spec = ServerSpec(argv=[sys.executable, str(script), "{port}"], env={"API_TOKEN": secret}, health_path="/",
                      startup_timeout_s=30, stop_timeout_s=5)
    async with ManagedServer(spec, tmp_path / "server.log") as server:
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.root_url + "/")).status_code == 200
        deadline = time.monotonic() + 5
        while "starting with" not in (tmp_path / "server.log").read_text() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert "starting with ***" in (tmp_path / "server.log").read_text()
    log = (tmp_path / "server.log").read_text()
    assert secret not in log and '"GET / HTTP/1.1" 200' in log
    deadline = time.monotonic() + 30  # the pump ends once the pipe shuts (slow on a loaded machine)
    while pumps() - before and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not pumps() - before

