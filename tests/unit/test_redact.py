"""The one redaction pass (agentbench.redact): each source of a secret, the credential shapes, nested
values and JSON, idempotence, no masking of ordinary text, and the writers that use it (store, config)."""

from __future__ import annotations

import json
import secrets
import sqlite3
from importlib import resources

import pytest
import yaml

from agentbench.config.loader import dump_config, load_experiment
from agentbench.config.schema import ExperimentConfig, auto_concurrency
from agentbench.events import ModelCall, ToolCall
from agentbench.protocols import AttemptRecord
from agentbench.redact import MASK, Redactor, config_secrets, masked_fields, secret_fields
from agentbench.store import RunStore


def key(prefix: str = "") -> str:
    return prefix + secrets.token_hex(12)


def config_dict(**model) -> dict:
    return ExperimentConfig.model_validate({"model": model}).model_dump(mode="json")


# -- sources ---------------------------------------------------------------------------------------------
def test_the_schema_marks_the_secret_fields():
    assert dict(secret_fields()) == {("model", "base_url"): "url", ("model", "api_key_env"): "env",
                                     ("model", "server", "extra_args"): "args", ("model", "server", "env"): "values",
                                     ("tracing", "otlp_endpoint"): "url"}


def test_each_source_of_the_config_is_a_secret():
    k_env, k_server, k_arg, k_arg_eq, k_url = (key() for _ in range(5))
    cfg = config_dict(api_key_env="AB_KEY", base_url=f"http://user:{k_url}@127.0.0.1:8000/v1",
                      server={"env": {"HF_TOKEN": k_server, "CUDA_VISIBLE_DEVICES": "0"},
                              "extra_args": ["--hf-token", k_arg, f"--ssl-keyfile-password={k_arg_eq}",
                                             "--max-num-batched-tokens", "8192", "--tokenizer", "some/tokenizer"]})
    found = config_secrets(cfg, environ={"AB_KEY": k_env})
    assert {k_env, k_server, k_arg, k_arg_eq, k_url, f"user:{k_url}"} <= found
    assert not {"8192", "some/tokenizer", "user", "AB_KEY"} & found
    r = Redactor.from_config(cfg, environ={"AB_KEY": k_env})
    text = f"a={k_env} b={k_server} c={k_arg} d={k_arg_eq} e={k_url}"
    assert r.text(text) == "a=*** b=*** c=*** d=*** e=***"


def test_api_key_flags_in_both_forms_even_where_the_schema_refuses_them():
    k1, k2 = key(), key()
    cfg = {"model": {"server": {"extra_args": ["--api-key", k1, f"--api-key={k2}", "--port", "8000"]}}}
    red = Redactor.from_config(cfg, environ={}).config(cfg)
    assert red["model"]["server"]["extra_args"] == ["--api-key", MASK, f"--api-key={MASK}", "--port", "8000"]


def test_the_config_as_written_masks_every_secret_field_and_still_validates():
    k = key()
    cfg = ExperimentConfig.model_validate({"model": {
        "provider": "openai", "base_url": f"https://me:{k}@api.example.com/v1", "api_key_env": "AB_KEY",
        "server": {"env": {"A": "0", "B": k}, "extra_args": ["--hf-token", k, "--max-model-len", "4096"]}}})
    r = Redactor.from_config(cfg, environ={"AB_KEY": key()})
    out = r.config(cfg)
    assert out["model"]["base_url"] == "https://***@api.example.com/v1"
    assert out["model"]["server"]["env"] == {"A": MASK, "B": MASK}  # every value, short ones too
    assert out["model"]["server"]["extra_args"] == ["--hf-token", MASK, "--max-model-len", "4096"]
    assert out["model"]["api_key_env"] == "AB_KEY" and out["run"] == cfg.run.model_dump(mode="json")
    assert ExperimentConfig.model_validate(out) and k not in json.dumps(out)
    assert r.config(out) == out  # idempotent
    assert masked_fields(out) == ["model.base_url", "model.server.extra_args", "model.server.env"]
    assert masked_fields(cfg.model_dump(mode="json")) == []
    assert cfg.model.server.env["B"] == k  # the runner's config keeps its secrets


def test_dump_config_writes_no_secret_and_reloads(tmp_path):
    k = key()
    cfg = load_experiment(None, [f"model.server.env={{HF_TOKEN: {k}}}", f"model.base_url=http://u:{k}@h:1/v1"])
    text = dump_config(cfg)
    assert k not in text and yaml.safe_load(text)["model"]["server"]["env"] == {"HF_TOKEN": MASK}
    (tmp_path / "c.yaml").write_text(text)
    assert load_experiment(tmp_path / "c.yaml").model.base_url == "http://***@h:1/v1"


def test_a_stored_config_adds_only_the_environment_key(monkeypatch):
    k = key()
    monkeypatch.setenv("AB_STORED_KEY", k)
    stored = Redactor().config(config_dict(api_key_env="AB_STORED_KEY", server={"env": {"X": key()}}))
    assert Redactor.from_config(stored).secrets == {k}


def test_short_and_numeric_values_are_masked_in_the_config_but_not_searched_for():
    r = Redactor.from_config({"model": {"server": {"env": {"A": "0", "B": "DEBUG", "C": "12345678"}}}})
    assert r.secrets == frozenset()
    assert r.text("0 DEBUG 12345678") == "0 DEBUG 12345678"


# -- patterns --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("secret, expected", [
    ("sk-" + "a1B2" * 12, "sk-***"),
    ("sk-proj-" + "Zx9_" * 10, "sk-***"),
    ("hf_" + "aB3" * 12, "hf_***"),
    ("ghp_" + "x7Y" * 12, "ghp_***"),
    ("github_pat_" + "11AB" * 12, "github_pat_***"),
    ("xoxb-1234567890-abcdef", "xoxb-***"),
    ("AKIAIOSFODNN7EXAMPLE", "***"),
    ("AIza" + "Sy9-" * 8 + "abc", "***"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "***"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x1", "Authorization: Bearer ***"),
    ("api_key=9f8e7d6c5b4a3f2e1d", "api_key=***"),
    ("OPENAI_API_KEY=9f8e7d6c5b4a3f2e1d", "OPENAI_API_KEY=***"),
    ("export API-KEY: 'A1b2C3d4E5f6G7h8'", "export API-KEY: '***'"),
    ("{'client_secret': 'q1w2e3r4t5y6u7i8'}", "{'client_secret': '***'}"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "aws_secret_access_key = ***"),
    ('{"api_key": "anything at all"}', '{"api_key": "***"}'),
    ('{"HF_TOKEN":"x", "token": "y", "Authorization": "Basic dXNlcjpwdw=="}',
     '{"HF_TOKEN":"***", "token": "***", "Authorization": "***"}'),
    ('{"password": "with \\"escaped\\" quotes"}', '{"password": "***"}'),
    ("postgres://admin:s3cr3t@db:5432/x and http://u:p@h/", "postgres://***@db:5432/x and http://***@h/"),
])
def test_credential_shapes(secret, expected):
    assert Redactor().text(secret) == expected


@pytest.mark.parametrize("text", [
    "keyboard monkey turkey keys", "a git sha 3f1c2b9e8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e and its short 3f1c2b9",
    '{"max_tokens": 512, "prompt_tokens": 10, "completion_tokens": 3, "api_key_env": "MY_KEY"}',
    '{"tokenizer": "hf-internal/llama", "tokens": "a b c", "keys": "x"}',
    "pip install scikit-learn; sk-learn-is-not-a-key-at-all", "Bearer tokens are described in RFC 6750",
    "client = OpenAI(api_key=api_key, base_url=settings.BASE_URL)", "password = request.POST['password']",
    "https://github.com/org/repo.git ssh://git@github.com/org/repo 2024-01-01T12:30:45Z",
    "550e8400-e29b-41d4-a716-446655440000", "The answer is 42. FINAL ANSWER: 42", "--max-num-batched-tokens 8192",
    "hf_hub_download(repo_id, filename)", "AKIA is a prefix", "token: 512", "ls -la && cat settings.ini",
])
def test_ordinary_text_is_left_alone(text):
    assert Redactor([key()]).text(text) == text


def test_the_report_assets_pass_through_unchanged():
    for name in ("report.js", "report.css"):
        asset = (resources.files("agentbench.report") / "html_assets" / name).read_text(encoding="utf-8")
        assert Redactor([key()]).text(asset) == asset, name


# -- values, JSON, idempotence ---------------------------------------------------------------------------
def test_nested_values_keys_and_lists():
    k = key()
    r = Redactor([k])
    value = {"a": [{"b": f"x {k} y", "api_key": "plain"}, (k, 3, None, 2.5)], k: {"HF_TOKEN": "t", "n": 1},
             "Authorization": ["not a string value stays a list"]}
    assert r.value(value) == {"a": [{"b": "x *** y", "api_key": MASK}, [MASK, 3, None, 2.5]],
                              MASK: {"HF_TOKEN": MASK, "n": 1}, "Authorization": ["not a string value stays a list"]}


def test_escaped_forms_of_a_secret_are_found():
    k = 'pa"ss\\wörd<&>' + secrets.token_hex(4)
    r = Redactor([k])
    for text in (json.dumps({"x": k}), json.dumps({"x": k}, ensure_ascii=False), f"<p>{__import__('html').escape(k)}</p>",
                 "https://h/?q=" + __import__("urllib.parse").parse.quote(k, safe="")):
        assert "wörd" not in r.text(text) and "w\\u00f6rd" not in r.text(text), text
    assert json.loads(r.json_text(json.dumps({"x": f"a {k} b"}))) == {"x": "a *** b"}


def test_json_stays_valid_when_a_replacement_would_break_it():
    r = Redactor(['5, "w"'])  # a secret that also reads as JSON syntax: {"v": 5, "w": 1}
    text = json.dumps({"v": 5, "w": 1, "s": 'x 5, "w" y'})
    out = r.json_text(text)
    assert json.loads(out) == {"v": 5, "w": 1, "s": "x *** y"}  # the walk: strings masked, the syntax intact
    assert json.loads(r.dumps({"v": 5, "w": 1}, indent=2)) == {"v": 5, "w": 1}


@pytest.mark.parametrize("text", [
    "sk-" + "a1" * 15, "Bearer abcdef1234567890", "api_key=abcdef1234567890", "http://a:b@c", '{"token": "x"}',
    "-----BEGIN PRIVATE KEY-----x-----END PRIVATE KEY-----", "hf_" + "a" * 34, "plain",
])
def test_idempotent(text):
    r = Redactor(["plain-secret-1", "a1a1a1a1"])
    once = r.text(text)
    assert r.text(once) == once and r.json_text(json.dumps(once)) == json.dumps(once)


def test_many_json_texts_at_once_are_each_redacted_as_alone():
    """The store's pass over an attempt's events (`json_texts`): one scan of them joined finds what a scan of
    each would, and then each is redacted alone (the JSON-breaking case included)."""
    k = key()
    r = Redactor([k, '5, "w"'])
    clean = [json.dumps({"content": t}) for t in ("plain", "Bearer tokens are in RFC 6750", "sk-learn", "")]
    assert r.json_texts(clean) is clean  # nothing found: the texts as they were
    shapes = [s for s, _ in test_credential_shapes.pytestmark[0].args[1]]
    for secret in [k, *shapes, 'x 5, "w" y']:
        for at in (0, 2, 4):
            texts = clean[:at] + [json.dumps({"v": 5, "w": 1, "s": f"a {secret} b"})] + clean[at:]
            assert r.json_texts(texts) == [r.json_text(t) for t in texts], (secret, at)
            assert r.json_texts(texts)[at] != texts[at]


def test_merge_unions_the_secrets():
    a, b = key(), key()
    assert Redactor([a]).merge(Redactor([b])).text(f"{a} {b}") == "*** ***"


# -- the store -------------------------------------------------------------------------------------------
def test_the_store_redacts_every_string_it_writes(tmp_path):
    k = key()
    store = RunStore.in_dir(tmp_path, redactor=Redactor([k]))
    store.set_meta("config", {"model": {"base_url": f"http://u:{k}@h/v1"}, "note": f"key {k}"})
    store.set_meta("model_identity", {"engine_args": ["--hf-token", k]})
    record = AttemptRecord(task_id="t1", epoch=0, status="error", answer=k, error=f"connect to http://u:{k}@h failed")
    events = [ModelCall(seq=0, t_start=0, t_end=1, node=f"n{k}", messages=[{"content": f"the key is {k}"}],
                        prompt_tokens=5),
              ToolCall(seq=1, t_start=1, t_end=2, output="sk-" + "Q1" * 15)]
    aid = store.add_attempt(record, events, 0.0, 2.0)
    back = store.attempts()[0]
    assert back.answer == MASK and back.error == "connect to http://***@h failed"
    got = list(store.events(aid))
    assert got[0].node == "n***" and got[0].messages == [{"content": "the key is ***"}] and got[0].prompt_tokens == 5
    assert got[1].output == "sk-***"
    assert store.meta("config")["note"] == "key ***" and store.meta("model_identity")["engine_args"][1] == MASK
    store.close()
    db = sqlite3.connect(tmp_path / "run.sqlite")
    rows = [r for t in ("run", "attempt", "event") for r in db.execute(f"SELECT * FROM {t}")]
    db.close()
    assert rows and k not in repr(rows)
    assert all(k.encode() not in p.read_bytes() for p in tmp_path.iterdir())


def test_a_store_opened_without_a_redactor_builds_one_from_its_config(tmp_path, monkeypatch):
    k = key()
    monkeypatch.setenv("AB_STORE_KEY", k)
    RunStore.in_dir(tmp_path, redactor=Redactor()).set_meta("config", config_dict(api_key_env="AB_STORE_KEY"))
    again = RunStore.in_dir(tmp_path)
    again.set_meta("note", f"x {k}")
    assert again.meta("note") == "x ***"


# -- run.concurrency: auto -------------------------------------------------------------------------------
def test_auto_concurrency_is_resolved_to_a_number():
    assert [auto_concurrency(n) for n in (0, 1, 2, 3, 4, 64)] == [2, 4, 8, 12, 16, 16]
    cfg = load_experiment(None, ["run.concurrency=auto"])
    assert cfg.run.concurrency == auto_concurrency() and cfg.model_dump(mode="json")["run"]["concurrency"] >= 2
    assert ExperimentConfig.model_validate(cfg.model_dump(mode="json")) == cfg
