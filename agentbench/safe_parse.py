"""YAML and JSON from untrusted files, with one error type: PyYAML's constructors and the json module raise
many kinds of exception on hostile input (an `!!int` tag on an empty value, a calendar-invalid date, an
integer over 4,300 digits, nesting deep enough to exhaust the stack), and a loader must turn every one of
them into a message naming the file. A leaf: imports nothing from agentbench.

YAML is bounded before it is believed: aliases are cheap to write and expensive to walk (a 700-byte
"billion laughs" file names 10^9 nodes), so `yaml_text` measures the document as it would be once every
alias is expanded, before constructing anything, and refuses one whose aliases add more than
`MAX_ALIAS_NODES` nodes to those the text spells out, one nested deeper than `MAX_DEPTH`, or one that
contains itself (a recursive alias). Ordinary anchors and merge keys (`<<: *base`) stay well inside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


MAX_ALIAS_NODES = 100_000  # nodes aliases may add once expanded (the bundled recipe tables add < 1,000)
MAX_DEPTH = 100  # nesting, aliases expanded (a config nests < 10)


class ParseError(ValueError):
    """The text is not valid YAML / JSON; the message says why, in one line."""


class YamlBudgetError(ParseError):
    """Valid YAML refused for its size once aliases are expanded, its depth, or an alias to itself."""


def expanded_size(node: yaml.Node) -> tuple[int, int, int]:
    """(nodes once every alias is expanded, nodes spelled out, depth) of a composed YAML document,
    measured without expanding anything (each node once, iteratively); YamlBudgetError for a node that
    contains itself or nesting past MAX_DEPTH (which also keeps the counts' digits few)."""
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, depth)
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, closing = stack.pop()
        key = id(current)
        children: list[yaml.Node] = (
            [n for pair in current.value for n in pair] if isinstance(current, yaml.MappingNode)
            else list(current.value) if isinstance(current, yaml.SequenceNode) else [])
        if closing:
            open_.discard(key)
            size = 1 + sum(done[id(c)][0] for c in children)
            depth = 1 + max((done[id(c)][1] for c in children), default=0)
            if depth > MAX_DEPTH:
                raise YamlBudgetError(f"nested deeper than {MAX_DEPTH} levels (aliases expanded), at line "
                                      f"{current.start_mark.line + 1}")
            done[key] = (size, depth)
            continue
        if key in done:
            continue
        if key in open_:
            raise YamlBudgetError(f"a recursive alias: the node at line {current.start_mark.line + 1} "
                                  "contains itself")
        open_.add(key)
        stack.append((current, True))
        stack.extend((c, False) for c in children)
    return done[id(node)][0], len(done), done[id(node)][1]


class _BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses nesting past MAX_DEPTH while it scans flow brackets (the scanner reads up
    to 1,024 characters of a `[[[[...` line ahead before it emits a token, at a cost that grows with the
    square of the depth: 0.35 s) and while it composes (block nesting), and checks `expanded_size` between
    composing and constructing."""

    def __init__(self, text: str, max_alias_nodes: int = MAX_ALIAS_NODES) -> None:
        super().__init__(text)
        self.max_alias_nodes = max_alias_nodes
        self._depth = 0

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        super().fetch_flow_collection_start(token_class)
        if self.flow_level > MAX_DEPTH:
            raise YamlBudgetError(f"nested deeper than {MAX_DEPTH} levels, at line {self.get_mark().line + 1}")

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlBudgetError(f"nested deeper than {MAX_DEPTH} levels, at line "
                                      f"{self.peek_event().start_mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        total, spelled, _ = expanded_size(node)
        if total - spelled > self.max_alias_nodes:
            shown = f"{total:,}" if total < 10**15 else f"about 10^{len(str(total)) - 1}"
            raise YamlBudgetError(f"its aliases expand it to {shown} nodes from the {spelled:,} it spells out; at "
                                  f"most {self.max_alias_nodes:,} more are allowed (an alias bomb?): write the repeated "
                                  "parts out or nest fewer aliases")
        return self.construct_document(node)


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:400] if not isinstance(exc, yaml.YAMLError) else text[:400]


def yaml_text(text: str, max_alias_nodes: int = MAX_ALIAS_NODES) -> Any:
    """yaml.safe_load, bounded (nesting, `expanded_size`), that raises only ParseError."""
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text, max_alias_nodes)  # (its reader already refuses some characters)
        return loader.get_single_data()
    except ParseError:
        raise
    except (yaml.YAMLError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
            OverflowError) as exc:
        raise ParseError(_why(exc)) from None
    finally:
        if loader is not None:
            loader.dispose()


def json_text(text: str) -> Any:
    """json.loads that raises only ParseError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise ParseError(_why(exc)) from None


def read_text(path: Path) -> str:
    """The file as UTF-8 text; ParseError for a file that is not UTF-8, FileNotFoundError kept as it is,
    other OSErrors (a folder, a name too long) as ParseError."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ParseError(f"cannot be read: {exc.strerror or exc}") from None


def lines(text: str) -> list[str]:
    """Lines split on newline only: U+2028, U+2029 and U+0085 are valid inside JSON strings."""
    return text.split("\n")
