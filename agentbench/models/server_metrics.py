"""vLLM's Prometheus `/metrics`, scraped and reduced to the counters agentbench reports (pure parsing)."""

from __future__ import annotations

import httpx

from agentbench.models.client import http_client

# counter/gauge name -> our key; histograms contribute their _sum and _count.
COUNTERS = {
    "vllm:prompt_tokens_total": "prompt_tokens",
    "vllm:generation_tokens_total": "generation_tokens",
    "vllm:request_success_total": "requests_finished",
    "vllm:num_requests_running": "requests_running",
    "vllm:num_requests_waiting": "requests_waiting",
    "vllm:kv_cache_usage_perc": "kv_cache_usage",
}
HISTOGRAMS = {
    "vllm:time_to_first_token_seconds": "ttft_s",
    "vllm:inter_token_latency_seconds": "itl_s",
    "vllm:e2e_request_latency_seconds": "e2e_s",
    "vllm:request_queue_time_seconds": "queue_s",
}


def parse_metrics(text: str) -> dict[str, float]:
    """Sum every series of the known metrics over their labels."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            number = float(value)
        except ValueError:
            continue
        key = COUNTERS.get(name)
        if key is None:
            for base, short in HISTOGRAMS.items():
                if name == base + "_sum":
                    key = short + "_sum"
                elif name == base + "_count":
                    key = short + "_count"
        if key is not None:
            out[key] = out.get(key, 0.0) + number
    return out


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Counter differences over a run, and mean latencies from histogram sums and counts."""
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after if not k.startswith(("requests_running", "requests_waiting", "kv_cache"))}
    for short in HISTOGRAMS.values():
        n = d.get(short + "_count", 0.0)
        if n > 0:
            d[short + "_mean"] = d.get(short + "_sum", 0.0) / n
    return d


async def scrape(root_url: str, client: httpx.AsyncClient | None = None) -> dict[str, float] | None:
    """None when the endpoint has no vLLM metrics (not an error: any OpenAI-compatible server is fine)."""
    own = client is None
    client = client or http_client(timeout=5.0)
    try:
        resp = await client.get(root_url.rstrip("/") + "/metrics")
        if resp.status_code != 200 or "vllm:" not in resp.text:
            return None
        return parse_metrics(resp.text)
    except httpx.HTTPError:
        return None
    finally:
        if own:
            await client.aclose()
