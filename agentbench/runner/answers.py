"""Where an attempt's answer comes from (pure): the graph's final state, or its last AI message.

A graph written the usual LangGraph way (`create_react_agent`, a ToolNode loop, `MessagesState`) ends with
the model's reply as the last message and no `answer` key. For `qa` tasks the answer is then taken from
the last AI message: the text after `FINAL ANSWER:` when it says so (GAIA's convention), else its whole
text. `answer_source` records which: `state` (the `answer` key), `last_message`, `none` (the graph gave
no answer: an `answer` key holding None, or no AI message with text). `swe` attempts are judged by their
diff; their answer is only what the state holds (the optional `submitted` key is read elsewhere).

LangGraph's prebuilt ReAct agent does not raise at its recursion limit: one superstep before it, it ends
with a fixed reply instead (`PREBUILT_OUT_OF_STEPS`). That reply is a limit, not an answer
(`out_of_supersteps`).
"""

from __future__ import annotations

import re
from typing import Any

from agentbench.protocols import AnswerSource, TaskKind
from agentbench.text import content_text, final_answer


PREBUILT_OUT_OF_STEPS = "Sorry, need more steps to process this request."  # langgraph.prebuilt's reply


def out_of_supersteps(final: Any) -> bool:
    """Whether the graph ended on the prebuilt agent's "need more steps" reply (its recursion limit)."""
    messages = final.get("messages") if isinstance(final, dict) else None
    if not isinstance(messages, (list, tuple)) or not messages:
        return False
    last = messages[-1]
    return getattr(last, "type", None) == "ai" and content_text(getattr(last, "content", "")) == PREBUILT_OUT_OF_STEPS


_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
AI_TYPES = ("ai", "AIMessageChunk")


def last_ai_text(messages: Any) -> str | None:
    """The text of the last AI message (reasoning in `<think>` tags left out), or None when it has none
    (a reply that is only tool calls) or there is no AI message."""
    if not isinstance(messages, (list, tuple)):
        return None
    for message in reversed(messages):
        if getattr(message, "type", None) in AI_TYPES:
            text = _THINK.sub("", content_text(getattr(message, "content", ""))).strip()
            return text or None
    return None


def take_answer(final: Any, kind: TaskKind) -> tuple[str | None, AnswerSource]:
    """(answer, source) from a graph's final state."""
    if not isinstance(final, dict):
        return None, "none"
    if "answer" in final:
        answer = final["answer"]
        return (None, "none") if answer is None else (str(answer), "state")
    if kind != "qa":
        return None, "none"
    text = last_ai_text(final.get("messages"))
    if text is None:
        return None, "none"
    said = final_answer(text)
    return (text if said is None else said), "last_message"
