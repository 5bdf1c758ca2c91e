"""Answers of a model endpoint that no retry and no later attempt can change, recognised from the error the
model client raised (pure). The attempt's attribution (`attribution.attribute`) gives them their own reason, and the
run stops on the first one (`executors.base.ExecContext.stored`) instead of spending every attempt on it."""

from __future__ import annotations

import re

# vLLM: '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set' and
# 'tool_choice="required" requires --tool-call-parser to be set'; Ollama: 'MODEL does not support tools';
# llama.cpp's server: 'tools param requires --jinja flag'.
_TOOL_REFUSAL = re.compile(r"tool.?choice.{0,80}requires --(enable-auto-tool-choice|tool-call-parser)"
                           r"|does not support tools|tools param requires --jinja", re.IGNORECASE | re.DOTALL)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an error carries (openai.APIStatusError and LangChain's wrappers: `status_code`;
    httpx.HTTPStatusError: its response's), else None."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def is_tool_choice_refusal(exc: BaseException) -> bool:
    """Whether `exc` is an endpoint's HTTP 400 refusing the request's `tools` / `tool_choice` because the server
    parses no tool calls (vLLM started without --enable-auto-tool-choice --tool-call-parser, and the like)."""
    return http_status(exc) == 400 and bool(_TOOL_REFUSAL.search(str(exc)))
