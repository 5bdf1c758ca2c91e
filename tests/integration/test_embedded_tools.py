"""Tool calling on the real embedded vLLM server. Started from the default config (`tool_call_parser: auto`:
hermes and the SmolLM2 tool template) it accepts requests with `tools`, as LangChain's `bind_tools` sends
them, streaming or not, and a conversation that carries tool calls and results. Started with the parser
off, the first tool-bearing request of a run is refused with vLLM's own 400 and the run stops at once."""

from __future__ import annotations

import httpx
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai import ChatOpenAI

from agentbench.store import RunStore
from agentbench.graphs.react import make_tools

from .conftest import ROOT, run_cli

TOOLS = [convert_to_openai_tool(t) for t in make_tools(None)]  # bash, python, final_answer (never called here)


def test_a_request_with_tools_is_accepted_and_tool_turns_render(embedded_url):
    call = {"id": "call_1", "type": "function", "function": {"name": "python", "arguments": '{"code": "print(6*7)"}'}}
    conversations = [
        [{"role": "user", "content": "What is 6 times 7?"}],
        [{"role": "user", "content": "What is 6 times 7?"},
         {"role": "assistant", "content": None, "tool_calls": [call]},
         {"role": "tool", "tool_call_id": "call_1", "content": "42"}]]
    with httpx.Client(timeout=120) as client:
        for messages in conversations:
            resp = client.post(embedded_url + "/chat/completions", json={
                "model": "smollm2-135m-instruct", "messages": messages, "tools": TOOLS, "tool_choice": "auto",
                "max_tokens": 48, "temperature": 0})
            assert resp.status_code == 200, resp.text
            message = resp.json()["choices"][0]["message"]
            for made in message.get("tool_calls") or []:  # whatever the 135M model wrote, vLLM parsed it
                assert made["function"]["name"] and isinstance(made["function"]["arguments"], str)


async def test_bind_tools_streaming_gets_a_reply(embedded_url):
    model = ChatOpenAI(base_url=embedded_url, api_key="none", model="smollm2-135m-instruct", max_tokens=48,
                       temperature=0, streaming=True, stream_usage=True).bind_tools(make_tools(None))
    reply = await model.ainvoke([HumanMessage("What is 6 times 7?"),
                                 AIMessage("", tool_calls=[{"id": "c1", "name": "python", "args": {"code": "6*7"}}]),
                                 ToolMessage("42", tool_call_id="c1")])
    assert isinstance(reply, AIMessage) and (reply.content or reply.tool_calls or reply.invalid_tool_calls)
    assert reply.usage_metadata["input_tokens"] > 0


def test_with_the_parser_off_the_run_stops_at_the_first_refusal(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet",
                   "--set", "graph=react", "--set", "model.server.tool_call_parser=none",
                   "--set", "suite.ids=[gm-l1-001, gm-l1-002, gm-l1-003]", "--set", "run.concurrency=1",
                   "--set", "sandbox.backend=local", check=False)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.count("model.server.tool_call_parser is 'none'") == 1, proc.stderr[-2000:]
    assert "--enable-auto-tool-choice and --tool-call-parser" in proc.stderr  # vLLM's own words
    store = RunStore.in_dir(out)
    try:
        assert [(a.status, a.reason) for a in store.attempts()] == [("error", "tool_calls")]
    finally:
        store.close()
