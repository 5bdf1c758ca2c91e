"""Read an experiment file, apply `--set key=value` overrides, validate, and report errors by file and key."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from agentbench.config.schema import ExperimentConfig
from agentbench.redact import Redactor
from agentbench.safe_parse import ParseError, YamlBudgetError, read_text, yaml_text


class ConfigError(ValueError):
    """A malformed experiment file or override; the message names the file and the key."""


def parse_override(text: str) -> tuple[list[str], Any]:
    """`model.temperature=0.2` -> (["model", "temperature"], 0.2). Values are parsed as YAML scalars/lists."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. model.temperature=0.2")
    path = [part for part in key.strip().split(".")]
    if _is_plain_str_field(path):  # taken verbatim, never parsed
        return path, raw
    try:
        value = yaml_text(raw) if raw.strip() else ""
    except ParseError as exc:
        raise ConfigError(f"--set {text!r}: value is not valid YAML: {exc}") from None
    return path, value


def _is_plain_str_field(path: list[str]) -> bool:
    """True when the dotted path ends at a field typed exactly `str` (its override text is taken verbatim,
    so `graph=null` names the null graph instead of meaning None)."""
    model: Any = ExperimentConfig
    for i, part in enumerate(path):
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return False
        annotation = fields[part].annotation
        if i == len(path) - 1:
            return annotation is str
        model = annotation
    return False


def apply_override(data: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """Return a copy of `data` with the dotted `path` set to `value` (intermediate mappings created)."""
    out = dict(data)
    node = out
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {'.'.join(path[: i + 1])} is not a section")
        node[part] = dict(child)
        node = node[part]
    node[path[-1]] = value
    return out


_LEAF = object()  # a typed value: what follows it in an error's location is a union member's tag, not a key


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X, `Annotated[X, ...]` -> X; a union of several types -> _LEAF."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(members[0]) if len(members) == 1 else _LEAF
    return annotation


def _child(node: Any, part: Any) -> Any:
    """The type at `part` below `node` (a section, a mapping or list type); None where free-form (Any, an
    unknown key), _LEAF past a typed value."""
    if isinstance(node, type) and issubclass(node, BaseModel):
        field = node.model_fields.get(str(part))
        return None if field is None else _unwrap(field.annotation)
    if typing.get_origin(node) in (list, dict):
        return _unwrap(typing.get_args(node)[-1])
    return None if node is Any else _LEAF


def field_key(loc: tuple[Any, ...]) -> str:
    """A validation error's location as the dotted key the user wrote: pydantic's union member tags
    (`bool`, `literal['auto']`) after a field are left out; free-form values (graph_params) keep every part."""
    parts: list[str] = []
    node: Any = ExperimentConfig
    for part in loc:
        if node is _LEAF:
            break
        parts.append(str(part))
        node = node if node is None else _child(node, part)
    return ".".join(parts) or "(top level)"


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid experiment config"]
    for err in exc.errors():
        key = field_key(err["loc"])
        if err["type"] == "extra_forbidden":
            hint = " (secrets go in the environment: use model.api_key_env)" if key.endswith("api_key") else ""
            lines.append(f"  {key}: unknown key{hint}")
        else:
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def validate(data: dict[str, Any], source: str) -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None


def load_experiment(path: Path | None, overrides: list[str] = ()) -> ExperimentConfig:
    """Load `path` (or the defaults when None), apply overrides in order, validate."""
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml_text(read_text(Path(path)))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such experiment file") from None
        except ParseError as exc:
            raise ConfigError(f"{path}: {'refused' if isinstance(exc, YamlBudgetError) else 'not valid YAML'}: "
                              f"{exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(loaded).__name__}")
        data = loaded
    for text in overrides:
        key_path, value = parse_override(text)
        data = apply_override(data, key_path, value)
    if overrides:
        source += f" (with --set {', '.join(overrides)})"
    return validate(data, source)


def dump_config(cfg: ExperimentConfig, redactor: Redactor | None = None) -> str:
    """The resolved config as YAML, as it may be written: its secrets masked (agentbench.redact; the
    `redactor` built from `cfg` itself when not given)."""
    redactor = Redactor.from_config(cfg) if redactor is None else redactor
    return yaml.safe_dump(redactor.config(cfg), sort_keys=False)
