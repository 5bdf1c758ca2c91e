"""The GAIA loader, the suite registry and the task filters, on the bundled suite and on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentbench.protocols import Task
from agentbench.suites.errors import SuiteError
from agentbench.suites.filters import filter_tasks
from agentbench.suites.gaia import load_gaia
from agentbench.suites.loader import available_suites, load_suite, resolve_suite

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "tasks" / "gaia-mini"


def row(task_id: str = "t1", level: object = 1, answer: object = "42", file_name: str = "", **extra: object) -> dict:
    return {"task_id": task_id, "Question": f"Question of {task_id}?", "Level": level, "Final answer": answer,
            "file_name": file_name, **extra}


def write_suite(folder: Path, rows: list[dict | str], suite_yaml: str | None = "name: t\nformat: gaia\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    if suite_yaml is not None:
        (folder / "suite.yaml").write_text(suite_yaml)
    return folder


def error_of(folder: Path) -> str:
    with pytest.raises(SuiteError) as info:
        load_gaia(folder)
    return str(info.value)


# -- the bundled suite --------------------------------------------------------------------------------

def test_bundled_suite_loads_by_name():
    suite_dir, tasks = load_suite("gaia-mini")
    assert suite_dir == BUNDLED
    assert len(tasks) >= 20
    assert {t.metadata["level"] for t in tasks} == {1, 2, 3}
    with_files = [t for t in tasks if t.inputs.files]
    assert len(with_files) >= 17
    for t in tasks:
        assert t.kind == "qa" and t.expected.answer and t.sandbox.image == "python"
        assert t.metadata["file_name"] == (t.inputs.files[0].name if t.inputs.files else "")
    for t in with_files:
        (path,) = t.inputs.files
        assert path.is_file() and path.parent == BUNDLED
        assert f"The attached file `{path.name}` is in your working directory." in t.prompt
    assert len({t.prompt for t in tasks}) == len(tasks)  # prompts identify tasks (stub servers rely on it)


def test_bundled_suite_levels_and_ids_are_consistent():
    tasks = load_gaia(BUNDLED)
    for t in tasks:
        assert t.id.startswith(f"gm-l{t.metadata['level']}-")
    counts = {level: sum(t.metadata["level"] == level for t in tasks) for level in (1, 2, 3)}
    assert counts[1] >= 6 and counts[2] >= 6 and counts[3] >= 5


def test_happy_path_fields(tmp_path):
    suite = write_suite(tmp_path / "s", [row("a", 2, "x, y", "data.csv", **{"Annotator Metadata": {"steps": 3}}),
                                         row("b", "3", "7")])
    (suite / "data.csv").write_text("k,v\n")
    a, b = load_gaia(suite)
    assert isinstance(a, Task) and a.id == "a" and a.kind == "qa"
    assert a.prompt == "Question of a?\n\nThe attached file `data.csv` is in your working directory."
    assert a.inputs.files == [suite / "data.csv"]
    assert a.expected.answer == "x, y"
    assert a.metadata == {"level": 2, "file_name": "data.csv"}
    assert b.prompt == "Question of b?" and b.inputs.files == [] and b.metadata["level"] == 3


# -- malformed input: each error names the file, the line and the field --------------------------------

def test_invalid_json_names_file_and_line(tmp_path):
    msg = error_of(write_suite(tmp_path, [row("a"), '{"task_id": "b", "Question": ']))
    assert "metadata.jsonl:2" in msg and "invalid JSON" in msg


def test_non_object_line(tmp_path):
    msg = error_of(write_suite(tmp_path, ["[1, 2]"]))
    assert "metadata.jsonl:1" in msg and "object" in msg


@pytest.mark.parametrize("key", ["task_id", "Question", "Level", "Final answer"])
def test_missing_required_key(tmp_path, key):
    bad = row("b")
    del bad[key]
    msg = error_of(write_suite(tmp_path, [row("a"), bad]))
    assert "metadata.jsonl:2" in msg and repr(key) in msg and "missing" in msg


@pytest.mark.parametrize("level", ["high", 2.5, None, [1], True, 4, 0])
def test_bad_level(tmp_path, level):
    msg = error_of(write_suite(tmp_path, [row("a", level=level)]))
    assert "metadata.jsonl:1" in msg and "'Level'" in msg


def test_final_answer_must_be_a_string(tmp_path):
    msg = error_of(write_suite(tmp_path, [row("a", answer=42)]))
    assert "metadata.jsonl:1" in msg and "'Final answer'" in msg and "string" in msg


def test_missing_attachment(tmp_path):
    msg = error_of(write_suite(tmp_path, [row("a"), row("b", file_name="gone.csv")]))
    assert "metadata.jsonl:2" in msg and "'file_name'" in msg and "gone.csv" in msg


def test_attachment_outside_the_suite(tmp_path):
    (tmp_path / "secret.txt").write_text("x")
    msg = error_of(write_suite(tmp_path / "s", [row("a", file_name="../secret.txt")]))
    assert "metadata.jsonl:1" in msg and "'file_name'" in msg and "inside the suite" in msg


def test_duplicate_task_id(tmp_path):
    msg = error_of(write_suite(tmp_path, [row("a"), row("b"), "", row("a")]))
    assert "metadata.jsonl:4" in msg and "'task_id'" in msg and "duplicate" in msg and "line 1" in msg


def test_missing_and_empty_metadata(tmp_path):
    assert "metadata.jsonl" in error_of(tmp_path) and "not found" in error_of(tmp_path)
    (tmp_path / "metadata.jsonl").write_text("\n\n")
    assert "no tasks" in error_of(tmp_path)


# -- registry -----------------------------------------------------------------------------------------

def test_existing_path_wins_over_bundled_name(tmp_path, monkeypatch):
    own = write_suite(tmp_path / "gaia-mini", [row("mine")])
    monkeypatch.chdir(tmp_path)
    suite_dir, tasks = load_suite("gaia-mini")
    assert suite_dir == own and [t.id for t in tasks] == ["mine"]


def test_path_to_suite_file_and_bare_gaia_folder(tmp_path):
    suite = write_suite(tmp_path / "s", [row("a")])
    assert resolve_suite(str(suite / "suite.yaml")) == suite
    bare = write_suite(tmp_path / "bare", [row("b")], suite_yaml=None)
    assert [t.id for t in load_suite(str(bare))[1]] == ["b"]


def test_name_under_tasks_root_and_env(tmp_path, monkeypatch):
    root = tmp_path / "tasks"
    write_suite(root / "alpha", [row("a")])
    (root / "not-a-suite").mkdir()
    assert resolve_suite("alpha", tasks_root=root) == root / "alpha"
    assert available_suites(root) == ["alpha"]
    monkeypatch.setenv("AGENTBENCH_TASKS", str(root))
    assert load_suite("alpha")[0] == root / "alpha"


def test_unknown_suite_lists_available(tmp_path):
    root = tmp_path / "tasks"
    write_suite(root / "alpha", [row("a")])
    write_suite(root / "beta", [row("b")])
    with pytest.raises(SuiteError, match=r"'nope' not found.*available: alpha, beta"):
        resolve_suite("nope", tasks_root=root)
    assert "gaia-mini" in available_suites()


@pytest.mark.parametrize("suite_yaml, needle", [("name: x\nformat: swebench-9\n", "unknown format 'swebench-9'"),
                                                ("name: x\n", "missing"),
                                                ("- just\n- a list\n", "mapping"),
                                                ("format: [unclosed\n", "cannot be read")])
def test_bad_suite_yaml(tmp_path, suite_yaml, needle):
    suite = write_suite(tmp_path / "s", [row("a")], suite_yaml=suite_yaml)
    with pytest.raises(SuiteError) as info:
        load_suite(str(suite))
    assert "suite.yaml" in str(info.value) and needle in str(info.value)
    if needle.startswith(("unknown", "missing")):
        assert "'format'" in str(info.value)


# -- filters ------------------------------------------------------------------------------------------

@pytest.fixture
def tasks() -> list[Task]:
    return load_gaia(BUNDLED)


def test_filter_defaults_keep_everything(tasks):
    assert filter_tasks(tasks, [], [], None) == tasks


def test_filter_by_ids_keeps_suite_order(tasks):
    picked = filter_tasks(tasks, ["gm-l2-001", "gm-l1-001", "gm-l2-001"], [], None)
    assert [t.id for t in picked] == ["gm-l1-001", "gm-l2-001"]


def test_filter_by_levels_and_limit(tasks):
    level3 = filter_tasks(tasks, [], [3], None)
    assert level3 and all(t.metadata["level"] == 3 for t in level3)
    assert filter_tasks(tasks, [], [1, 3], 2) == [t for t in tasks if t.metadata["level"] in (1, 3)][:2]
    assert [t.id for t in filter_tasks(tasks, ["gm-l1-001", "gm-l3-001"], [3], None)] == ["gm-l3-001"]
    assert len(filter_tasks(tasks, [], [], 3)) == 3


def test_filter_errors(tasks):
    with pytest.raises(SuiteError, match="unknown task id.*nope-1, nope-2"):
        filter_tasks(tasks, ["gm-l1-001", "nope-1", "nope-2"], [], None)
    with pytest.raises(SuiteError, match="limit"):
        filter_tasks(tasks, [], [], 0)
    with pytest.raises(SuiteError, match="levels in the suite: 1, 2, 3"):
        filter_tasks(tasks, [], [7], None)
