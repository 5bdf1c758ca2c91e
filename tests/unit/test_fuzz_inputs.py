"""Bad input, fuzzed: never a traceback; an error names the file, line and field; finished results are kept.

Property tests (hypothesis, bounded; no network, no Docker) over everything agentbench reads from a user
or a model: experiment YAML and `--set` values, GAIA metadata rows, SWE-bench rows, model replies to both
text action protocols, SWE-bench patches and eval logs, and the run store when a write fails.

Each input family that currently breaks a rule has its own test marked `xfail(strict=True, reason="BUG:
...")`, with the shrunk failing input as an explicit `@example`; the general properties do not generate
that family (it is the xfail test's), so that one known bug does not mask the others. When a bug is fixed
its xfail test XPASSes, which strict=True turns into a failure: remove the marker then.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import sqlite3
import string
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from agentbench.config import loader as config_loader
from agentbench.config.loader import ConfigError, dump_config, load_experiment, parse_override
from agentbench.config.schema import ExperimentConfig
from agentbench.commands import is_test_command
from agentbench.graphs.actions import Action, parse_action
from agentbench.graphs.coding_actions import (CodingAction, Hunk, HunkApplyError, HunkFormatError, apply_hunks,
                                              parse_coding_action, parse_edit_hunks)
from agentbench.events import Event, ModelCall
from agentbench.protocols import AttemptRecord, Task
from agentbench.scoring.swebench import split_diff
from agentbench.scoring.swebench_eval import EnvFault, classify_eval_log
from agentbench.scoring.swebench_spec import get_test_directives, make_test_spec
from agentbench.store import RunStore
from agentbench.suites.errors import SuiteError
from agentbench.suites.gaia import load_gaia
from agentbench.suites.swebench import load_swebench, parse_rows
from agentbench.swe_spec import SweSpec
from agentbench.swebench_layout import patch_files

ROOT = Path(__file__).resolve().parents[2]


def fuzz(n: int) -> settings:
    """Bounded runs: n examples, no deadline (2 slow cores), no example database left in the repo."""
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


@contextmanager
def fresh_dir() -> Iterator[Path]:
    """A fresh folder per example (pytest's tmp_path is per test, not per hypothesis example)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as name:
        yield Path(name)


# Characters str.splitlines() breaks on besides \n and \r. JSON escapes all but the last three even with
# ensure_ascii=False; those three are the U+2028 family of the line-number bug below.
RAW_LINE_BREAKS = "\x85\u2028\u2029"
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=RAW_LINE_BREAKS), max_size=24)
NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters=":"), max_size=12)
BIG_INT = 10 ** 100  # huge numbers, within Python's 4300-digit int<->str limit (past it: the xfail tests)
SCALARS = (st.none() | st.booleans() | st.integers(-BIG_INT, BIG_INT) | st.floats() | TEXT
           | st.sampled_from(["auto", "none", "docker", "1g", "planning", "embedded", "openai", "off", "tests", ""]))


def nested(leaf: st.SearchStrategy, max_depth: int = 40) -> st.SearchStrategy:
    """A value wrapped in up to max_depth lists / one-key mappings (deep nesting, below recursion limits)."""
    @st.composite
    def build(draw: st.DrawFn) -> Any:
        value = draw(leaf)
        for wrap in draw(st.lists(st.sampled_from(["list", "dict"]), max_size=max_depth)):
            value = [value] if wrap == "list" else {"k": value}
        return value
    return build()


VALUES = st.recursive(SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(NAME, c, max_size=3),
                      max_leaves=10) | nested(SCALARS)
JSON_VALUES = VALUES  # json.dumps writes NaN / Infinity and json.loads reads them back

# A calendar-invalid YAML 1.1 timestamp ("2024-13-45"), an int past 4300 digits, nesting past the recursion
# limit: what makes PyYAML / json raise something other than their own error type.
BAD_DATES = st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(1000, 9999),
                      st.integers(0, 99), st.integers(0, 99)).filter(lambda s: not _valid_date(s))
HUGE_DIGITS = st.integers(4301, 6000).map(lambda n: "9" * n)
# An explicit core-schema tag on a scalar it cannot construct: PyYAML raises IndexError / ValueError /
# KeyError / AttributeError from its constructors, not yaml.YAMLError (so !!int, !!float, !!bool and
# !!timestamp are left out of the general YAML token lists; these are the xfail tests' inputs).
BAD_TAGGED = st.tuples(st.sampled_from(["!!int", "!!float", "!!bool", "!!timestamp"]),
                       st.sampled_from(["", "x", "_", "0x", "0b", "0o9", ".", "1:2:x", "yes please", "2024-99"])
                       ).map(lambda t: f"{t[0]} {t[1]}".rstrip())
DEEP = st.integers(20_000, 60_000)  # hypothesis raises the recursion limit while it runs a test


def _valid_date(text: str) -> bool:
    import datetime

    try:
        datetime.date.fromisoformat(text)
        return True
    except ValueError:
        return False


# =====================================================================================================
# 1. Experiment YAML: an ExperimentConfig, or ConfigError naming the file and the field's dotted path
# =====================================================================================================

DEMO_PATH = ROOT / "experiments" / "demo.yaml"
DEMO = yaml.safe_load(DEMO_PATH.read_text())
DELETE = object()


def _field_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, field in model.model_fields.items():
        yield prefix + (name,)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _field_paths(field.annotation, prefix + (name,))


FIELD_PATHS = sorted(_field_paths(ExperimentConfig))
FIELD_SET = set(FIELD_PATHS)
SECTIONS = [()] + [p for p in FIELD_PATHS if p[-1] in ("model", "server", "suite", "sandbox", "limits", "run")]
# The fields whose --set text load_experiment means to take verbatim (its own test of "typed exactly str").
PLAIN_STR_FIELDS = [".".join(p) for p in FIELD_PATHS if config_loader._is_plain_str_field(list(p))]


def load(path: Path | None, overrides: list[str] = ()) -> ExperimentConfig | ConfigError:
    """The config, or the ConfigError; any other exception escapes (that is what these tests look for)."""
    try:
        return load_experiment(path, list(overrides))
    except ConfigError as exc:
        return exc


def _set(data: dict, path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        node[part] = child = child if isinstance(child, dict) else {}
        node = child
    if value is DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def _error_keys(message: str) -> list[str]:
    """The dotted keys of a validation ConfigError's lines (`  key: problem`)."""
    return [line[2:].split(": ", 1)[0] for line in message.splitlines()[1:] if line.startswith("  ")]


def _related(key: str, dotted: str) -> bool:
    return key == dotted or key.startswith(dotted + ".") or dotted.startswith(key + ".")


@st.composite
def demo_mutation(draw: st.DrawFn) -> tuple[str, tuple[str, ...], Any]:
    """One mutation of demo.yaml: (kind, dotted path, value)."""
    kind = draw(st.sampled_from(["set", "set_deeper", "unknown_key", "delete"]))
    key = NAME.filter(bool)  # an empty key is reported as "(top level)" / "model.": see the report
    if kind == "set":
        return kind, draw(st.sampled_from(FIELD_PATHS)), draw(VALUES)
    if kind == "set_deeper":
        return kind, draw(st.sampled_from(FIELD_PATHS)) + (draw(key),), draw(VALUES)
    if kind == "unknown_key":
        return kind, draw(st.sampled_from(SECTIONS)) + (draw(key),), draw(VALUES)
    return kind, draw(st.sampled_from(FIELD_PATHS)), DELETE


def _write_yaml(folder: Path, data: Any) -> Path:
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@fuzz(250)
@given(demo_mutation())
def test_demo_yaml_mutation_gives_config_or_error_naming_file_and_field(mutation):
    kind, path, value = mutation
    data = copy.deepcopy(DEMO)
    _set(data, path, value)
    with fresh_dir() as folder:
        file = _write_yaml(folder, data)
        result = load(file)
    dotted = ".".join(path)
    if kind == "delete" or path[0] == "graph_params" and len(path) > 1:
        assert isinstance(result, ExperimentConfig), f"{dotted} removed / free-form, yet: {result}"
    if kind == "unknown_key" and path not in FIELD_SET and not (path[0] == "graph_params"):
        assert isinstance(result, ConfigError) and f"  {dotted}: unknown key" in str(result), str(result)
    if isinstance(result, ConfigError):
        message = str(result)
        assert message.startswith(f"{file}: "), message
        keys = _error_keys(message)
        assert keys, f"a field error must name its dotted path:\n{message}"
        assert all(_related(key, dotted) for key in keys), f"mutated {dotted!r}, errors name {keys}:\n{message}"


@fuzz(120)
@given(st.lists(demo_mutation(), min_size=2, max_size=5))
def test_demo_yaml_many_mutations_never_raise_anything_else(mutations):
    data = copy.deepcopy(DEMO)
    for _, path, value in mutations:
        _set(data, path, value)
    with fresh_dir() as folder:
        file = _write_yaml(folder, data)
        result = load(file)
    if isinstance(result, ConfigError):
        assert str(result).startswith(f"{file}: ")
    else:  # what agentbench stores with a run reloads to the same config
        with fresh_dir() as folder:
            again = folder / "resolved.yaml"
            again.write_text(dump_config(result), encoding="utf-8")
            reloaded = load(again)
        if not isinstance(reloaded, ExperimentConfig):
            pytest.fail(f"dump_config output does not reload: {reloaded}")


YAML_TOKENS = st.sampled_from([
    "name:", "model:", "suite:", "run:", "limits:", "graph_params:", "sandbox:", "server:", "seed:", "max_steps:",
    "  ", "    ", "\t", "- ", "[", "]", "{", "}", ",", ":", ": ", "? ", "&a ", "*a", "*b", "<<: ", "!!str ", "!!null ",
    "!!map ", "!!seq ", "!!binary ", "!!set ", "!!omap ", "!!python/object:os.system ", "!custom ", "---", "...", "# c",
    "'", '"', "|", ">-", "%YAML 1.1", "%TAG ! tag:x,2000:", "null", "~", "true", "off", "yes", "1e999", ".inf",
    "-.inf", ".nan", "0x1F", "0o17", "0b101", "1_000", "12:30:45", "+1", "é", "ü", "😀", "\ufeff", "\x00",
    "\x07", "\x1b", "\\", "\\x", "%", "@", "`", "=", "-- ", "a", "1", "1.5",
])


@fuzz(250)
@given(st.lists(YAML_TOKENS | TEXT, max_size=40),
       st.lists(st.sampled_from(["", " ", "\n", "\n  ", "\n    ", ": ", "\r\n"]), min_size=1, max_size=40))
def test_random_yaml_text_gives_config_or_error_naming_file(tokens, seps):
    text = "".join(tok + seps[i % len(seps)] for i, tok in enumerate(tokens))
    with fresh_dir() as folder:
        file = folder / "exp.yaml"
        file.write_text(text, encoding="utf-8")
        result = load(file)
    if isinstance(result, ConfigError):
        assert str(result).startswith(f"{file}: "), str(result)


@fuzz(80)
@given(VALUES.filter(lambda v: not isinstance(v, dict) and v is not None))
def test_non_mapping_root_is_an_error_naming_file(root):
    with fresh_dir() as folder:
        file = _write_yaml(folder, root)
        result = load(file)
    assert isinstance(result, ConfigError), result
    assert str(result).startswith(f"{file}: ") and "top level" in str(result)


def _yaml_error(text: str | bytes) -> ConfigError | ExperimentConfig:
    with fresh_dir() as folder:
        file = folder / "exp.yaml"
        file.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        result = load(file)
        assert isinstance(result, ConfigError) and str(result).startswith(f"{file}: "), result
        return result


@fuzz(20)
@example(field="name", date="1000-00-00")
@given(st.sampled_from(["name", "run.seed", "graph_params.when", "suite.ids"]), BAD_DATES)
def test_yaml_invalid_calendar_date_is_a_config_error(field, date):
    *parents, leaf = field.split(".")
    text = "".join(f"{'  ' * i}{p}:\n" for i, p in enumerate(parents)) + f"{'  ' * len(parents)}{leaf}: {date}\n"
    _yaml_error(text)


@fuzz(20)
@example(tagged="!!int")
@given(BAD_TAGGED)
def test_yaml_bad_tagged_scalar_is_a_config_error(tagged):
    _yaml_error(f"run:\n  seed: {tagged}\n")


@fuzz(10)
@example(digits="9" * 4301)
@given(HUGE_DIGITS)
def test_yaml_int_past_4300_digits_is_a_config_error(digits):
    _yaml_error(f"run:\n  seed: {digits}\n")


@fuzz(10)
@example(depth=20_000, bracket="[")
@given(DEEP, st.sampled_from(["[", "{a: "]))
def test_yaml_deep_nesting_is_a_config_error(depth, bracket):
    close = "]" if bracket == "[" else "}"
    _yaml_error(f"graph_params:\n  x: {bracket * depth}{close * depth}\n")


@fuzz(20)
@example(raw=b"\x80")
@given(st.binary(min_size=1, max_size=64).filter(lambda b: not _is_utf8(b)))
def test_yaml_not_utf8_is_a_config_error(raw):
    _yaml_error(raw)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_experiment_path_that_is_a_folder_is_a_config_error(tmp_path):
    result = load(tmp_path)
    assert isinstance(result, ConfigError) and str(tmp_path) in str(result)


# =====================================================================================================
# 2. --set KEY=VALUE: a config, or ConfigError naming the override
# =====================================================================================================

KEYS = st.sampled_from([".".join(p) for p in FIELD_PATHS]) | st.lists(
    NAME.filter(lambda s: "=" not in s) | st.sampled_from(["", " ", "model", "run", "graph_params"]),
    min_size=1, max_size=4).map(".".join) | st.sampled_from(["", " ", ".", "..", "model.", ".name", "a..b"])
VALUE_TOKENS = st.sampled_from([
    "[", "]", "{", "}", ",", ":", ": ", "a", "b", "1", "-1", "0.5", "1e999", ".nan", "null", "~", "true", "off",
    "'", '"', "#", "&a", "*a", "!!str ", "!!null ", "!!binary ", "!!python/name:os.system", " ", "\t", "\n",
    "é", "\x00",
    "[a, b]", "{a: 1}", "{x: [1, {y: 2}]}", "=", "- ", "|", ">", "%", "@", "`",
])
VALUES_TEXT = st.lists(VALUE_TOKENS | TEXT, max_size=12).map("".join)


@st.composite
def override_text(draw: st.DrawFn) -> str:
    key, value = draw(KEYS), draw(VALUES_TEXT)
    return draw(st.sampled_from([f"{key}={value}", key, value, f"={value}", f"{key}=", f"{key}=={value}"]))


def _names_override(message: str, text: str) -> bool:
    key = text.partition("=")[0].strip()
    return text in message or repr(text) in message or (key and f"--set {key}" in message)


@fuzz(300)
@given(st.lists(override_text(), min_size=1, max_size=3), st.booleans())
def test_set_values_give_config_or_error_naming_the_override(overrides, with_file):
    result = load(DEMO_PATH if with_file else None, overrides)
    if isinstance(result, ConfigError):
        message = str(result)
        assert any(_names_override(message, text) for text in overrides), message
        if "invalid experiment config" in message:
            assert message.startswith((f"{DEMO_PATH} (with --set ", "<defaults> (with --set ")), message


@fuzz(200)
@given(override_text())
def test_parse_override_gives_a_path_and_value_or_error(text):
    try:
        path, _ = parse_override(text)
    except ConfigError as exc:
        assert repr(text) in str(exc)
        return
    assert path and all(isinstance(part, str) for part in path)
    assert ".".join(path) == text.partition("=")[0].strip()


@fuzz(60)
@given(st.sampled_from(["run.seed", "run.epochs", "limits.max_steps", "model.max_tokens"]),
       st.integers(-BIG_INT, BIG_INT))
def test_set_int_round_trips_or_names_the_field(key, number):
    result = load(None, [f"{key}={number}"])
    if isinstance(result, ConfigError):
        assert f"  {key}: " in str(result)
    else:
        section, field = key.split(".")
        assert getattr(getattr(result, section), field) == number


@fuzz(50)
@example(key="name", value="[")
@given(st.sampled_from(PLAIN_STR_FIELDS), VALUES_TEXT.filter(lambda v: "\x00" not in v))
def test_set_plain_str_field_takes_the_text_verbatim(key, value):
    result = load(None, [f"{key}={value}"])
    if isinstance(result, ConfigError):  # a constrained text field (a size, a pattern) may refuse it, by name
        assert key in str(result), result
        return
    node: Any = result
    for part in key.split("."):
        node = getattr(node, part)
    assert node == value


@fuzz(20)
@example(key="run.seed", date="1000-00-00")
@given(st.sampled_from(["run.seed", "suite.limit", "graph_params.day"]), BAD_DATES)
def test_set_invalid_date_is_a_config_error(key, date):  # (a plain-str field such as `name` takes it verbatim)
    result = load(None, [f"{key}={date}"])
    assert isinstance(result, ConfigError) and key in str(result)


@fuzz(20)
@example(key="run.seed", tagged="!!int")
@given(st.sampled_from(["run.seed", "graph_params.x", "model.temperature"]), BAD_TAGGED)
def test_set_bad_tagged_value_is_a_config_error(key, tagged):  # (`graph` is plain str: taken verbatim)
    result = load(None, [f"{key}={tagged}"])
    assert isinstance(result, ConfigError) and key in str(result)


@fuzz(10)
@example(digits="9" * 4301)
@given(HUGE_DIGITS)
def test_set_int_past_4300_digits_is_a_config_error(digits):
    result = load(None, [f"run.seed={digits}"])
    assert isinstance(result, ConfigError) and "run.seed" in str(result)


@fuzz(10)
@example(depth=20_000)
@given(DEEP)
def test_set_deeply_nested_value_is_a_config_error(depth):
    result = load(None, [f"graph_params.x={'[' * depth}"])
    assert isinstance(result, ConfigError)


# =====================================================================================================
# 3. GAIA metadata.jsonl: Tasks, or SuiteError with `file:line` and `field '...'`
# =====================================================================================================

GAIA_DIR = ROOT / "tasks" / "gaia-mini"
GAIA_ROWS = [json.loads(line) for line in (GAIA_DIR / "metadata.jsonl").read_text().splitlines() if line.strip()]
GAIA_BASE = [r for r in GAIA_ROWS if r["task_id"] in ("gm-l1-001", "gm-l1-002", "gm-l1-003")]
GAIA_FILES = sorted({r["file_name"] for r in GAIA_BASE if r["file_name"]})
GAIA_KEYS = ("task_id", "Question", "Level", "Final answer", "file_name")
FILE_NAMES = st.sampled_from(["orders.csv", "products.json", "missing.csv", "../metadata.jsonl", "/etc/passwd",
                              "sub/../orders.csv", ".", "./orders.csv", "ORDERS.CSV", " orders.csv", ""]) | \
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00" + RAW_LINE_BREAKS),
            min_size=1, max_size=40)
LEVELS = st.integers(-5, 10) | st.text(st.sampled_from("0123 +-.a"), max_size=4) | st.sampled_from(
    [True, False, None, 1.0, 2.5, "1", " 2 ", "3\n", "４", [1], {"level": 1}])


def _safe_id(value: str) -> bool:
    """A task id that can name a file (suites/errors.py unsafe_id_reason's documented rules): not empty, no
    leading/trailing whitespace, none of / \\ : * ? " < > |, no control character, no leading '.', <= 200."""
    return (bool(value.strip()) and value == value.strip() and not value.startswith(".") and len(value) <= 200
            and not any(c in '/\\:*?"<>|' or ord(c) < 32 or ord(c) == 127 for c in value))


def _gaia_value_ok(key: str, value: Any, suite: Path) -> bool | None:
    """Whether `value` is a valid `key` of a row (None: either outcome is acceptable)."""
    if key == "task_id":  # stripped first
        return isinstance(value, str) and _safe_id(value.strip())
    if key in ("Question", "Final answer"):
        return isinstance(value, str)
    if key == "Level":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            return False
        if isinstance(value, str):
            text = value.strip()
            return text.isdecimal() and int(text) in (1, 2, 3)
        return value in (1, 2, 3)
    if key == "file_name":
        if value is None or value == "":
            return True
        if not isinstance(value, str):
            return False
        target = (suite / value).resolve()
        return not Path(value).is_absolute() and target.is_relative_to(suite.resolve()) and target.is_file()
    return True  # other keys are ignored


@st.composite
def gaia_case(draw: st.DrawFn) -> dict[str, Any]:
    rows = copy.deepcopy(GAIA_BASE)
    bad = draw(st.integers(0, len(rows) - 1))
    kind = draw(st.sampled_from(["set", "delete", "extra", "level", "file_name", "duplicate", "garbage",
                                 "non_object"]))
    key = value = None
    line_text = None
    if kind == "set":
        key, value = draw(st.sampled_from(GAIA_KEYS)), draw(JSON_VALUES)
        if key == "file_name" and not isinstance(value, str) and value is not None and not value:
            value = draw(st.sampled_from([1, True, [1], {"a": 1}]))  # falsy non-strings: the xfail test's
    elif kind == "delete":
        key, value = draw(st.sampled_from(GAIA_KEYS)), DELETE
    elif kind == "extra":
        key, value = draw(NAME.filter(lambda k: k not in GAIA_KEYS)), draw(JSON_VALUES)
    elif kind == "level":
        key, value = "Level", draw(LEVELS)
    elif kind == "file_name":
        key, value = "file_name", draw(FILE_NAMES)
    elif kind == "duplicate":
        key, value = "task_id", rows[draw(st.integers(0, len(rows) - 1))]["task_id"]
    elif kind == "garbage":
        line_text = draw(st.text(st.characters(blacklist_categories=("Cs",),
                                               blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e" + RAW_LINE_BREAKS),
                                 min_size=1, max_size=60))
    else:
        line_text = json.dumps(draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict))))
    if key == "file_name" and isinstance(value, str):
        value = value.replace("\x00", "")  # NUL bytes: the xfail test's
    if key == "Level" and isinstance(value, str) and value.strip().isdigit() and not value.strip().isdecimal():
        value = "9"  # digits int() rejects ('²'): the xfail test's
    if key is not None:
        if value is DELETE:
            rows[bad].pop(key, None)
        else:
            rows[bad][key] = value
    blanks = draw(st.lists(st.sampled_from(["", "   ", "\t"]), max_size=3))
    return {"rows": rows, "bad": bad, "kind": kind, "key": key, "value": value, "line_text": line_text,
            "blanks_before": draw(st.integers(0, len(blanks))), "blanks": blanks,
            "ensure_ascii": draw(st.booleans())}


def _gaia_line(case: dict[str, Any], index: int) -> int:
    """The line of row `index` in the file _write_gaia writes (blank lines go just before the bad row)."""
    return index + 1 + (case["blanks_before"] if index >= case["bad"] else 0)


def _write_gaia(suite: Path, case: dict[str, Any]) -> int:
    """Write metadata.jsonl (and the attachments); the line number of the mutated row."""
    for name in GAIA_FILES:
        shutil.copy(GAIA_DIR / name, suite / name)
    lines = [json.dumps(r, ensure_ascii=case["ensure_ascii"]) for r in case["rows"]]
    if case["line_text"] is not None:
        lines[case["bad"]] = case["line_text"]
    lines[case["bad"]:case["bad"]] = case["blanks"][:case["blanks_before"]]
    bad_line = case["bad"] + case["blanks_before"] + 1
    lines += case["blanks"][case["blanks_before"]:]
    (suite / "metadata.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bad_line


def _load_gaia(suite: Path) -> list[Task] | SuiteError:
    try:
        return load_gaia(suite)
    except SuiteError as exc:
        return exc


@fuzz(300)
@given(gaia_case())
def test_gaia_rows_give_tasks_or_error_naming_file_line_and_field(case):
    with fresh_dir() as suite:
        line = _write_gaia(suite, case)
        metadata = suite / "metadata.jsonl"
        result = _load_gaia(suite)
        kind, key, value = case["kind"], case["key"], case["value"]
        if kind == "garbage":
            expected_ok = False if case["line_text"].strip() else True
        elif kind == "non_object":
            expected_ok = False
        elif kind == "duplicate":
            expected_ok = value == case["rows"][case["bad"]]["task_id"] and all(
                r["task_id"] != value for i, r in enumerate(case["rows"]) if i != case["bad"])
        elif value is DELETE:
            expected_ok = key == "file_name"
        else:
            expected_ok = _gaia_value_ok(key, value, suite)
    if expected_ok is True:
        rows = len(case["rows"]) - (kind == "garbage")
        assert isinstance(result, list) and len(result) == rows, f"valid rows rejected: {result}"
        return
    if expected_ok is False:
        assert isinstance(result, SuiteError), f"bad {key!r}={value!r} accepted"
    if isinstance(result, SuiteError):
        message = str(result)
        if kind == "duplicate":  # reported on the later of the two rows, with the first one's line
            other = next(i for i, r in enumerate(case["rows"]) if r["task_id"] == value and i != case["bad"])
            later, earlier = _gaia_line(case, max(other, case["bad"])), _gaia_line(case, min(other, case["bad"]))
            assert message.startswith(f"{metadata}:{later}: field 'task_id': duplicate"), message
            assert f"first on line {earlier}" in message, message
            return
        assert message.startswith(f"{metadata}:{line}: "), f"expected {metadata}:{line}: ... got {message}"
        if key is not None and kind != "extra":
            assert message.startswith(f"{metadata}:{line}: field {key!r}: "), message


@fuzz(20)
@example(level="²")
@given(st.text(st.sampled_from("²³¹①⑨⁰₂ 1"), min_size=1, max_size=3).filter(
    lambda s: s.strip().isdigit() and not s.strip().isdecimal()))
def test_gaia_level_of_non_decimal_digits_is_a_field_error(level):
    with fresh_dir() as suite:
        row = {**GAIA_BASE[1], "Level": level}
        (suite / "metadata.jsonl").write_text(json.dumps(row) + "\n")
        result = _load_gaia(suite)
        assert isinstance(result, SuiteError) and "field 'Level'" in str(result)


@fuzz(10)
@example(digits="9" * 4301, where="extra")
@given(HUGE_DIGITS, st.sampled_from(["extra", "Level"]))
def test_gaia_int_past_4300_digits_is_a_line_error(digits, where):
    with fresh_dir() as suite:
        if where == "extra":
            line = json.dumps(GAIA_BASE[1])[:-1] + f', "Annotator Metadata": {digits}}}'
        else:
            line = json.dumps({**GAIA_BASE[1], "Level": digits})
        (suite / "metadata.jsonl").write_text(line + "\n")
        result = _load_gaia(suite)
        assert isinstance(result, SuiteError) and f"metadata.jsonl:1: " in str(result)


@fuzz(10)
@example(depth=20_000)
@given(DEEP)
def test_gaia_deeply_nested_row_is_a_line_error(depth):
    with fresh_dir() as suite:
        line = json.dumps(GAIA_BASE[1])[:-1] + f', "x": {"[" * depth}{"]" * depth}}}'
        (suite / "metadata.jsonl").write_text(line + "\n")
        result = _load_gaia(suite)
        assert isinstance(result, SuiteError) and "metadata.jsonl:1: " in str(result)


@fuzz(20)
@example(char="\u2028")
@given(st.sampled_from(RAW_LINE_BREAKS))
def test_gaia_row_with_raw_unicode_line_separator_loads(char):
    with fresh_dir() as suite:
        row = {**GAIA_BASE[1], "Question": f"first{char}second"}
        (suite / "metadata.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
        result = _load_gaia(suite)
        assert isinstance(result, list) and result[0].prompt == row["Question"], result


@fuzz(20)
@example(file_name="\x00")
@given(st.text(min_size=1, max_size=5).map(lambda s: s + "\x00") | st.integers(256, 600).map(lambda n: "a" * n))
def test_gaia_unusable_file_name_is_a_field_error(file_name):
    with fresh_dir() as suite:
        row = {**GAIA_BASE[1], "file_name": file_name}
        (suite / "metadata.jsonl").write_text(json.dumps(row) + "\n")
        result = _load_gaia(suite)
        assert isinstance(result, SuiteError) and "field 'file_name'" in str(result)


@fuzz(10)
@example(file_name=0)
@given(st.sampled_from([0, False, [], {}, 0.0]))
def test_gaia_falsy_non_string_file_name_is_a_field_error(file_name):
    with fresh_dir() as suite:
        row = {**GAIA_BASE[1], "file_name": file_name}
        (suite / "metadata.jsonl").write_text(json.dumps(row) + "\n")
        result = _load_gaia(suite)
        assert isinstance(result, SuiteError) and "field 'file_name'" in str(result), result


# =====================================================================================================
# 4. SWE-bench rows: Tasks, or SuiteError naming file, line (row) and field
# =====================================================================================================

SWE_DIR = ROOT / "tasks" / "swe-lite"
SWE_ROWS = [json.loads(line) for line in (SWE_DIR / "instances.jsonl").read_text().splitlines() if line.strip()]
SHA_FIELDS = ("base_commit", "environment_setup_commit")
REQUIRED = ("repo", "instance_id", "base_commit", "patch", "test_patch", "problem_statement", "version",
            "FAIL_TO_PASS", "PASS_TO_PASS", "environment_setup_commit")
OPTIONAL_STR = ("hints_text", "created_at")
OPTIONAL_NONE_STR = ("image", "eval_script", "log_parser")
SWE_KEYS = REQUIRED + OPTIONAL_STR + OPTIONAL_NONE_STR
SHAS = (st.text(st.sampled_from("0123456789abcdefABCDEFgz "), max_size=44)
        | st.sampled_from(["a" * 6, "a" * 7, "a" * 40, "a" * 41, "A" * 40, "HEAD", "main", "0" * 40 + "\n"]))
TEST_LIST_TEXT = (TEXT | st.sampled_from(['[', '["a"', '["a", ]', "[1]", '["a", 1]', '{"a": 1}', '"a"', "null",
                                          "[]", '["a::b", "c"]', "NaN", "[[]]", "'[\"a\"]'", "[\"\\ud800\"]"]))


def _swe_value_ok(key: str, value: Any) -> bool | None:
    """Whether `value` is a valid `key` of a SWE-bench row (None: either outcome is acceptable)."""
    if key in SHA_FIELDS:
        return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{7,40}", value) is not None
    if key == "repo":
        if not isinstance(value, str):
            return False
        return True if re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", value) else None
    if key == "instance_id":
        return isinstance(value, str) and _safe_id(value)
    if key in ("patch", "test_patch", "problem_statement") + OPTIONAL_STR:
        return isinstance(value, str)
    if key == "version":
        return isinstance(value, (str, int, float))
    if key in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return False
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if key in OPTIONAL_NONE_STR:
        return value is None or isinstance(value, str)
    return True  # extra keys are kept, not interpreted


@st.composite
def swe_case(draw: st.DrawFn) -> dict[str, Any]:
    rows = copy.deepcopy(SWE_ROWS)
    bad = draw(st.integers(0, len(rows) - 1))
    kind = draw(st.sampled_from(["set", "delete", "sha", "test_list", "duplicate", "extra", "garbage",
                                 "non_object"]))
    key = value = line_text = None
    if kind == "set":
        key, value = draw(st.sampled_from(SWE_KEYS)), draw(JSON_VALUES | TEXT)
    elif kind == "delete":
        key, value = draw(st.sampled_from(SWE_KEYS)), DELETE
    elif kind == "sha":
        key, value = draw(st.sampled_from(SHA_FIELDS)), draw(SHAS)
    elif kind == "test_list":
        key = draw(st.sampled_from(["FAIL_TO_PASS", "PASS_TO_PASS"]))
        value = draw(TEST_LIST_TEXT | st.lists(TEXT | st.integers(), max_size=3))
    elif kind == "duplicate":
        key, value = "instance_id", rows[draw(st.integers(0, len(rows) - 1))]["instance_id"]
    elif kind == "extra":
        key, value = draw(NAME.filter(lambda k: k not in SWE_KEYS)), draw(JSON_VALUES)
    elif kind == "garbage":
        line_text = draw(st.text(st.characters(blacklist_categories=("Cs",),
                                               blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e" + RAW_LINE_BREAKS),
                                 min_size=1, max_size=60).filter(lambda s: s.strip()))
    else:
        line_text = json.dumps(draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict))))
    if key is not None:
        if value is DELETE:
            rows[bad].pop(key, None)
        else:
            rows[bad][key] = value
    return {"rows": rows, "bad": bad, "kind": kind, "key": key, "value": value, "line_text": line_text,
            "fmt": draw(st.sampled_from(["jsonl", "json"])), "blank_lines": draw(st.integers(0, 3)),
            "indent": draw(st.sampled_from([None, 1]))}


def _write_swe(suite: Path, case: dict[str, Any]) -> tuple[Path, int]:
    """suite.yaml and the rows file; (rows file, the line (.jsonl) or row number (.json) of the bad row)."""
    data = suite / f"instances.{case['fmt']}"
    (suite / "suite.yaml").write_text(f"name: fuzz\nformat: swebench\ndata: {data.name}\n")
    bad = case["bad"]
    if case["fmt"] == "jsonl":
        lines = [json.dumps(r) for r in case["rows"]]
        if case["line_text"] is not None:
            lines[bad] = case["line_text"]
        lines[bad:bad] = [""] * case["blank_lines"]
        data.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return data, bad + case["blank_lines"] + 1
    text = ",\n".join(json.dumps(r, indent=case["indent"]) for r in case["rows"])
    if case["line_text"] is not None:  # a .json file is one document: any bad row is a JSON/row error
        rows = [json.dumps(r) for r in case["rows"]]
        rows[bad] = case["line_text"]
        text = ",\n".join(rows)
    data.write_text(f"[{text}]", encoding="utf-8")
    return data, bad + 1


def _load_swe(suite: Path) -> list[Task] | SuiteError:
    try:
        return load_swebench(suite)
    except SuiteError as exc:
        return exc


@fuzz(300)
@given(swe_case())
def test_swebench_rows_give_tasks_or_error_naming_file_line_and_field(case):
    with fresh_dir() as suite:
        data, where = _write_swe(suite, case)
        result = _load_swe(suite)
    kind, key, value = case["kind"], case["key"], case["value"]
    message = str(result) if isinstance(result, SuiteError) else ""
    if kind in ("garbage", "non_object"):
        assert isinstance(result, SuiteError), f"{case['line_text']!r} accepted as a row"
        if case["fmt"] == "jsonl" or kind == "non_object":
            assert message.startswith(f"{data}:{where}: "), message
        else:  # not valid JSON: the position json reports, somewhere in the file
            assert re.match(rf"{re.escape(str(data))}:\d+: ", message), message
        return
    if kind == "duplicate":
        others = [i for i, r in enumerate(case["rows"]) if r["instance_id"] == value and i != case["bad"]]
        if not others:  # the row kept its own id
            assert isinstance(result, list) and len(result) == len(case["rows"]), result
            return
        later = max(others[0], case["bad"])
        line = later + 1 + (case["blank_lines"] if case["fmt"] == "jsonl" and later >= case["bad"] else 0)
        assert message.startswith(f"{data}:{line}: field 'instance_id': duplicate"), message
        return
    if value is DELETE:
        expected_ok = key not in REQUIRED
    else:
        expected_ok = _swe_value_ok(key, value)
    if expected_ok is True:
        assert isinstance(result, list) and len(result) == len(case["rows"]), f"valid {key}={value!r}: {result}"
        return
    if expected_ok is False:
        assert isinstance(result, SuiteError), f"bad {key}={value!r} accepted"
    if isinstance(result, SuiteError):
        assert message.startswith(f"{data}:{where}: field '{key}"), f"want {data}:{where}: field '{key}...: {message}"


@fuzz(40)
@given(st.lists(st.sampled_from(range(len(SWE_ROWS))), min_size=2, max_size=6), st.sampled_from(["jsonl", "json"]))
def test_swebench_duplicate_ids_name_the_repeat(order, fmt):
    rows = [SWE_ROWS[i] for i in order]
    with fresh_dir() as suite:
        data, _ = _write_swe(suite, {"rows": rows, "bad": 0, "line_text": None, "fmt": fmt, "blank_lines": 0,
                                     "indent": None})
        try:
            parsed = parse_rows(data)
        except SuiteError as exc:
            seen: set[str] = set()
            repeat = next(n for n, r in enumerate(rows, 1) if r["instance_id"] in seen or seen.add(r["instance_id"]))
            assert str(exc).startswith(f"{data}:{repeat}: field 'instance_id': duplicate"), str(exc)
        else:
            assert len({r["instance_id"] for r in rows}) == len(rows) == len(parsed)


SUITE_KEYS = ("name", "format", "data", "repo_mirror", "specs", "description")
SPEC_FIELDS = ("python", "packages", "pip_packages", "install", "test_cmd", "pre_install", "eval_commands",
               "log_parser", "apt_packages", "requirements", "environment_yml", "test_directives_from")


@st.composite
def suite_case(draw: st.DrawFn) -> tuple[dict[str, Any], Any]:
    """(suite.yaml mapping with one key mutated, specs.yaml document or None)."""
    suite: dict[str, Any] = {"name": "fuzz", "format": "swebench", "data": "instances.jsonl"}
    key = draw(st.sampled_from(SUITE_KEYS) | NAME.filter(bool))
    value = draw(VALUES | st.sampled_from(["instances.jsonl", "instances.json", "specs.yaml", "mirrors", ".", "..",
                                           "/etc/passwd", "rows.parquet", "rows.csv", "nope.jsonl"]))
    if draw(st.booleans()):
        suite[key] = value
    else:
        suite.pop(key, None)
    specs = None
    if draw(st.booleans()):
        suite["specs"] = "specs.yaml"
        repo = draw(st.sampled_from(["pylint-dev/pylint", "sympy/sympy"]) | NAME)
        version = draw(st.sampled_from(["2.15", "1.1"]) | NAME)
        field = draw(st.sampled_from(SPEC_FIELDS) | NAME)
        specs = draw(st.sampled_from([{repo: {version: {field: draw(VALUES)}}}, {repo: draw(VALUES)},
                                      {repo: {version: draw(VALUES)}}, draw(VALUES)]))
    return suite, specs


@fuzz(150)
@given(suite_case())
def test_swebench_suite_yaml_and_specs_give_tasks_or_error_naming_the_file(case):
    suite_data, specs = case
    with fresh_dir() as suite:
        shutil.copy(SWE_DIR / "instances.jsonl", suite / "instances.jsonl")
        (suite / "mirrors").mkdir()
        (suite / "suite.yaml").write_text(yaml.safe_dump(suite_data, allow_unicode=True), encoding="utf-8")
        if specs is not None:
            (suite / "specs.yaml").write_text(yaml.safe_dump(specs, allow_unicode=True), encoding="utf-8")
        result = _load_swe(suite)
        if isinstance(result, SuiteError):
            named = [suite / "suite.yaml"] + [suite / str(suite_data[k]) for k in ("data", "specs", "repo_mirror")
                                              if isinstance(suite_data.get(k), str)]
            assert str(result).startswith(tuple(f"{p}" for p in named)), str(result)


@fuzz(20)
@example(which="suite.yaml", tagged="!!int")
@given(st.sampled_from(["suite.yaml", "specs.yaml"]), BAD_TAGGED | BAD_DATES)
def test_swebench_suite_yaml_bad_tagged_scalar_is_a_suite_error(which, tagged):
    with fresh_dir() as suite:
        shutil.copy(SWE_DIR / "instances.jsonl", suite / "instances.jsonl")
        extra = f"description: {tagged}\n" if which == "suite.yaml" else "specs: specs.yaml\n"
        (suite / "suite.yaml").write_text(f"name: f\nformat: swebench\ndata: instances.jsonl\n{extra}")
        (suite / "specs.yaml").write_text(f"pylint-dev/pylint: {tagged}\n")
        result = _load_swe(suite)
        assert isinstance(result, SuiteError) and which in str(result)


@fuzz(10)
@example(key="data", length=256)
@given(st.sampled_from(["data", "repo_mirror"]), st.integers(256, 1000))
def test_swebench_suite_path_too_long_is_a_suite_error(key, length):
    with fresh_dir() as suite:
        shutil.copy(SWE_DIR / "instances.jsonl", suite / "instances.jsonl")
        fields = {"name": "f", "format": "swebench", "data": "instances.jsonl", key: "a" * length}
        (suite / "suite.yaml").write_text(yaml.safe_dump(fields))
        result = _load_swe(suite)
        assert isinstance(result, SuiteError)


@fuzz(20)
@example(raw=b"\x80", fmt="jsonl")
@given(st.binary(min_size=1, max_size=64).filter(lambda b: not _is_utf8(b)), st.sampled_from(["jsonl", "json"]))
def test_swebench_rows_not_utf8_is_a_suite_error(raw, fmt):
    with fresh_dir() as suite:
        (suite / "suite.yaml").write_text(f"name: fuzz\nformat: swebench\ndata: rows.{fmt}\n")
        (suite / f"rows.{fmt}").write_bytes(raw)
        result = _load_swe(suite)
        assert isinstance(result, SuiteError) and f"rows.{fmt}" in str(result)


@fuzz(10)
@example(payload="9" * 4301, fmt="jsonl")
@given(HUGE_DIGITS | DEEP.map(lambda d: "[" * d + "]" * d), st.sampled_from(["jsonl", "json"]))
def test_swebench_row_with_huge_int_or_deep_nesting_is_a_suite_error(payload, fmt):
    with fresh_dir() as suite:
        row = json.dumps(SWE_ROWS[0])[:-1] + f', "x": {payload}}}'
        (suite / "suite.yaml").write_text(f"name: fuzz\nformat: swebench\ndata: rows.{fmt}\n")
        (suite / f"rows.{fmt}").write_text(row if fmt == "jsonl" else f"[{row}]")
        result = _load_swe(suite)
        assert isinstance(result, SuiteError) and f"rows.{fmt}:1: " in str(result)


@fuzz(10)
@example(depth=20_000, key="FAIL_TO_PASS")
@given(DEEP, st.sampled_from(["FAIL_TO_PASS", "PASS_TO_PASS"]))
def test_swebench_deeply_nested_test_list_string_is_a_field_error(depth, key):
    with fresh_dir() as suite:
        case = {"rows": [{**SWE_ROWS[0], key: "[" * depth}], "bad": 0, "line_text": None, "fmt": "jsonl",
                "blank_lines": 0, "indent": None}
        data, _ = _write_swe(suite, case)
        result = _load_swe(suite)
        assert isinstance(result, SuiteError) and str(result).startswith(f"{data}:1: field '{key}'")


@fuzz(10)
@example(char="\u2028")
@given(st.sampled_from(RAW_LINE_BREAKS))
def test_swebench_row_with_raw_unicode_line_separator_loads(char):
    with fresh_dir() as suite:
        (suite / "suite.yaml").write_text("name: fuzz\nformat: swebench\ndata: rows.jsonl\n")
        row = {**SWE_ROWS[0], "hints_text": f"a{char}b"}
        (suite / "rows.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
        result = _load_swe(suite)
        assert isinstance(result, list) and result[0].swe.hints_text == row["hints_text"], result


# =====================================================================================================
# 5. Model replies: an Action / CodingAction (a format_error at worst), never an exception
# =====================================================================================================

REPLY_TOKENS = st.sampled_from([
    "```", "````", "~~~", "~~~~", "```bash", "```python", "```py", "```sh", "```console", "```js", "```edit",
    "```edit src/app.py", "```edit 'a b.py'", "````edit x.py", "```diff", "``` bash extra", "  ```", "\t```",
    "FINAL ANSWER:", "FINAL ANSWER: 42", "final answer:", "**FINAL ANSWER:**", "Final Answer :", "FINAL_ANSWER:",
    "final answer", "SUBMIT", "submit", "**SUBMIT**", "> SUBMIT", "SUBMIT.", "`SUBMIT`", "- submit!",
    "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE", "<<<<<< SEARCH", "<<<<<<<<<< SEARCH", ">>>>>>>REPLACE",
    "ls -la", "print('hi')", "pytest -q", "python -m pytest tests/", "I will look.", "", " ", "\x00", "\r",
    "\ufeff", "😀", "é", "\\", "'", '"', "$(", "|", "&&",
])
REPLIES = st.lists(REPLY_TOKENS | TEXT, max_size=30).flatmap(
    lambda toks: st.lists(st.sampled_from(["\n", "", " ", "\r\n", "\n\n"]), min_size=len(toks), max_size=len(toks))
    .map(lambda seps: "".join(t + s for t, s in zip(toks, seps))))


def _check_action(action: Action) -> None:
    assert isinstance(action, Action)
    if action.kind == "final":
        assert action.answer.strip()
    elif action.kind in ("bash", "python"):
        assert action.code.strip()
    else:
        assert action.kind == "format_error" and action.error.startswith("Format error: ")


def _check_coding(action: CodingAction) -> None:
    assert isinstance(action, CodingAction)
    if action.kind == "edit":
        assert action.path and action.hunks
    elif action.kind == "bash":
        assert action.command.strip()
    elif action.kind == "format_error":
        assert action.error.startswith("Format error: ")
    else:
        assert action.kind == "submit"


@fuzz(400)
@given(REPLIES | TEXT)
def test_planning_reply_parses_to_an_action_or_format_error(reply):
    _check_action(parse_action(reply))


@fuzz(400)
@given(REPLIES | TEXT)
def test_coding_reply_parses_to_an_action_or_format_error(reply):
    _check_coding(parse_coding_action(reply))


def _huge(token: str) -> st.SearchStrategy:
    """(token, times, separator). Fence lines are repeated at most 600 times: parsing N lines that each open
    a fence takes time quadratic in N (3000 lines of ```python: ~5 s in parse_action; see the report)."""
    fence = "```" in token or "~~~" in token
    return st.tuples(st.just(token), st.integers(100, 600) if fence else st.integers(1000, 40_000),
                     st.sampled_from(["\n", " \n", "\x00\n"]))


HUGE = (REPLY_TOKENS | TEXT).flatmap(_huge)


@fuzz(25)
@given(HUGE, st.sampled_from(["", "```bash\nls\n```\n", "FINAL ANSWER: 3\n", "SUBMIT\n"]))
def test_huge_replies_parse_without_exception(huge, tail):
    token, times, sep = huge
    reply = (token + sep) * times + tail
    _check_action(parse_action(reply))
    _check_coding(parse_coding_action(reply))


SAFE_CODE = st.text(st.sampled_from(string.ascii_letters + string.digits + " -_./|$;()'\"\t"), min_size=1,
                    max_size=40).filter(lambda s: s.strip() and not re.search("final|submit", s, re.I))


@fuzz(100)
@given(st.lists(SAFE_CODE, min_size=1, max_size=5), st.sampled_from(["bash", "sh", "", "python", "py"]),
       st.sampled_from(["```", "~~~", "````"]))
def test_one_fenced_block_round_trips(lines, lang, fence):
    code = "\n".join(lines)
    reply = f"Let me check.\n{fence}{lang}\n{code}\n{fence}\n"
    action = parse_action(reply)
    assert action.kind == ("python" if lang.startswith("py") else "bash") and action.code == code.strip("\r\n").rstrip()
    coding = parse_coding_action(reply)
    if lang.startswith("py"):
        assert coding.kind == "format_error"
    else:
        assert coding.kind == "bash" and coding.command == code.strip("\r\n").rstrip()


HUNK_LINES = st.lists(SAFE_CODE | st.just("") | st.sampled_from(["=======", "  x = 1", "def f():"]), max_size=4)


@fuzz(150)
@given(st.lists(st.tuples(HUNK_LINES, HUNK_LINES), min_size=1, max_size=3),
       st.lists(st.sampled_from(["drop_search", "drop_divider", "drop_replace", "stray", "crlf", "none"]),
                max_size=2))
def test_edit_hunks_parse_or_raise_hunk_format_error(pairs, damage):
    parts = []
    for search, replace in pairs:
        parts += ["<<<<<<< SEARCH", *search, "=======", *replace, ">>>>>>> REPLACE", ""]
    for what in damage:
        marker = {"drop_search": "<<<<<<< SEARCH", "drop_divider": "=======", "drop_replace": ">>>>>>> REPLACE"}
        if what in marker and marker[what] in parts:
            parts.remove(marker[what])
        elif what == "stray":
            parts.insert(0, "some words")
    body = "\n".join(parts)
    if "crlf" in damage:
        body = body.replace("\n", "\r\n")
    try:
        hunks = parse_edit_hunks(body)
    except HunkFormatError as exc:
        assert str(exc)
    else:
        assert hunks and all(isinstance(h, Hunk) for h in hunks)
        if not set(damage) - {"none", "crlf"} and not any("=======" in search for search, _ in pairs):
            assert [(h.search, h.replace) for h in hunks] == [("\n".join(s), "\n".join(r)) for s, r in pairs]
    action = parse_coding_action(f"Edit it.\n````edit pkg/mod.py\n{body}\n````\n")
    _check_coding(action)


@fuzz(150)
@given(st.none() | st.lists(SAFE_CODE | st.just(""), max_size=8).map("\n".join),
       st.lists(st.builds(Hunk, search=HUNK_LINES.map("\n".join), replace=HUNK_LINES.map("\n".join)),
                min_size=1, max_size=3))
def test_apply_hunks_gives_text_or_hunk_apply_error(content, hunks):
    try:
        out = apply_hunks(content, hunks)
    except HunkApplyError as exc:
        assert exc.problem in ("not_found", "ambiguous", "empty_search", "missing_file")
        assert 1 <= exc.hunk <= len(hunks)
    else:
        assert isinstance(out, str)


@fuzz(200)
@given(REPLIES | TEXT)
def test_is_test_command_never_raises(command):
    assert isinstance(is_test_command(command), bool)


# =====================================================================================================
# 6. Patches and eval logs: the pure SWE-bench helpers never raise; split_diff loses no byte
# =====================================================================================================

PATH_PART = st.text(st.sampled_from(string.ascii_lowercase + string.digits + "_-."), min_size=1, max_size=8)
PATHS = st.lists(PATH_PART, min_size=1, max_size=3).map("/".join)
CONTENT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=30)


@st.composite
def well_formed_diff(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A git diff of 1..4 file sections (some new files), hunks with lines that mention `diff --git` too."""
    sections, paths = [], []
    for _ in range(draw(st.integers(1, 4))):
        path = draw(PATHS)
        paths.append(path)
        new = draw(st.booleans())
        header = f"diff --git a/{path} b/{path}\n"
        header += (f"new file mode 100644\nindex 0000000..1111111\n--- /dev/null\n" if new
                   else f"index 1111111..2222222 100644\n--- a/{path}\n")
        header += f"+++ b/{path}\n"
        body = ""
        for _ in range(draw(st.integers(1, 3))):
            old = [] if new else draw(st.lists(CONTENT | st.just("diff --git a/x b/x"), min_size=1, max_size=4))
            added = draw(st.lists(CONTENT | st.just("diff --git a/y b/y"), min_size=1, max_size=4))
            body += f"@@ -{0 if new else 1},{len(old)} +1,{len(added)} @@\n"
            body += "".join(f"-{line}\n" for line in old) + "".join(f"+{line}\n" for line in added)
            if new:
                break
        sections.append(header + body)
    return "".join(sections), paths


@fuzz(150)
@given(well_formed_diff(), st.sampled_from(["", "From abc Mon Sep 17 00:00:00 2001\nSubject: x\n\n", "junk\n"]))
def test_split_diff_loses_no_byte_of_a_well_formed_diff(diff_paths, preamble):
    diff, paths = diff_paths
    sections = split_diff(preamble + diff)
    assert "".join(section for _, section in sections) == diff
    assert [path for path, _ in sections] == paths
    assert patch_files(preamble + diff) == list(dict.fromkeys(paths))


DIFF_LINES = st.sampled_from([
    "diff --git a/x.py b/x.py", "diff --git a/tests/test_x.py b/tests/test_x.py", "diff --git a/a b", "diff --git ",
    "--- a/x.py", "+++ b/x.py", "--- /dev/null", "+++ /dev/null", "@@ -1 +1 @@", "@@ -1,3 +1,2 @@", "@@ -0,0 +1 @@",
    "@@ garbage @@", "+x", "-y", " z", "\\ No newline at end of file", "new file mode 100644",
    "deleted file mode 100644",
    "index 123..456 100644", "Binary files a/x and b/x differ", "rename from a", "rename to b", "EOF_114329324912", "",
]) | CONTENT
RANDOM_PATCH = st.lists(DIFF_LINES, max_size=20).map(lambda lines: "\n".join(lines) + "\n") | TEXT


@fuzz(200)
@given(RANDOM_PATCH, st.sampled_from(["django/django", "sympy/sympy", "acme/widget", ""]))
def test_diff_helpers_never_raise_on_random_text(text, repo):
    sections = split_diff(text)
    start = re.search(r"(?m)^diff --git ", text)
    assert "".join(s for _, s in sections) == (text[start.start():] if start else "")
    assert all(isinstance(p, str) for p in patch_files(text))
    directives = get_test_directives(repo, text)
    assert all(isinstance(d, str) for d in directives)


def _eval_script(test_patch: str, eval_script: str | None = None) -> str:
    swe = SweSpec(instance_id="acme__widget-1", repo="acme/widget", version="1.0", base_commit="a" * 40,
                  environment_setup_commit="a" * 40, patch="", test_patch=test_patch, source="/mirror",
                  eval_script=eval_script)
    return make_test_spec(swe).eval_script


@fuzz(100)
@given(well_formed_diff())
def test_eval_script_of_a_well_formed_test_patch(diff_paths):
    diff, _ = diff_paths
    script = _eval_script(diff)
    assert script.startswith("#!/bin/bash\n") and diff in script


@fuzz(100)
@given(TEXT | RANDOM_PATCH)
def test_eval_script_from_a_rows_own_eval_script_never_raises(text):
    assert _eval_script("", eval_script=text or "x").startswith("#!/bin/bash\n")


@fuzz(100)
@example(text="@@ -1 +1 @@\n")
@given(RANDOM_PATCH)
def test_eval_script_of_a_random_test_patch_never_raises(text):
    assert _eval_script(text).startswith("#!/bin/bash\n")


LOG_LINES = st.sampled_from([
    ">>>>> Start Test Output", ">>>>> End Test Output", ">>>>> Tests Timed Out", "+ git apply -v -",
    "git apply -v - <<'EOF_114329324912'", "error: patch failed: x.py:1", "error: x.py: patch does not apply",
    "bash: pytest: command not found", "+ echo 127", "+ echo 0", "127", "PASSED tests/test_x.py::test_a",
    "FAILED tests/test_x.py::test_b - assert 0", "ImportError while importing test module '/testbed/t.py'.",
    "______ ERROR collecting tests/test_x.py ______", "E   ModuleNotFoundError: No module named 'x'",
    "E   ImportError: cannot import name 'y'", "Traceback (most recent call last):", "Killed", "MemoryError",
    "No space left on device", "Segmentation fault (core dumped)", "", "=" * 20,
]) | CONTENT
LOGS = st.lists(LOG_LINES, max_size=30).map("\n".join) | TEXT
STATUS_MAPS = st.dictionaries(TEXT, st.sampled_from(["PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL", "weird", ""]),
                              max_size=4)


@fuzz(250)
@given(LOGS, STATUS_MAPS)
def test_classify_eval_log_never_raises(log, statuses):
    fault = classify_eval_log(log, statuses)
    assert fault is None or (isinstance(fault, EnvFault) and fault.tier in ("environment", "ambiguous"))


# =====================================================================================================
# 7. Finished results are kept when a later write fails
# =====================================================================================================

class _Unprintable:
    def __str__(self) -> str:  # json.dumps(default=str) calls it: the writer is interrupted mid-attempt
        raise KeyboardInterrupt("killed while serialising an event")


def _circular() -> dict:
    loop: dict = {}
    loop["self"] = loop
    return loop


def _bad_events() -> list[tuple[str, list[Event] | None, AttemptRecord | None]]:
    """(what, events, record) for attempts whose write fails after the attempt row was inserted."""
    good = ModelCall(seq=0, t_start=0.0, t_end=1.0, prompt_tokens=1)
    def with_reply(reply: dict) -> list[Event]:  # unvalidated, as the tracer builds them
        return [good, ModelCall.model_construct(seq=1, t_start=1.0, t_end=2.0, reply=reply)]
    return [
        ("circular payload", with_reply({"loop": _circular()}), None),
        ("non-string key", with_reply({"nested": {(1, 2): "tuple key"}}), None),
        ("int past 4300 digits", with_reply({"n": 10 ** 5000}), None),
        ("interrupted str()", with_reply({"obj": _Unprintable()}), None),
        ("duplicate seq", [good, good], None),
        ("seq past sqlite int64", [ModelCall(seq=2 ** 70, t_start=0, t_end=1)], None),
        ("record not serialisable", [good], AttemptRecord.model_construct(
            task_id="t2", epoch=0, status="solved", answer=None, patch=None, score=None, error=None,
            totals=AttemptRecord.model_fields["totals"].default_factory(), metadata={"x": object()})),
        ("status outside the CHECK", [good], AttemptRecord.model_construct(
            task_id="t2", epoch=0, status="weird", answer=None, patch=None, score=None, error=None,
            totals=AttemptRecord.model_fields["totals"].default_factory(), metadata={})),
    ]


def test_a_failed_attempt_write_keeps_the_finished_attempts(tmp_path):
    store = RunStore.in_dir(tmp_path)
    first = AttemptRecord(task_id="t1", epoch=0, status="solved", answer="42")
    events = [ModelCall(seq=i, t_start=float(i), t_end=i + 0.5, prompt_tokens=i) for i in range(3)]
    first_id = store.add_attempt(first, events, 0.0, 1.0)

    failures = []
    for what, bad_events, record in _bad_events():
        record = record or AttemptRecord(task_id="t2", epoch=0, status="failed")
        try:
            store.add_attempt(record, bad_events, 1.0, 2.0)
        except BaseException as exc:  # noqa: B036 - KeyboardInterrupt is one of the cases
            failures.append((what, type(exc).__name__))
        else:
            failures.append((what, "no error"))
        # after each failure: nothing of the failed attempt, the finished one whole, the connection usable
        assert store.attempts() == [first], what
        assert [e.payload for e in store.events(first_id)] == [{"prompt_tokens": i} for i in range(3)], what
        assert store._db.execute("SELECT COUNT(*) FROM event WHERE attempt_id != ?", (first_id,)).fetchone() == (0,)
        assert not store._db.in_transaction, what
    assert all(outcome != "no error" for _, outcome in failures), failures

    second = AttemptRecord(task_id="t2", epoch=0, status="failed")
    store.add_attempt(second, [ModelCall(seq=0, t_start=0, t_end=1)], 1.0, 2.0)
    store.close()

    reopened = RunStore.in_dir(tmp_path)
    assert reopened.attempts() == [first, second]
    assert reopened.finished_keys() == {("t1", 0), ("t2", 0)}
    assert [t[:3] for t in reopened.all_tries()] == [("t1", 0, 0), ("t2", 0, 0)]  # no try number was burnt
    assert [e.seq for e in reopened.events(first_id)] == [0, 1, 2]
    assert reopened._db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reopened.close()
    with sqlite3.connect(tmp_path / "run.sqlite") as raw:  # a plain reader (report, compare) sees the same
        assert raw.execute("SELECT COUNT(*) FROM attempt").fetchone() == (2,)
