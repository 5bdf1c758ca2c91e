"""User input that would write outside the run folder, and run text that rich would read as markup, through
the CLI as a user runs it: a path-unsafe task id or run name is refused at load with file, line and field;
`agentbench run` and `agentbench show` print model text containing `[/]` as written."""

from __future__ import annotations

import json

from agentbench.store import RunStore

from .conftest import ROOT, run_cli

DEMO = str(ROOT / "experiments" / "demo.yaml")
ORACLE = "graph=tests/integration/graphs/slow_oracle.py:build_graph"


def suite(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "suite.yaml").write_text("name: s\nformat: gaia\n")
    return folder


def row(task_id, answer="1"):
    return {"task_id": task_id, "Question": f"What is {task_id}?", "Level": 1, "Final answer": answer}


def test_a_path_unsafe_task_id_is_refused_at_load(tmp_path):
    folder = suite(tmp_path / "suite", [row("ok"), row("../../../tmp/escaped")])
    out = tmp_path / "run"
    proc = run_cli("run", DEMO, "--out", str(out), "--quiet", "--set", ORACLE, "--set", f"suite.name={folder}",
                   "--set", "sandbox.backend=local", check=False)
    message = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{folder / 'metadata.jsonl'}:2: field 'task_id':" in message and "'/'" in message
    assert not (out / "run.sqlite").exists()
    listed = run_cli("tasks", str(folder), check=False)
    assert listed.returncode == 2 and "task_id" in listed.stderr


def test_a_path_unsafe_run_name_is_a_config_error(tmp_path):
    proc = run_cli("run", DEMO, "--quiet", "--set", "name=../../outside", "--set", ORACLE, check=False)
    assert proc.returncode == 2 and "name:" in proc.stderr and "folder name" in proc.stderr
    assert "Traceback" not in proc.stderr and not (ROOT / "runs" / ".." / "..").resolve().joinpath("outside").exists()


def test_model_text_with_markup_prints_as_written_in_run_and_show(tmp_path):
    answer = "[/] [bold red]x[/bold red] [/INST]"
    folder = suite(tmp_path / "suite", [row("m-1", answer)])
    out = tmp_path / "run"
    ran = run_cli("run", DEMO, "--out", str(out), "--quiet", "--set", ORACLE, "--set", f"suite.name={folder}",
                  "--set", "sandbox.backend=local", "--set", "graph_params.sleep_s=0")
    assert "[/] [bold red]x[/bold" in ran.stdout  # the summary table (answer clipped at 40 characters)
    assert RunStore.in_dir(out).attempts()[0].answer == answer
    shown = run_cli("show", str(out), "m-1", "--full")
    assert answer in shown.stdout and "Traceback" not in shown.stderr
    missing = run_cli("show", str(out), "[/]nope", check=False)
    assert missing.returncode == 2 and "no attempt of '[/]nope'" in missing.stderr
