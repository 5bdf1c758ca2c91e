"""SWE-bench predictions made by any agent (SWE-agent, mini-swe-agent, OpenHands, Agentless, your own harness),
read as the official harness reads them (`swebench.harness.utils.get_predictions_from_file`), for
`agentbench grade`:

- `*.jsonl`: one JSON object a line: `instance_id`, `model_name_or_path`, `model_patch` (blank lines skipped);
- `*.json`: a JSON object keyed by instance_id (SWE-agent's and mini-swe-agent's `preds.json`; an entry
  without `instance_id` takes its key) or a JSON list of those objects.

`model_patch` is a unified diff, `""` or null (an empty patch); other keys are ignored. Stricter than the
harness where it would go on silently: an instance_id given twice (the harness keeps the last) and two
different `model_name_or_path` values in one file (one run grades one model) are errors. Every error names
the file, the line (JSON lines) or entry, and the field. Pure apart from `read_predictions` reading the file;
`match_suite` checks the ids against a suite the way the harness checks them against its dataset."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentbench.safe_parse import ParseError, json_text, lines, read_text
from agentbench.suites.errors import SuiteError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
SHOWN = 5  # ids listed in one message


class PredictionsError(SuiteError):
    """A predictions file that cannot be graded; the message names the file, the line or entry, the field."""


class Prediction(BaseModel):
    instance_id: str
    model_name_or_path: str | None = None
    model_patch: str | None = Field(None, description="a unified diff; None or blank: an empty patch")
    where: str = Field(description="where it was read: `line 3` (JSON lines), `entry 'id'`, `item 2` (JSON)")

    @property
    def empty(self) -> bool:
        """No patch to grade: the harness's `model_patch in ("", None)` (blank text too, as the grader does)."""
        return not (self.model_patch or "").strip()


class Predictions(BaseModel):
    source: str
    format: Literal["jsonl", "json-object", "json-list"]
    sha256: str = Field(description="of the file's text (16 hex)")
    model: str = Field(description="the model_name_or_path the predictions share (the file's stem when none "
                                   "gives one)")
    items: list[Prediction]

    def patches(self) -> dict[str, str | None]:
        return {p.instance_id: p.model_patch for p in self.items}


class SuiteMatch(BaseModel):
    """Which of the suite's instances get graded. `graded`: selected and predicted (suite order);
    `missing`: selected, no prediction (the harness's `incomplete`: not graded); `not_selected`: predicted
    but left out by the suite filters (suite.ids, levels, limit)."""

    graded: list[str]
    missing: list[str]
    not_selected: list[str]


def _fail(source: str, where: str, message: str, field: str | None = None) -> PredictionsError:
    place = f"{source}:{where.removeprefix('line ')}" if where.startswith("line ") else f"{source}: {where}"
    return PredictionsError(f"{place}: {f'field {field!r}: ' if field else ''}{message}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one(obj: Any, source: str, where: str, key: str | None = None) -> Prediction:
    """One prediction object checked field by field (`key`: its key in a JSON object of predictions)."""
    if not isinstance(obj, dict):
        raise _fail(source, where, f"expected a JSON object with instance_id and model_patch, got "
                                   f"{type(obj).__name__} {_shown(obj)}")
    instance_id = obj.get("instance_id", key)
    if instance_id is None:
        raise _fail(source, where, "missing (every prediction names its SWE-bench instance)", "instance_id")
    if not isinstance(instance_id, str) or not instance_id.strip():
        raise _fail(source, where, f"expected a non-empty string, got {_shown(instance_id)}", "instance_id")
    if key is not None and instance_id != key:
        raise _fail(source, where, f"{instance_id!r} differs from the entry's key {key!r}", "instance_id")
    if "model_patch" not in obj:
        raise _fail(source, where, "missing (a unified diff; \"\" or null for an empty patch)", "model_patch")
    for field in ("model_patch", "model_name_or_path"):
        if obj.get(field) is not None and not isinstance(obj[field], str):
            raise _fail(source, where, f"expected a string or null, got {type(obj[field]).__name__} "
                                       f"{_shown(obj[field])}", field)
    return Prediction(instance_id=instance_id, model_name_or_path=obj.get("model_name_or_path") or None,
                      model_patch=obj["model_patch"], where=where)


def _document(text: str, source: str) -> tuple[str, list[Prediction]]:
    try:
        data = json_text(text)
    except ParseError as exc:
        hint = (" (one object a line is JSON lines: name the file .jsonl)" if "Extra data" in str(exc) else "")
        raise PredictionsError(f"{source}: not valid JSON: {exc}{hint}") from None
    if isinstance(data, dict):
        return "json-object", [_one(v, source, f"entry {k!r}", key=k) for k, v in data.items()]
    if isinstance(data, list):
        return "json-list", [_one(v, source, f"item {i}") for i, v in enumerate(data, 1)]
    raise PredictionsError(f"{source}: expected a JSON object keyed by instance_id or a JSON list of predictions, "
                           f"got {type(data).__name__}")


def _lines(text: str, source: str) -> list[Prediction]:
    found = []
    for number, line in enumerate(lines(text), 1):
        if not line.strip():
            continue
        try:
            obj = json_text(line)
        except ParseError as exc:
            raise PredictionsError(f"{source}:{number}: not valid JSON: {exc}") from None
        found.append(_one(obj, source, f"line {number}"))
    return found


def parse_predictions(text: str, source: str, fmt: Literal["json", "jsonl"]) -> Predictions:
    """The predictions in `text` (read from `source`, named in errors) as the official harness reads a
    `.json` (fmt json) or `.jsonl` file; PredictionsError for anything it could not grade."""
    kind, items = ("jsonl", _lines(text, source)) if fmt == "jsonl" else _document(text, source)
    if not items:
        raise PredictionsError(f"{source}: no predictions in it")
    first: dict[str, Prediction] = {}
    for p in items:
        if p.instance_id in first:
            raise _fail(source, p.where, f"{p.instance_id!r} is predicted twice (also at "
                                         f"{first[p.instance_id].where}); keep one", "instance_id")
        first[p.instance_id] = p
    names: dict[str, Prediction] = {}
    for p in items:
        if p.model_name_or_path is not None:
            names.setdefault(p.model_name_or_path, p)
    if len(names) > 1:
        (a, pa), (b, pb) = list(names.items())[:2]
        raise _fail(source, pb.where, f"{b!r} differs from {a!r} ({pa.where}); one run grades one model's "
                                      "predictions: split the file", "model_name_or_path")
    model = next(iter(names), None) or Path(source).stem or "predictions"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return Predictions(source=source, format=kind, sha256=digest, model=model, items=items)


def read_predictions(path: Path) -> Predictions:
    """`path` read and parsed: `.jsonl` / `.ndjson` as JSON lines, anything else as one JSON document."""
    path = Path(path)
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise PredictionsError(f"{path}: no such predictions file") from None
    except ParseError as exc:
        raise PredictionsError(f"{path}: {exc}") from None
    return parse_predictions(text, str(path), "jsonl" if path.suffix.lower() in JSONL_SUFFIXES else "json")


def _listed(ids: list[str]) -> str:
    return ", ".join(ids[:SHOWN]) + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")


def match_suite(predictions: Predictions, suite: str, suite_ids: list[str], selected: list[str]) -> SuiteMatch:
    """The instances to grade: `selected` (the suite's ids after its filters, in order) that have a
    prediction. PredictionsError for a prediction whose instance the suite (`suite_ids`, unfiltered) does
    not have, as the harness refuses ids its dataset lacks, and when no selected instance has one."""
    known = set(suite_ids)
    unknown = [p for p in predictions.items if p.instance_id not in known]
    if unknown:
        shown = _listed([f"{p.instance_id} ({p.where})" for p in unknown])
        raise PredictionsError(f"{predictions.source}: field 'instance_id': {len(unknown)} not in suite {suite} "
                               f"({len(known)} instances): {shown}")
    predicted = set(predictions.patches())
    wanted = set(selected)
    match = SuiteMatch(graded=[i for i in selected if i in predicted], missing=[i for i in selected if i not in predicted],
                       not_selected=[p.instance_id for p in predictions.items if p.instance_id not in wanted])
    if not match.graded:
        raise PredictionsError(f"{predictions.source}: none of its {len(predictions.items)} predictions is for an "
                               f"instance selected from suite {suite} (the suite filters leave "
                               f"{_listed(list(selected)) or 'none'})")
    return match


def missing_note(match: SuiteMatch) -> str | None:
    """The line that says which selected instances are not graded, as the harness counts them."""
    if not match.missing:
        return None
    return (f"{len(match.missing)} selected instance(s) have no prediction and are not graded (the SWE-bench harness "
            f"counts them `incomplete`, not resolved): {_listed(match.missing)}")
