"""Text helpers: `clip`, the one owner of "cut a long text to its head and tail with a marker between".

A leaf: imports nothing from agentbench; graphs may use it. Callers choose the share of the head and the
marker (the model's observations, the stored SWE-bench test log, an edit failure); the rule is one.

Not here, on purpose: byte streams captured while a command runs are bounded by
`agentbench.sandbox.base.OutputBuffer` (it never holds the whole stream), and
`agentbench/sandbox/exec_server.py` keeps its own stdlib-only copy of that rule inside containers.
"""

from __future__ import annotations

#: The default marker; `{dropped}` is the number of characters left out.
OMITTED = "\n[... {dropped} characters omitted ...]\n"


def clip(text: str, limit: int, *, head: int | None = None, marker: str = OMITTED) -> str:
    """`text` itself when it has at most `limit` characters. Otherwise its first `head` characters (default
    half of `limit`), then `marker` formatted with `dropped` (characters left out: `len(text) - limit`; use
    `{dropped:,}` for thousands separators, double any literal brace), then its last `limit - head`."""
    if len(text) <= limit:
        return text
    limit = max(limit, 0)
    head = limit // 2 if head is None else min(max(head, 0), limit)
    tail = limit - head
    return text[:head] + marker.format(dropped=len(text) - limit) + (text[len(text) - tail:] if tail else "")
