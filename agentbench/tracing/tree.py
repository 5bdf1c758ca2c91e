"""An attempt's events as a tree of node spans: the one place flat events are nested (OTel, Inspect,
report.html's traces and `agentbench show` all read it).

A node span is a `node_start` and the `node_end` that closes it, holding the events that happened in it and
the node spans started inside it (a subgraph's nodes inside the node that runs the subgraph):

- a `node_start` opens a span inside the innermost span still open (at the top level when none is);
- a `node_end` closes the open span of its node that started at its `t_start` (a node_end carries its
  node's start), else the innermost open span of its node; one that closes nothing stays an event where it
  is; a span never closed (a store cut short) has `end` None;
- any other event sits in the innermost open span of its `node`, else in the innermost open span (an event
  the tracer still names after a node that ended inside it), else at the top level;
- a sandbox command run inside a LangChain tool's time is `tool_of` that tool (the tool_call is recorded when
  the tool ends, after its commands): the first tool_call beside it (same span) whose time holds its time.

`SpanTree.walk()` gives the tree in order: a span when it opens, its items, its `Closed` end; for a graph
whose nodes run one after another that is the store's order. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Union

from agentbench.events import Event, NodeEnd, NodeStart, SandboxExec, ToolCall


@dataclass(eq=False)
class NodeSpan:
    """One run of a graph node: its `start`, what happened in it (`items`, in order), its `end`."""

    start: NodeStart
    parent: NodeSpan | None = None
    items: list[Item] = field(default_factory=list)
    end: NodeEnd | None = None

    @property
    def name(self) -> str:
        return self.start.node or ""


Item = Union[NodeSpan, Event]


@dataclass(frozen=True, eq=False)
class Closed:
    """Where `walk()` reaches the end of `span` (its `node_end`, `span.end`)."""

    span: NodeSpan

    @property
    def event(self) -> NodeEnd:
        assert self.span.end is not None
        return self.span.end


Step = Union[NodeSpan, Closed, Event]


@dataclass
class SpanTree:
    events: list[Event]
    """The events as given (the store's order)."""
    top: list[Item] = field(default_factory=list)
    """What sits at the top level: spans not inside another, events outside every span."""
    spans: list[NodeSpan] = field(default_factory=list)
    """Every node span, in start order."""
    tool_of: dict[int, ToolCall] = field(default_factory=dict)
    """seq of a sandbox_exec -> the tool_call it ran inside."""

    def walk(self) -> Iterator[tuple[Step, NodeSpan | None]]:
        """(step, the span it sits in or None at the top level), in tree order (see the module doc)."""
        stack: list[tuple[Iterator[Item], NodeSpan | None]] = [(iter(self.top), None)]
        while stack:
            items, holder = stack[-1]
            item = next(items, None)
            if item is None:
                stack.pop()
                if holder is not None and holder.end is not None:
                    yield Closed(holder), holder.parent
            elif isinstance(item, NodeSpan):
                yield item, holder
                stack.append((iter(item.items), item))
            else:
                yield item, holder


def event_of(step: Step) -> Event:
    """The stored event a step of `walk()` stands for: a span's node_start, a `Closed`'s node_end, an event."""
    if isinstance(step, NodeSpan):
        return step.start
    return step.event if isinstance(step, Closed) else step


def _closed_by(open_spans: list[NodeSpan], end: NodeEnd) -> NodeSpan | None:
    mine = [s for s in open_spans if s.name == (end.node or "")]
    return next((s for s in reversed(mine) if s.start.t_start == end.t_start), mine[-1] if mine else None)


def _held_by_tools(items: list[Item], tool_of: dict[int, ToolCall]) -> None:
    tools = [e for e in items if isinstance(e, ToolCall)]
    if not tools:
        return
    for e in items:
        if isinstance(e, SandboxExec):
            holder = next((t for t in tools if t.t_start <= e.t_start and max(e.t_end, e.t_start)
                           <= max(t.t_end, t.t_start)), None)
            if holder is not None:
                tool_of[e.seq] = holder


def span_tree(events: Iterable[Event]) -> SpanTree:
    """The events nested into node spans (see the module doc)."""
    tree = SpanTree(events=list(events))
    open_spans: list[NodeSpan] = []
    for event in tree.events:
        if isinstance(event, NodeStart):
            parent = open_spans[-1] if open_spans else None
            span = NodeSpan(event, parent)
            (parent.items if parent is not None else tree.top).append(span)
            tree.spans.append(span)
            open_spans.append(span)
            continue
        if isinstance(event, NodeEnd) and (span := _closed_by(open_spans, event)) is not None:
            span.end = event
            open_spans.remove(span)
            continue
        holder = next((s for s in reversed(open_spans) if s.name == (event.node or "")),
                      open_spans[-1] if open_spans else None)
        (holder.items if holder is not None else tree.top).append(event)
    _held_by_tools(tree.top, tree.tool_of)
    for span in tree.spans:
        _held_by_tools(span.items, tree.tool_of)
    return tree
