import httpx
import pytest

from agentbench.models.client import RetryInfo, RetryPolicy, RetryTransport
from agentbench.models.server_metrics import delta, parse_metrics

METRICS = """# HELP vllm:prompt_tokens_total x
vllm:prompt_tokens_total{engine="0",model_name="m"} 40.0
vllm:generation_tokens_total{engine="0",model_name="m"} 12.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 0.5
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 2.0
vllm:num_requests_running{engine="0",model_name="m"} 1.0
other_metric 5
"""


def test_parse_and_delta():
    before = parse_metrics(METRICS)
    assert before["prompt_tokens"] == 40 and before["generation_tokens"] == 12 and before["ttft_s_count"] == 2
    after = parse_metrics(METRICS.replace(" 40.0", " 100.0").replace("_count{engine=\"0\",model_name=\"m\"} 2.0",
                                                                       "_count{engine=\"0\",model_name=\"m\"} 4.0")
                          .replace("_sum{engine=\"0\",model_name=\"m\"} 0.5", "_sum{engine=\"0\",model_name=\"m\"} 1.5"))
    d = delta(before, after)
    assert d["prompt_tokens"] == 60 and d["generation_tokens"] == 0
    assert d["ttft_s_mean"] == pytest.approx(0.5)


def scripted(statuses):
    """A fault-injecting transport: answers each request with the next status (or raises)."""
    calls = []

    def handler(request):
        item = statuses[min(len(calls), len(statuses) - 1)]
        calls.append(item)
        if isinstance(item, Exception):
            raise item
        return httpx.Response(item, json={"ok": item})

    return httpx.MockTransport(handler), calls


@pytest.mark.parametrize("script,final", [
    ([500, 503, 200], 200),
    ([429, 200], 200),
    ([httpx.ConnectError("refused"), 200], 200),
])
async def test_retries_then_succeeds(script, final):
    inner, calls = scripted(script)
    seen: list[RetryInfo] = []
    transport = RetryTransport(RetryPolicy(retries=4, backoff_initial_s=0.001, backoff_max_s=0.01), inner, seen.append)
    async with httpx.AsyncClient(transport=transport) as client:
        resp = await client.post("http://test/v1/chat/completions", json={})
    assert resp.status_code == final and len(calls) == len(script) and len(seen) == len(script) - 1


async def test_gives_up_and_returns_last_response():
    inner, calls = scripted([502])
    transport = RetryTransport(RetryPolicy(retries=2, backoff_initial_s=0.001, backoff_max_s=0.01), inner)
    async with httpx.AsyncClient(transport=transport) as client:
        resp = await client.get("http://test/x")
    assert resp.status_code == 502 and len(calls) == 3


async def test_client_errors_are_not_retried():
    inner, calls = scripted([400, 200])
    transport = RetryTransport(RetryPolicy(retries=3, backoff_initial_s=0.001), inner)
    async with httpx.AsyncClient(transport=transport) as client:
        resp = await client.get("http://test/x")
    assert resp.status_code == 400 and len(calls) == 1


async def test_connection_error_raises_after_retries():
    inner, calls = scripted([httpx.ConnectError("down")])
    transport = RetryTransport(RetryPolicy(retries=1, backoff_initial_s=0.001), inner)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://test/x")
    assert len(calls) == 2


def test_typed_engine_settings_become_vllm_flags():
    import json

    from agentbench.config.schema import ServerConfig
    from agentbench.models.embedded import engine_args

    args = engine_args(ServerConfig(quantization="awq", gpu_memory_utilization=0.8, tensor_parallel_size=2,
                                    speculative_config={"method": "ngram", "num_speculative_tokens": 4},
                                    enable_prefix_caching=False, tool_call_parser="hermes", enforce_eager=False,
                                    extra_args=["--seed", "1"]))
    assert args[:6] == ["--quantization", "awq", "--gpu-memory-utilization", "0.8", "--tensor-parallel-size", "2"]
    spec = args[args.index("--speculative-config") + 1]
    assert json.loads(spec) == {"method": "ngram", "num_speculative_tokens": 4}
    assert "--no-enable-prefix-caching" in args and "--enforce-eager" not in args
    assert args[args.index("--tool-call-parser") - 1] == "--enable-auto-tool-choice"
    assert args[-2:] == ["--seed", "1"]
    assert engine_args(ServerConfig()) == ["--enforce-eager"]  # unset settings are vLLM's defaults


def test_taken_port_is_a_clear_error():
    import asyncio
    import socket

    from agentbench.models.server import ManagedServer, ServerSpec, ServerStartError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        server = ManagedServer(ServerSpec(argv=["true"], port=port), log_path=__import__("pathlib").Path("/tmp/x.log"))
        with pytest.raises(ServerStartError, match=f"port {port} .* is taken"):
            asyncio.run(server.start())


def test_server_load_summarizes_samples():
    from agentbench.report.summary import server_load

    load = server_load([{"requests_running": 2, "kv_cache_usage": 0.1}, {"requests_running": 6, "kv_cache_usage": 0.3}])
    assert load == {"samples": 2, "running_mean": 4, "running_peak": 6, "kv_cache_mean": 0.2, "kv_cache_peak": 0.3}
    assert server_load([]) is None
