"""Text helpers: `clip`, the one owner of "cut a long text to its head and tail with a marker between";
`final_answer`, the one reading of GAIA's `FINAL ANSWER: <answer>` convention (our graphs' action parser
and the runner's answer from a graph's last message both use it); `content_text`, a chat message's text.

A leaf: imports nothing from agentbench; graphs may use it. Callers choose the share of the head and the
marker (the model's observations, the stored SWE-bench test log, an edit failure); the rule is one.

Not here, on purpose: byte streams captured while a command runs are bounded by
`agentbench.sandbox.base.OutputBuffer` (it never holds the whole stream), and
`agentbench/sandbox/exec_server.py` keeps its own stdlib-only copy of that rule inside containers.
"""

from __future__ import annotations

import re
from typing import Any

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


_FINAL = re.compile(r"final[ \t]*answer[*_ \t]*:", re.IGNORECASE)
_STRIP = " \t\r\n`'\"*"


def final_answer(text: str) -> str | None:
    """The text after the last `FINAL ANSWER:` (any case, markdown emphasis allowed) on its line, or on the
    next non-empty line; "" when nothing follows it; None when the text has no `FINAL ANSWER:`."""
    matches = list(_FINAL.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end():]
    for line in rest.splitlines() or [""]:
        cleaned = line.strip(_STRIP)
        if cleaned:
            return cleaned
    return ""


def opens_with_final_answer(text: str) -> bool:
    """Whether `text` starts (after blanks, quotes and emphasis) with `FINAL ANSWER:`."""
    return bool(_FINAL.match(text.lstrip(_STRIP)))


def content_text(content: Any) -> str:
    """A chat message's `content` as text: a string as is; a list of parts (OpenAI / LangChain content
    blocks) joined: strings and `text` blocks only (reasoning, images and tool blocks are not text)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part if isinstance(part, str) else part["text"] for part in content
                       if isinstance(part, str) or (isinstance(part, dict) and part.get("type", "text") == "text"
                                                    and isinstance(part.get("text"), str)))
    return "" if content is None else str(content)
