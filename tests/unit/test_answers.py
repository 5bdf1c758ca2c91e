"""Answers from any graph's final state (pure): the `answer` key, else the last AI message (qa)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agentbench.runner.answers import last_ai_text, take_answer
from agentbench.text import content_text, final_answer


def test_the_state_answer_key_wins_over_messages():
    final = {"answer": 42, "messages": [AIMessage("FINAL ANSWER: 7")]}
    assert take_answer(final, "qa") == ("42", "state")


def test_an_answer_key_holding_none_is_no_answer():
    assert take_answer({"answer": None, "messages": [AIMessage("FINAL ANSWER: 7")]}, "qa") == (None, "none")


def test_without_an_answer_key_the_last_ai_message_says_it():
    final = {"messages": [HumanMessage("q"), AIMessage("I think.\n**Final Answer:** 17\n"),
                          ToolMessage("out", tool_call_id="c")]}
    assert take_answer(final, "qa") == ("17", "last_message")


def test_a_last_reply_of_only_tool_calls_is_no_answer_not_an_earlier_text():
    final = {"messages": [HumanMessage("q"), AIMessage("Let me look."),
                          AIMessage("", tool_calls=[{"name": "bash", "args": {}, "id": "c"}])]}
    assert take_answer(final, "qa") == (None, "none")


def test_reasoning_is_not_the_answer_and_chunks_count():
    from langchain_core.messages import AIMessageChunk

    final = {"messages": [AIMessageChunk(content="<think>maybe 3</think>\n 4 ")]}
    assert take_answer(final, "qa") == ("4", "last_message")
    blocks = [{"type": "reasoning", "text": "hmm"}, {"type": "text", "text": None}, {"type": "text", "text": "5"}]
    assert take_answer({"messages": [AIMessage(blocks)]}, "qa") == ("5", "last_message")


def test_without_final_answer_the_whole_text_is_the_answer():
    final = {"messages": [HumanMessage("q"), AIMessage("  Paris  ")]}
    assert take_answer(final, "qa") == ("Paris", "last_message")


def test_content_blocks_are_joined():
    final = {"messages": [AIMessage([{"type": "text", "text": "FINAL ANSWER: "}, {"type": "text", "text": "9"}])]}
    assert take_answer(final, "qa") == ("9", "last_message")


@pytest.mark.parametrize("final", [{}, {"messages": []}, {"messages": [HumanMessage("only the prompt")]}, None, "x"])
def test_no_ai_text_is_no_answer(final):
    assert take_answer(final, "qa") == (None, "none")


def test_swe_attempts_take_no_answer_from_messages():
    assert take_answer({"messages": [AIMessage("FINAL ANSWER: 1")], "submitted": True}, "swe") == (None, "none")
    assert take_answer({"answer": "x"}, "swe") == ("x", "state")


def test_final_answer_and_content_text():
    assert final_answer("a\nFINAL ANSWER: x\nFinal answer: y") == "y"
    assert final_answer("FINAL ANSWER:\n\n  `z`  ") == "z"
    assert final_answer("FINAL ANSWER:") == "" and final_answer("no") is None
    assert content_text(None) == "" and content_text(["a", {"text": "b"}, {"type": "image_url", "image_url": 1}]) == "ab"
    assert last_ai_text("not a list") is None
