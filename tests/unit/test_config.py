from pathlib import Path

import pytest

from agentbench.config.loader import ConfigError, apply_override, dump_config, load_experiment, parse_override

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_demo_experiment_loads():
    cfg = load_experiment(ROOT / "experiments" / "demo.yaml")
    assert cfg.model.provider == "embedded"
    assert cfg.suite.name == "gaia-mini"
    assert cfg.graph == "planning"


def test_defaults_without_file():
    cfg = load_experiment(None)
    assert cfg.model.provider == "embedded" and cfg.run.concurrency >= 1


def test_overrides_are_typed_and_dotted(tmp_path):
    path = write(tmp_path, "name: x\nmodel:\n  temperature: 0.0\n")
    cfg = load_experiment(path, ["model.temperature=0.7", "run.epochs=3", "suite.ids=[a, b]", "graph=react"])
    assert cfg.model.temperature == 0.7
    assert cfg.run.epochs == 3
    assert cfg.suite.ids == ["a", "b"]
    assert cfg.graph == "react"


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, "model:\n  temprature: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert str(path) in str(err.value) and "model.temprature" in str(err.value) and "unknown key" in str(err.value)


def test_ill_typed_key_names_file_and_key(tmp_path):
    path = write(tmp_path, "run:\n  concurrency: lots\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert str(path) in str(err.value) and "run.concurrency" in str(err.value)


def test_api_key_in_file_is_refused_with_hint(tmp_path):
    path = write(tmp_path, "model:\n  api_key: sk-live-123\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert "model.api_key" in str(err.value) and "api_key_env" in str(err.value)


def test_bad_override_names_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_experiment(None, ["limits.max_stepz=3"])
    assert "limits.max_stepz" in str(err.value) and "--set" in str(err.value)
    with pytest.raises(ConfigError):
        parse_override("no-equals-sign")


def test_not_a_mapping_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="mapping"):
        load_experiment(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_experiment(write(tmp_path, "model: [unclosed\n"))
    with pytest.raises(ConfigError, match="no such experiment file"):
        load_experiment(tmp_path / "missing.yaml")


def test_apply_override_does_not_mutate_and_rejects_scalar_parent():
    data = {"model": {"name": "a"}}
    out = apply_override(data, ["model", "name"], "b")
    assert data["model"]["name"] == "a" and out["model"]["name"] == "b"
    with pytest.raises(ConfigError, match="not a section"):
        apply_override({"graph": "x"}, ["graph", "sub"], 1)


def test_dump_round_trips(tmp_path):
    cfg = load_experiment(ROOT / "experiments" / "demo.yaml", ["model.temperature=0.3"])
    again = load_experiment(write(tmp_path, dump_config(cfg)))
    assert again == cfg


def test_plain_string_fields_take_override_text_verbatim():
    cfg = load_experiment(None, ["graph=null", "model.name=123", "model.base_url=null"])
    assert cfg.graph == "null" and cfg.model.name == "123" and cfg.model.base_url is None


def test_api_key_env_must_be_a_variable_name_and_no_inline_key():
    with pytest.raises(ConfigError, match="model.api_key_env"):
        load_experiment(None, ["model.api_key_env=sk-live-123"])
    with pytest.raises(ConfigError, match="api_key_env"):
        load_experiment(None, ["model.server.extra_args=[--api-key, sk-live-123]"])
    assert load_experiment(None, ["model.api_key_env=MY_KEY"]).model.api_key_env == "MY_KEY"


def test_a_config_stored_before_new_sections_resumes_with_their_defaults():
    import copy

    from agentbench.runner.runner import with_defaults

    full = load_experiment(ROOT / "experiments" / "demo.yaml").model_dump(mode="json")
    old = copy.deepcopy(full)
    old.pop("tracing")
    del old["run"]["executor"], old["run"]["ray"]
    assert with_defaults(old) == full
    assert with_defaults({**full, "unknown_section": {}}) is None  # not a config today's schema reads


def test_every_example_experiment_loads():
    files = sorted((ROOT / "experiments").glob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        load_experiment(path)  # raises ConfigError naming the file and field
