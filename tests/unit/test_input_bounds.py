"""Inputs are bounded before they are believed (issue 22, item 2).

YAML aliases cannot expand a small file into a huge document (`safe_parse.yaml_text`: a node budget and a
depth, measured before anything is built), every number of the experiment file has a range checked at
load with the field named (`--set` too), and a run's to-do list (tasks x epochs) is bounded before it is
built. Each bad input is a clear error naming the file and the field; the CLI exits 2 without a traceback,
quickly and in little memory. Pure, no engine, no model.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from agentbench.config.loader import ConfigError, field_key, load_experiment
from agentbench.config.schema import MAX_ATTEMPTS, MAX_EPOCHS, ExperimentConfig
from agentbench.runner.resume import attempts_problem, todo_items
from agentbench.runner.runner import Runner
from agentbench.safe_parse import MAX_ALIAS_NODES, MAX_DEPTH, ParseError, YamlBudgetError, expanded_size, yaml_text
from agentbench.suites.errors import SuiteError
from agentbench.suites.loader import load_suite
from agentbench.suites.swe_recipes import builtin_specs
from agentbench.suites.swebench import load_specs

ROOT = Path(__file__).resolve().parents[2]

# "billion laughs" in graph_params: 9 levels of 9 aliases, 9^9 (~387 million) strings once expanded
LAUGHS = "name: bomb\ngraph_params:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))


def fuzz(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def error_of(path: Path | None, overrides: list[str] = ()) -> str | None:
    try:
        load_experiment(path, list(overrides))
    except ConfigError as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------------------------------------------
# 1. YAML alias expansion


def test_the_laughs_file_is_small():
    assert len(LAUGHS.encode()) < 700


def test_alias_bomb_is_refused_fast_in_little_memory():
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(YamlBudgetError, match="alias bomb"):
            yaml_text(LAUGHS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 5
    assert peak < 20 * 2**20, peak


def test_alias_bomb_experiment_file_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(LAUGHS)
    message = error_of(path)
    assert message is not None and message.startswith(f"{path}: refused: its aliases expand it to ")
    assert f"{MAX_ALIAS_NODES:,}" in message


@pytest.mark.parametrize("text, why", [
    ("a: &a [*a]\n", "recursive alias"),
    ("a: &a {b: *a}\n", "recursive alias"),
    ("a: &a {<<: *a}\n", "recursive alias"),
    ("".join(f"a{i}: &a{i} [{'*a' + str(i - 1) if i else 'x'}]\n" for i in range(MAX_DEPTH + 5)), "deeper than"),
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "deeper than"),
])
def test_recursive_and_deep_documents_are_refused(text, why):
    with pytest.raises(YamlBudgetError, match=why):
        yaml_text(text)


def _wide(copies: int, width: int = 1000) -> str:
    """One list of `width` scalars, then a list aliasing it `copies` times: aliases add copies x (width+1)."""
    return f"a: &a [{', '.join(['1'] * width)}]\nb: [{', '.join(['*a'] * copies)}]\n"


def test_the_budget_is_the_nodes_aliases_add():
    assert (99 * 1001) <= MAX_ALIAS_NODES < (100 * 1001)
    assert len(yaml_text(_wide(99))["b"]) == 99  # just inside
    with pytest.raises(YamlBudgetError):
        yaml_text(_wide(100))  # just past


def test_a_large_document_without_aliases_is_not_limited():
    # the budget counts what aliases add, never what the text spells out (a smaller budget keeps this quick)
    text = "\n".join(f"k{i}: [{i}, {i + 1}]" for i in range(600))  # 2,401 nodes, none aliased
    total, spelled, _ = expanded_size(yaml.compose(text, Loader=yaml.SafeLoader))
    assert total == spelled > 1_000
    assert len(yaml_text(text, max_alias_nodes=1_000)) == 600
    aliased = "a: &a [" + ", ".join(["x"] * 100) + "]\n" + "\n".join(f"b{i}: *a" for i in range(10))  # +1,010
    with pytest.raises(YamlBudgetError, match="at most 1,000 more"):
        yaml_text(aliased, max_alias_nodes=1_000)
    assert len(yaml_text(aliased, max_alias_nodes=1_010)) == 11


def test_merge_key_bomb_is_refused():
    text = "m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n" + "".join(
        f"m{i}: &m{i} {{{', '.join(f'k{j}: *m{i - 1}' for j in range(8))}}}\n" for i in range(1, 8))
    with pytest.raises(YamlBudgetError):
        yaml_text(text)


def _bundled_yaml() -> list[Path]:
    found = [*sorted((ROOT / "agentbench/suites/swebench_recipes").glob("*.yaml")),
             *sorted(ROOT.glob("tasks/*/*.yaml")), *sorted(ROOT.glob("experiments/*.yaml")),
             *sorted(ROOT.glob("examples/**/*.yaml"))]
    assert len(found) >= 12 + 4  # 12+ recipe tables, the suites' and the examples' files
    return found


@pytest.mark.parametrize("path", _bundled_yaml(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_bundled_yaml_file_loads_as_before(path):
    text = path.read_text()
    assert yaml_text(text) == yaml.safe_load(text)


def test_the_recipe_tables_anchors_and_merges_still_resolve():
    assert "<<: *" in (ROOT / "agentbench/suites/swebench_recipes/astropy__astropy.yaml").read_text()
    specs = builtin_specs()
    files = list((ROOT / "agentbench/suites/swebench_recipes").glob("*.yaml"))
    assert len(specs) == len(files) >= 12 and sum(len(v) for v in specs.values()) > 200


def test_a_suite_yaml_bomb_is_a_suite_error_naming_the_file(tmp_path):
    (tmp_path / "suite.yaml").write_text("format: gaia\n" + LAUGHS.replace("graph_params", "extra"))
    with pytest.raises(SuiteError, match=r"suite\.yaml.*alias bomb"):
        load_suite(tmp_path)


def test_a_swebench_specs_yaml_bomb_is_a_suite_error_naming_the_file(tmp_path):
    (tmp_path / "specs.yaml").write_text(LAUGHS)
    with pytest.raises(SuiteError, match=r"specs\.yaml.*alias bomb"):
        load_specs(tmp_path / "specs.yaml")


def test_a_set_value_with_an_alias_bomb_names_the_override():
    bomb = "[" + ", ".join(["&a [x, x, x, x, x, x, x, x, x, x]"] + ["*a"] * 50) + "]"
    assert yaml_text(bomb)  # 50 x 11: inside the budget
    flow = "{l0: &l0 [x, x, x, x, x, x, x, x, x], " + ", ".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)) + "}"
    message = error_of(None, [f"graph_params.x={flow}"])
    assert message is not None and "--set 'graph_params.x=" in message and "alias bomb" in message


@st.composite
def alias_ladders(draw: st.DrawFn) -> tuple[str, int, int]:
    """A ladder of aliases: a base list of n scalars, then levels each aliasing the one below w_i times;
    with its expanded and spelled node counts, computed here from the shape."""
    n = draw(st.integers(0, 30))
    widths = draw(st.lists(st.integers(0, 12), max_size=7))
    lines = [f"a0: &a0 [{', '.join(['x'] * n)}]"]
    size = 1 + n
    total = 1 + 1 + size
    for i, w in enumerate(widths, start=1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * w)}]")
        size = 1 + w * size
        total += 1 + size
    spelled = 1 + 2 * (len(widths) + 1) + n
    return "\n".join(lines) + "\n", total, spelled


@fuzz(150)
@given(alias_ladders())
def test_aliases_within_the_budget_load_as_safe_load_and_past_it_are_refused(ladder):
    text, total, spelled = ladder
    if total - spelled > MAX_ALIAS_NODES:
        with pytest.raises(YamlBudgetError):
            yaml_text(text)
    else:
        assert yaml_text(text) == yaml.safe_load(text)


@fuzz(100)
@given(st.text(alphabet="[]{},:&*ab -\n<", max_size=60))
def test_random_alias_text_gives_data_or_a_parse_error(text):
    try:
        yaml_text(text)
    except ParseError:
        pass


# ---------------------------------------------------------------------------------------------------------
# 2. Every number has a range


def _bounds(metadata: list[Any]) -> tuple[float | None, float | None, bool]:
    lo = hi = None
    strict = False
    for m in metadata:
        if isinstance(m, at.Ge):
            lo = m.ge
        elif isinstance(m, at.Gt):
            lo, strict = m.gt, True
        elif isinstance(m, at.Le):
            hi = m.le
        elif isinstance(m, at.Lt):
            hi = m.lt
        elif hasattr(m, "metadata"):  # a FieldInfo inside Annotated
            lo2, hi2, strict2 = _bounds(m.metadata)
            lo, hi, strict = lo2 if lo2 is not None else lo, hi2 if hi2 is not None else hi, strict or strict2
    return lo, hi, strict


def _plain(annotation: Any) -> Any:
    """X | None -> X."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def numeric_fields(model: type[BaseModel] = ExperimentConfig, prefix: str = "") -> list[tuple[str, type, tuple]]:
    """(dotted key for --set, int or float, (lo, hi, lo is strict)) of every number in the schema; a list's or
    a mapping's numbers as its first item / a key `k`."""
    out = []
    for name, info in model.model_fields.items():
        key, ann = prefix + name, _plain(info.annotation)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += numeric_fields(ann, key + ".")
        elif ann in (int, float):
            out.append((key, ann, _bounds(info.metadata)))
        elif typing.get_origin(ann) in (list, dict):
            inner = typing.get_args(ann)[-1]
            base = typing.get_args(inner)[0] if typing.get_origin(inner) is typing.Annotated else inner
            if base in (int, float):
                meta = list(getattr(inner, "__metadata__", ()))
                out.append((key + (".k" if typing.get_origin(ann) is dict else ""), base, _bounds(meta)))
    return out


NUMERIC = numeric_fields()


def test_the_schema_walk_finds_the_numbers():
    keys = {k for k, _, _ in NUMERIC}
    assert {"run.epochs", "run.concurrency", "run.seed", "model.temperature", "model.top_p", "model.max_tokens",
            "model.server.port", "model.server.ray_resources.k", "limits.timeout_s", "suite.levels",
            "run.ray.resources.k", "sandbox.pids_limit", "sandbox.cpus"} <= keys
    assert len(NUMERIC) >= 35


def _override(key: str, value: str) -> list[str]:
    if key == "suite.levels":
        return [f"suite.levels=[{value}]"]
    return [f"{key}={value}"]


def _named(message: str | None, key: str) -> bool:
    return message is not None and (f"  {key}: " in message or f"  {key.removesuffix('.k')}" in message
                                    or (key == "suite.levels" and "  suite.levels.0: " in message))


@pytest.mark.parametrize("key, kind, bounds", NUMERIC, ids=[k for k, _, _ in NUMERIC])
def test_every_number_has_a_finite_range(key, kind, bounds):
    lo, hi, _ = bounds
    assert lo is not None and hi is not None, f"{key}: no {'lower' if lo is None else 'upper'} bound"
    assert math.isfinite(lo) and math.isfinite(hi) and lo <= hi


@pytest.mark.parametrize("key, kind, bounds", NUMERIC, ids=[k for k, _, _ in NUMERIC])
@pytest.mark.parametrize("bad", [".inf", "-.inf", ".nan", "1.0e300", "-1.0e300", str(10**30), str(-(10**30))])
def test_an_out_of_range_number_is_an_error_naming_the_field(key, kind, bounds, bad):
    assert _named(error_of(None, _override(key, bad)), key)


@pytest.mark.parametrize("key, kind, bounds", NUMERIC, ids=[k for k, _, _ in NUMERIC])
def test_the_bounds_themselves_are_accepted_and_just_past_them_refused(key, kind, bounds):
    lo, hi, strict = bounds
    for edge in ([hi] if strict else [lo, hi]):
        value = kind(edge)
        assert error_of(None, _override(key, repr(value))) is None, (key, value)
    step = 1 if kind is int else max(abs(hi) * 1e-6, 1e-9)
    assert _named(error_of(None, _override(key, repr(kind(hi + step)))), key)
    if not strict:
        assert _named(error_of(None, _override(key, repr(kind(lo - step)))), key)
    else:
        assert _named(error_of(None, _override(key, repr(kind(lo)))), key)


def _yaml_number(value: float | int) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    return repr(value)


def _got(cfg: ExperimentConfig, key: str) -> Any:
    node: Any = cfg
    for part in key.removesuffix(".k").split("."):
        node = getattr(node, part)
    return node["k"] if key.endswith(".k") else node[0] if isinstance(node, list) else node


@fuzz(400)
@given(st.sampled_from(NUMERIC), st.floats() | st.integers(-(10**25), 10**25)
       | st.sampled_from([0, 1, -1, 1000, 1001, 65535, 65536, 0.5, 2.0, 2.5, 1e-12, 86400.0, 86401.0]))
def test_fuzzed_numbers_load_inside_their_range_or_name_the_field(field, value):
    key, kind, (lo, hi, strict) = field
    overrides = _override(key, _yaml_number(value))
    try:
        cfg = load_experiment(None, overrides)
    except ConfigError as exc:
        assert _named(str(exc), key), (overrides, str(exc))
        return
    got = _got(cfg, key)
    assert isinstance(got, kind) and math.isfinite(got), (key, got)
    assert (got > lo if strict else got >= lo) and got <= hi, (key, got)


def test_the_same_checks_hold_in_a_file_and_name_it(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("run:\n  epochs: 3000000000\n  concurrency: -4\nmodel:\n  temperature: .inf\n"
                    "limits:\n  timeout_s: 1.0e300\n")
    message = error_of(path)
    assert message is not None and message.startswith(f"{path}: invalid experiment config")
    for key in ("run.epochs", "run.concurrency", "model.temperature", "limits.timeout_s"):
        assert f"  {key}: " in message


def test_concurrency_auto_stays_inside_its_range():
    cfg = load_experiment(None, ["run.concurrency=auto"])
    assert 2 <= cfg.run.concurrency <= 16


def test_readme_lists_the_range_of_every_number():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Config ranges", 1)[1].split("\n## ", 1)[0]
    missing = [k for k, _, _ in NUMERIC if f"`{k.removesuffix('.k')}" not in section]
    assert not missing, missing


# ---------------------------------------------------------------------------------------------------------
# 3. The to-do list is bounded


class _T:
    def __init__(self, i: int) -> None:
        self.id = f"t{i}"


def test_todo_items_are_the_unfinished_pairs_epoch_by_epoch():
    tasks = [_T(i) for i in range(3)]
    todo = todo_items(tasks, 2, {("t1", 0), ("t0", 1)})  # type: ignore[arg-type]
    assert [(t.id, e) for t, e in todo] == [("t0", 0), ("t2", 0), ("t1", 1), ("t2", 1)]


def test_attempts_problem_bounds_tasks_times_epochs():
    assert attempts_problem(1000, MAX_EPOCHS) is None
    assert attempts_problem(MAX_ATTEMPTS, 1) is None
    problem = attempts_problem(MAX_ATTEMPTS // MAX_EPOCHS + 1, MAX_EPOCHS)
    assert problem is not None and problem.startswith("run.epochs: ") and "suite.limit" in problem
    assert attempts_problem(3, 4, limit=11) is not None and attempts_problem(3, 4, limit=12) is None


def _big_gaia_suite(folder: Path, n: int) -> Path:
    folder.mkdir()
    rows = (json.dumps({"task_id": f"q{i}", "Question": "1+1?", "Level": 1, "Final answer": "2",
                        "file_name": ""}) for i in range(n))
    (folder / "metadata.jsonl").write_text("\n".join(rows) + "\n")
    return folder


def test_a_run_past_the_attempt_bound_stops_before_anything_is_built_or_written(tmp_path):
    suite = _big_gaia_suite(tmp_path / "big", MAX_ATTEMPTS // MAX_EPOCHS + 1)
    cfg = load_experiment(None, [f"suite.name={suite}", f"run.epochs={MAX_EPOCHS}", "graph=oracle"])
    run_dir = tmp_path / "run"
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"^run\.epochs: 1000 epochs x 1,001 tasks is 1,001,000 attempts"):
            Runner(cfg, run_dir).prepare()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not run_dir.exists()
    assert peak < 50 * 2**20, peak


# ---------------------------------------------------------------------------------------------------------
# 4. End to end: `agentbench run` exits 2 quickly, naming the file and field, without a traceback


AS_LIMIT = 1 << 30  # the CLI with its imports maps ~120 MB; the bombs, unchecked, went past 1.5 GB


def _agentbench_run(args: list[str], cwd: Path, timeout_s: float = 90) -> tuple[int, str, float]:
    """(exit code, stderr, seconds) of `agentbench run ARGS` in at most AS_LIMIT of address space (past it an
    allocation fails: a traceback, not exit 2), killed past `timeout_s`."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))

    t0 = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "agentbench", "run", *args], cwd=cwd, capture_output=True,
                              text=True, timeout=timeout_s, preexec_fn=cap, env={**os.environ, "COLUMNS": "400"})
    except subprocess.TimeoutExpired:
        pytest.fail(f"agentbench run {args} still running after {timeout_s} s")
    return done.returncode, done.stderr, time.monotonic() - t0


def _clean_exit_2(rc: int, stderr: str, elapsed: float) -> None:
    assert rc == 2, stderr
    assert "Traceback" not in stderr and "MemoryError" not in stderr, stderr
    assert elapsed < 60, elapsed


def test_cli_alias_bomb_file_exits_2_naming_the_file(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS)
    rc, stderr, elapsed = _agentbench_run([str(path), "--out", str(tmp_path / "run")], tmp_path)
    _clean_exit_2(rc, stderr, elapsed)
    assert f"{path}: refused: its aliases expand it to" in " ".join(stderr.split()), stderr
    assert not (tmp_path / "run").exists()


def test_cli_three_billion_epochs_exits_2_naming_the_file_and_field(tmp_path):
    path = tmp_path / "epochs.yaml"
    path.write_text("run:\n  epochs: 3000000000\n")
    rc, stderr, elapsed = _agentbench_run([str(path), "--out", str(tmp_path / "run")], tmp_path)
    _clean_exit_2(rc, stderr, elapsed)
    assert str(path) in stderr and "run.epochs:" in stderr and "1000" in stderr, stderr


def test_cli_set_infinite_timeout_exits_2_naming_the_field(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: ok\n")
    rc, stderr, elapsed = _agentbench_run(
        [str(path), "--set", "limits.timeout_s=.inf", "--set", "run.epochs=3e9", "--out", str(tmp_path / "run")],
        tmp_path)
    _clean_exit_2(rc, stderr, elapsed)
    assert "limits.timeout_s:" in stderr and "run.epochs:" in stderr, stderr


def test_cli_too_many_attempts_exits_2_before_the_run_folder_exists(tmp_path):
    suite = _big_gaia_suite(tmp_path / "big", MAX_ATTEMPTS // MAX_EPOCHS + 1)
    path = tmp_path / "exp.yaml"
    path.write_text(f"graph: oracle\nsuite: {{name: '{suite}'}}\nrun: {{epochs: {MAX_EPOCHS}}}\n")
    rc, stderr, elapsed = _agentbench_run([str(path), "--out", str(tmp_path / "run")], tmp_path)
    _clean_exit_2(rc, stderr, elapsed)
    assert "run.epochs: 1000 epochs x 1,001 tasks" in stderr, stderr
    assert not (tmp_path / "run" / "run.sqlite").exists()


# ---------------------------------------------------------------------------------------------------------
# 5. Errors name the key as written


@pytest.mark.parametrize("loc, key", [
    (("sandbox", "grading_network", "bool"), "sandbox.grading_network"),  # a union's member tag left out
    (("sandbox", "grading_network", "literal['auto']"), "sandbox.grading_network"),
    (("model", "server", "ray_resources", "GPU"), "model.server.ray_resources.GPU"),
    (("suite", "levels", 1), "suite.levels.1"),
    (("graph_params", "a", "bool", 0), "graph_params.a.bool.0"),  # free-form: every part kept
    (("model", "nope"), "model.nope"),
    ((), "(top level)"),
])
def test_error_keys_are_the_dotted_keys_the_user_wrote(loc, key):
    assert field_key(loc) == key
