"""Tool calling on vLLM, the pure parts: which parser `tool_call_parser: auto` picks for a model, the flags
the managed server gets, the SmolLM2 tool template, how a server's refusal of `tools` is recognised and
attributed, and the one message that stops the run."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import httpx
import jinja2
import openai
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from agentbench.config.schema import ModelConfig, ServerConfig
from agentbench.models import embedded
from agentbench.models.embedded import engine_args, vllm_server_spec
from agentbench.models.tool_calls import (PARSERS, SMOLLM2_TEMPLATE, resolve_tool_parser, tool_calls_message,
                                          tool_parser_for)
from agentbench.runner.attribution import attribute
from agentbench.runner.refusals import is_tool_choice_refusal

VLLM_AUTO = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
VLLM_REQUIRED = 'tool_choice="required" requires --tool-call-parser to be set'

# -- the parser for a model ----------------------------------------------------------------------------

MODELS = {
    "Qwen/Qwen2.5-7B-Instruct": "hermes",
    "Qwen/Qwen3-8B": "hermes",
    "Qwen/QwQ-32B": "hermes",
    "Qwen/Qwen3-Coder-30B-A3B-Instruct": "qwen3_coder",
    "NousResearch/Hermes-3-Llama-3.1-8B": "hermes",
    "meta-llama/Llama-3.1-8B-Instruct": "llama3_json",
    "meta-llama/Meta-Llama-3.1-70B-Instruct": "llama3_json",
    "meta-llama/Llama-3.2-3B-Instruct": "llama3_json",
    "meta-llama/Llama-3.3-70B-Instruct": "llama3_json",
    "meta-llama/Llama-4-Scout-17B-16E-Instruct": "llama4_pythonic",
    "mistralai/Mistral-7B-Instruct-v0.3": "mistral",
    "mistralai/Mixtral-8x7B-Instruct-v0.1": "mistral",
    "mistralai/Devstral-Small-2505": "mistral",
    "ibm-granite/granite-3.3-8b-instruct": "granite",
    "ibm-granite/granite-4.0-h-small": "granite4",
    "ibm-granite/granite-20b-functioncalling": "granite-20b-fc",
    "deepseek-ai/DeepSeek-V3.1": "deepseek_v31",
    "deepseek-ai/DeepSeek-V3-0324": "deepseek_v3",
    "openai/gpt-oss-20b": "openai",
    "HuggingFaceTB/SmolLM2-1.7B-Instruct": "hermes",
    "/work/main/.cache/models/smollm2-135m-instruct": "hermes",  # the embedded default's folder
    "/models/qwen-stuff/Llama-3.1-8B-Instruct": "llama3_json",  # a path: its last folder names the model
    "meta-llama/Llama-2-7b-chat-hf": None,  # no tool-call format of its own
    "/models/checkpoint-1200": None,
}


@pytest.mark.parametrize("model,parser", MODELS.items())
def test_auto_picks_the_parser_of_the_model_family(model, parser):
    assert tool_parser_for(model) == parser


def test_every_parser_named_is_one_the_installed_vllm_registers():
    """PARSERS names only parsers that vLLM has: read from the embedded vLLM's registry (without importing it)."""
    found = sorted(embedded.venv_dir().glob("lib/python*/site-packages/vllm/tool_parsers/__init__.py"))
    if not found:
        pytest.skip("the embedded vLLM is not installed (agentbench model setup)")
    tree = ast.parse(found[0].read_text())
    table = next(node.value for node in ast.walk(tree) if isinstance(node, ast.AnnAssign | ast.Assign)
                 and "_TOOL_PARSERS_TO_REGISTER" in ast.unparse(node.targets[0] if isinstance(node, ast.Assign)
                                                                else node.target))
    registered = {key.value for key in table.keys}
    assert {parser for _, parser in PARSERS} <= registered, sorted({p for _, p in PARSERS} - registered)


@pytest.mark.parametrize("setting,expected", [
    ("auto", "hermes"), ("AUTO", "hermes"), (None, None), ("none", None), ("null", None), ("off", None),
    ("llama3_json", "llama3_json"), ("my_plugin_parser", "my_plugin_parser")])
def test_the_setting_resolves_auto_off_or_a_name_as_is(setting, expected):
    assert resolve_tool_parser(setting, "Qwen/Qwen2.5-7B-Instruct") == expected


def test_auto_falls_back_to_the_served_name():
    assert resolve_tool_parser("auto", "/models/checkpoint-1200", "qwen2.5-7b-instruct") == "hermes"
    assert resolve_tool_parser("auto", "/models/checkpoint-1200", "my-model") is None


# -- the managed server's flags ------------------------------------------------------------------------

def test_the_embedded_default_serves_hermes_with_the_tool_template():
    cfg = ModelConfig()
    assert cfg.server.tool_call_parser == "auto"
    argv = vllm_server_spec(cfg, Path("/venv/bin/python"), str(embedded.model_dir())).argv
    at = argv.index("--tool-call-parser")
    assert argv[at - 1] == "--enable-auto-tool-choice" and argv[at + 1] == "hermes"
    assert Path(argv[argv.index("--chat-template") + 1]) == SMOLLM2_TEMPLATE and SMOLLM2_TEMPLATE.is_file()


def test_engine_args_for_tools_off_explicit_and_a_users_template():
    model = "/models/smollm2-360m-instruct"
    assert "--tool-call-parser" not in engine_args(ServerConfig(tool_call_parser=None), model)
    assert "--tool-call-parser" not in engine_args(ServerConfig(tool_call_parser="none"), model)
    assert engine_args(ServerConfig(), "/models/checkpoint-1200") == ["--enforce-eager"]  # auto, nothing known
    args = engine_args(ServerConfig(tool_call_parser="pythonic"), model)
    assert args[args.index("--tool-call-parser") + 1] == "pythonic" and "--chat-template" not in args
    own = engine_args(ServerConfig(extra_args=["--chat-template", "/t.jinja"]), model)
    assert own.count("--chat-template") == 1 and own[-2:] == ["--chat-template", "/t.jinja"]
    qwen = engine_args(ServerConfig(), "Qwen/Qwen2.5-7B-Instruct")
    assert qwen[qwen.index("--tool-call-parser") + 1] == "hermes" and "--chat-template" not in qwen


# -- the template --------------------------------------------------------------------------------------

SMOLLM2_OWN = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
               "'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' "
               "}}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
               "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
TOOLS = [{"type": "function", "function": {
    "name": "bash", "description": "Run a command.", "parameters": {
        "type": "object", "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
        "required": ["command"]}}},
    {"type": "function", "function": {"name": "lookup", "description": "Look up a word.",
                                      "parameters": {"type": "object", "properties": {"word": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "final_answer", "description": "Answer.",
                                      "parameters": {"type": "object", "properties": {"answer": {"type": "string"}}}}}]


def render(template: str, messages: list[dict], **kw) -> str:
    """As transformers renders chat templates: a sandbox with trim_blocks / lstrip_blocks, its `tojson`."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.Undefined)
    env.filters["tojson"] = lambda x, indent=None: json.dumps(x, ensure_ascii=False, indent=indent)
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, **kw)


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": "What is 2 + 2?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]])
def test_without_tools_the_template_renders_as_smollm2s_own(messages):
    ours = SMOLLM2_TEMPLATE.read_text()
    assert render(ours, messages) == render(SMOLLM2_OWN, messages)
    assert render(ours, messages, tools=None) == render(SMOLLM2_OWN, messages)


def test_with_tools_the_template_lists_them_and_writes_calls_as_hermes_reads_them():
    call = {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}
    text = render(SMOLLM2_TEMPLATE.read_text(), [
        {"role": "system", "content": "You solve tasks."}, {"role": "user", "content": "How many files?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "a.txt\nb.txt"}], tools=TOOLS)
    assert text.startswith("<|im_start|>system\nYou solve tasks.\n") and text.count("<|im_start|>system") == 1
    for tool in TOOLS:
        assert json.dumps(tool["function"]) in text
    # two example turns, calling the first two tools with their parameters; then the conversation itself
    calls = [json.loads(block.split("</tool_call>")[0]) for block in text.split("<tool_call>\n")[1:]]
    assert calls == [{"name": "bash", "arguments": {"command": "ls", "timeout": 1}},
                     {"name": "lookup", "arguments": {"word": "example"}},
                     {"name": "bash", "arguments": {"command": "ls"}}]
    assert "<|im_start|>tool\na.txt\nb.txt<|im_end|>\n" in text and text.endswith("<|im_start|>assistant\n")
    assert text.index("How many files?") > text.index('"lookup"', text.index("</tools>"))


# -- a server refusing tools ---------------------------------------------------------------------------

async def refusal(status: int, body: dict) -> openai.APIStatusError:
    """What the OpenAI client raises for this HTTP answer to a chat request with tools."""
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    client = openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0,
                                http_client=httpx.AsyncClient(transport=transport))
    with pytest.raises(openai.APIStatusError) as err:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                             tools=[TOOLS[0]])
    return err.value


async def test_vllms_refusal_is_recognised_in_both_its_body_shapes():
    new = await refusal(400, {"error": {"message": VLLM_AUTO, "type": "BadRequestError", "code": 400}})
    old = await refusal(400, {"object": "error", "message": VLLM_AUTO, "type": "BadRequestError", "code": 400})
    required = await refusal(400, {"error": {"message": VLLM_REQUIRED, "code": 400}})
    assert isinstance(new, openai.BadRequestError)
    assert is_tool_choice_refusal(new) and is_tool_choice_refusal(old) and is_tool_choice_refusal(required)


async def test_other_answers_are_not_a_tool_refusal():
    context = await refusal(400, {"error": {"message": "This model's maximum context length is 4096 tokens"}})
    server = await refusal(500, {"error": {"message": VLLM_AUTO}})  # not a 400: a server fault
    assert not is_tool_choice_refusal(context) and not is_tool_choice_refusal(server)
    assert not is_tool_choice_refusal(ValueError(VLLM_AUTO))  # no HTTP status: not an endpoint's answer


async def test_a_refusal_is_error_tool_calls_even_wrapped_by_the_graph():
    exc = await refusal(400, {"error": {"message": VLLM_AUTO}})
    try:
        try:
            raise exc
        except openai.BadRequestError as inner:
            raise RuntimeError("my node failed") from inner
    except RuntimeError as wrapped:
        v = attribute(wrapped, budget_expired=False, in_graph=True)
    assert (v.status, v.reason, v.source) == ("error", "tool_calls", "model")
    other = await refusal(400, {"error": {"message": "messages: field required"}})
    assert attribute(other, budget_expired=False, in_graph=True).reason == "model"


def test_the_stop_message_names_the_setting():
    managed = tool_calls_message("embedded", "http://127.0.0.1:1/v1", "none", "", "HTTP 400", "smollm2-135m-instruct")
    assert "model.server.tool_call_parser is 'none'" in managed and "turns tool calling off" in managed
    assert "set it to auto (vLLM's hermes parser for this model)" in managed
    unknown = tool_calls_message("vllm", "http://127.0.0.1:1/v1", "auto", "/models/checkpoint-1200", "HTTP 400")
    assert "no vLLM parser for /models/checkpoint-1200" in unknown and "e.g. hermes, llama3_json" in unknown
    external = tool_calls_message("openai", "http://10.0.0.5:8000/v1", "auto", "", "HTTP 400")
    assert "http://10.0.0.5:8000/v1" in external and "--enable-auto-tool-choice --tool-call-parser" in external
    assert "model.server" not in external
    for text in (managed, unknown, external):
        assert "HTTP 400" in text and "--resume" in text


def test_the_stop_message_never_prints_url_userinfo():
    from agentbench.models.tool_calls import tool_calls_message

    text = tool_calls_message("openai", "http://me:s3cret@127.0.0.1:8000/v1", None, "", "HTTP 400")
    assert "s3cret" not in text and "127.0.0.1:8000" in text
