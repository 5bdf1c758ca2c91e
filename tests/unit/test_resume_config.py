"""`--resume` with an experiment: that it is the stored config is checked once, by the Runner (not again by
the CLI), which names the keys that differ and reads a config stored before a section existed with that
section's defaults."""

from __future__ import annotations

from typer.testing import CliRunner

from agentbench.cli import app
from agentbench.config.loader import load_experiment
from agentbench.runner.runner import Runner
from agentbench.store import RunStore

EXPERIMENT = "graph: oracle\nsuite: {name: gaia-mini, limit: 1}\nsandbox: {backend: local}\n"


def started(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT)
    run_dir = tmp_path / "run"
    Runner(load_experiment(path), run_dir).prepare()[2].close()  # what the first run stores before attempts
    return path, run_dir


def test_a_changed_experiment_is_refused_by_the_runner_naming_the_key(tmp_path):
    path, run_dir = started(tmp_path)
    result = CliRunner().invoke(app, ["run", str(path), "--resume", str(run_dir), "--set", "suite.limit=2"],
                                env={"COLUMNS": "400"})
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "differs from the stored config" in text, result.output
    assert "suite.limit: 1 (stored) → 2" in text and "Traceback" not in text


def test_a_config_stored_before_a_section_existed_resumes_with_the_same_experiment(tmp_path):
    path, run_dir = started(tmp_path)
    store = RunStore.in_dir(run_dir)
    stored = store.meta("config")
    store.set_meta("config", {key: value for key, value in stored.items() if key != "tracing"})  # an older run
    store.close()
    tasks, _, store = Runner(load_experiment(path), run_dir).prepare()
    assert store.meta("config") == stored and len(tasks) == 1  # the section's defaults, written back
    store.close()
