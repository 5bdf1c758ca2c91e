"""One attempt's conversation, rebuilt from its `model_call` events (plain dicts, no Inspect types).

The tracer stores each model call's whole prompt (`messages`, LangChain roles `system` / `human` / `ai` /
`tool`) and its `reply`. `conversation()` pools them: every message any call saw or produced, once, in the
order they first appeared — a call's prompt message is matched to one already pooled when it has the same
role, content and tool calls (the k-th equal message of a prompt to the k-th equal message pooled, so a
command output that repeats is kept twice), anything else is added, then the reply is added. Each call's
prompt is kept as indices into the pool (`prompts`), so per-call views (Inspect's model events) share the
messages instead of copying a growing chat at every step.

`final()` is the conversation as it ended: the last call's prompt and its reply — what the model saw at
its last turn, in its order (system prompt, few-shot examples, task, turns). A graph that trims its history
(coding's `max_history_chars`) ends with the trimmed window; the earlier calls still have theirs.

Pure: no I/O, no Inspect import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentbench.events import ModelCall

ROLES = {"system": "system", "human": "user", "user": "user", "ai": "assistant", "assistant": "assistant",
         "tool": "tool"}
"""LangChain message types (as the tracer stores them) → Inspect roles; any other type is a user message."""


@dataclass
class Conversation:
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The pool: `{"role", "content", "tool_calls"?}` as the tracer stored them; replies get role `ai`."""
    prompts: list[list[int]] = field(default_factory=list)
    """Per model call, in order: the indices of its prompt's messages."""
    replies: list[int | None] = field(default_factory=list)
    """Per model call: the index of its reply; None for a call a limit cancelled (no reply)."""


def _key(message: dict[str, Any]) -> tuple[str, str, str]:
    content = message.get("content")
    calls = message.get("tool_calls")
    return (ROLES.get(message.get("role") or "", "user"),
            content if isinstance(content, str) else json.dumps(content, sort_keys=True, default=str),
            json.dumps(calls, sort_keys=True, default=str) if calls else "")


def conversation(calls: Iterable[ModelCall]) -> Conversation:
    """The conversation of an attempt from its model calls, in event order (see the module doc)."""
    conv = Conversation()
    placed: dict[tuple[str, str, str], list[int]] = {}  # message key -> where its equal messages were placed
    for call in calls:
        seen: dict[tuple[str, str, str], int] = {}
        prompt: list[int] = []
        for message in call.messages:
            if not isinstance(message, dict):
                message = {"role": "human", "content": str(message)}
            key = _key(message)
            n = seen.get(key, 0)
            seen[key] = n + 1
            where = placed.setdefault(key, [])
            if n == len(where):
                where.append(len(conv.messages))
                conv.messages.append(message)
            prompt.append(where[n])
        conv.prompts.append(prompt)
        reply = call.reply
        if not isinstance(reply, dict) or call.cancelled:
            conv.replies.append(None)
            continue
        reply = {**reply, "role": "ai"}
        placed.setdefault(_key(reply), []).append(len(conv.messages))
        conv.replies.append(len(conv.messages))
        conv.messages.append(reply)
    return conv


def final(conv: Conversation) -> list[int]:
    """The conversation as it ended (indices into the pool): the last call's prompt, then its reply (none
    for a call a limit cancelled); empty without a model call."""
    if not conv.prompts:
        return []
    reply = conv.replies[-1]
    return conv.prompts[-1] + ([] if reply is None else [reply])


def text_of(content: Any) -> str:
    """A message's content as text: LangChain content blocks joined (text blocks by their text, any other
    block as JSON)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b["text"] if isinstance(b, dict) and isinstance(b.get("text"), str) else
                 b if isinstance(b, str) else json.dumps(b, default=str) for b in content]
        return "\n".join(parts)
    return "" if content is None else json.dumps(content, default=str)


def prompt_of(conv: Conversation) -> str | None:
    """The task prompt: the last user message of the first model call's prompt (the runner starts the graph
    with the prompt as its only message, so a first call ends with it; few-shot examples come before it),
    else the first user message of any call; None when no call had one."""
    for prompt in conv.prompts[:1]:
        for index in reversed(prompt):
            if ROLES.get(conv.messages[index].get("role") or "", "user") == "user":
                return text_of(conv.messages[index].get("content"))
    for message in conv.messages:
        if ROLES.get(message.get("role") or "", "user") == "user":
            return text_of(message.get("content"))
    return None
