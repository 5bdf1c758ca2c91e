"""How often the embedded model's replies become parsed tool calls.

Starts the embedded vLLM server through agentbench's own code (`vllm_server_spec` with the default
`model.server.tool_call_parser: auto`, i.e. hermes and the SmolLM2 tool template), then sends each of N
gaia-mini task prompts with the reference `react` graph's system prompt and tools (bash, python,
final_answer; `tool_choice` left to the server's default, auto) the way LangChain's `bind_tools` does.
Counts per reply: HTTP 200, `tool_calls` parsed by vLLM, the call's name among the tools, and its arguments
valid JSON naming the tool's required parameters. Streaming and non-streaming both (the runner streams).
Non-streaming, a reply with a call also gets a second turn (its call and a `tool` result sent back):
`second_turn_calls` counts the second replies vLLM parsed a call from, `second_final` those calling final_answer.

    .venv/bin/python bench/tool_calls.py [--n 20] [--parser auto] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from langchain_core.utils.function_calling import convert_to_openai_tool  # noqa: E402

from agentbench.config.schema import ModelConfig, ServerConfig  # noqa: E402
from agentbench.models import embedded  # noqa: E402
from agentbench.models.server import ManagedServer  # noqa: E402
from agentbench.suites.loader import load_suite  # noqa: E402
from agentbench.graphs.react import SYSTEM_PROMPT, make_tools  # noqa: E402


def _stream_calls(lines: list[str]) -> tuple[list[dict], str]:
    """The tool calls and text a streamed reply adds up to (OpenAI's delta format)."""
    calls: dict[int, dict] = {}
    text = ""
    for line in lines:
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        for choice in json.loads(line[6:]).get("choices", []):
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            for tc in delta.get("tool_calls") or []:
                call = calls.setdefault(tc["index"], {"function": {"name": "", "arguments": ""}})
                fn = tc.get("function") or {}
                call["function"]["name"] += fn.get("name") or ""
                call["function"]["arguments"] += fn.get("arguments") or ""
    return [calls[i] for i in sorted(calls)], text


def _valid(call: dict, schemas: dict[str, dict]) -> bool:
    fn = call["function"]
    if fn["name"] not in schemas:
        return False
    try:
        args = json.loads(fn["arguments"] or "{}")
    except ValueError:
        return False
    required = schemas[fn["name"]]["parameters"].get("required", [])
    return isinstance(args, dict) and all(key in args for key in required)


async def measure(n: int, parser: str, max_tokens: int, stream: bool, base_url: str, cfg: ModelConfig) -> dict:
    tools = [convert_to_openai_tool(t) for t in make_tools(None)]  # the closures are never called here
    schemas = {t["function"]["name"]: t["function"] for t in tools}
    _, tasks = load_suite("gaia-mini")
    counts = {"requests": 0, "http_200": 0, "tool_calls": 0, "known_tool": 0, "valid_args": 0}
    if not stream:
        counts |= {"second_turn_calls": 0, "second_final": 0}
    examples: list[str] = []
    async with httpx.AsyncClient(timeout=300) as client:
        for task in (tasks * (n // len(tasks) + 1))[:n]:
            body = {"model": cfg.name, "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                                                     {"role": "user", "content": task.prompt}],
                    "tools": tools, "temperature": 0.0, "max_tokens": max_tokens, "stream": stream}
            counts["requests"] += 1
            if stream:
                async with client.stream("POST", base_url + "/chat/completions", json=body) as resp:
                    lines = [line async for line in resp.aiter_lines()] if resp.status_code == 200 else []
                    status = resp.status_code
                    detail = "" if status == 200 else (await resp.aread()).decode()[:300]
                calls, text = _stream_calls(lines)
            else:
                resp = await client.post(base_url + "/chat/completions", json=body)
                status, detail = resp.status_code, resp.text[:300]
                message = resp.json()["choices"][0]["message"] if status == 200 else {}
                calls, text = message.get("tool_calls") or [], message.get("content") or ""
            if status != 200:
                examples.append(f"HTTP {status}: {detail}")
                continue
            counts["http_200"] += 1
            counts["tool_calls"] += bool(calls)
            counts["known_tool"] += bool(calls) and all(c["function"]["name"] in schemas for c in calls)
            counts["valid_args"] += bool(calls) and all(_valid(c, schemas) for c in calls)
            if len(examples) < 4:
                examples.append(json.dumps([c["function"] for c in calls]) if calls else f"text: {text[:160]!r}")
            if calls and not stream:
                body["messages"] += [{"role": "assistant", "content": None, "tool_calls": calls[:1]},
                                     {"role": "tool", "tool_call_id": calls[0]["id"], "content": "exit code 0\n42"}]
                again = (await client.post(base_url + "/chat/completions", json=body)).json()
                second = again["choices"][0]["message"].get("tool_calls") or []
                counts["second_turn_calls"] += bool(second)
                counts["second_final"] += any(c["function"]["name"] == "final_answer" for c in second)
    return {"parser": parser, "stream": stream, **counts, "examples": examples}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--parser", default="auto")
    ap.add_argument("--max-tokens", type=int, default=128)
    args = ap.parse_args()
    cfg = ModelConfig(server=ServerConfig(tool_call_parser=args.parser))
    spec = embedded.vllm_server_spec(cfg, embedded.venv_python(), str(embedded.model_dir()))
    print("$", " ".join(spec.argv[3:]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        async with ManagedServer(spec, Path(tmp) / "server.log") as server:
            print(f"server up in {time.monotonic() - t0:.0f} s", flush=True)
            for stream in (False, True):
                t1 = time.monotonic()
                result = await measure(args.n, args.parser, args.max_tokens, stream, server.base_url, cfg)
                result["seconds"] = round(time.monotonic() - t1, 1)
                print(json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
