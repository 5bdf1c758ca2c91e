"""Chat model for any OpenAI-compatible endpoint, with retries done by tenacity at the HTTP layer.

Retrying in an httpx transport (rather than wrapping the chat model) keeps the object a plain
`ChatOpenAI`, so `bind_tools`, streaming and callbacks all work unchanged, and every retry is visible.
A header hook (`headers`, called per request) adds headers such as the W3C `traceparent` of the model call
that is running (the runner passes agentbench.tracing's; this package never imports the tracer).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import ssl
import time
from typing import Callable, Mapping

import httpx
from langchain_openai import ChatOpenAI
from pydantic import BaseModel
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_random_exponential,
)

from agentbench.redact import public_url

HeaderHook = Callable[[], Mapping[str, str]]  # headers to add to each model request (e.g. traceparent)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_EXCEPTIONS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError,
                    httpx.WriteError, httpx.PoolTimeout)


@functools.lru_cache(maxsize=1)
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context per process: building one costs ~20 ms (loading CA certificates), per client."""
    return ssl.create_default_context()


def http_client(timeout: float = 5.0, transport: httpx.AsyncBaseTransport | None = None,
                **kwargs: object) -> httpx.AsyncClient:
    """An AsyncClient that shares the process's TLS context."""
    return httpx.AsyncClient(timeout=timeout, transport=transport, verify=shared_ssl_context(), **kwargs)


class RetryPolicy(BaseModel):
    retries: int = 5
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 20.0


class RetryInfo(BaseModel):
    attempt: int
    reason: str
    wait_s: float
    url: str


def retry_after_s(response: httpx.Response, now: float | None = None) -> float | None:
    """The wait a response asks for: `retry-after-ms` (OpenAI's), else `Retry-After` as seconds or an
    HTTP date; None when it asks for none (or the value cannot be read)."""
    millis = response.headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _reason(state: RetryCallState) -> str:
    """Why a try failed, naming no URL's userinfo."""
    outcome = state.outcome
    if outcome is None:
        return "unknown"
    if outcome.failed:
        exc = outcome.exception()
        return public_url(f"{type(exc).__name__}: {exc}")
    return f"HTTP {outcome.result().status_code}"


class RetryTransport(httpx.AsyncBaseTransport):
    """Retries connection errors, 429 and 5xx with jittered, capped exponential backoff; a response's
    `Retry-After` (or `retry-after-ms`) replaces the backoff for that wait, capped by `backoff_max_s`.

    After the last try the final response (or exception) is passed through unchanged, so the
    OpenAI client raises its usual typed error.
    """

    def __init__(self, policy: RetryPolicy, inner: httpx.AsyncBaseTransport | None = None,
                 on_retry: Callable[[RetryInfo], None] | None = None, headers: HeaderHook | None = None) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport(verify=shared_ssl_context())
        self._policy = policy
        self._on_retry = on_retry
        self._headers = headers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._headers is not None:  # evaluated here, in the model call's own context
            extra = self._headers()
            if extra:
                request.headers.update(extra)
        # Fast path: most requests succeed first time; tenacity is engaged only once one has not.
        try:
            first = await self._inner.handle_async_request(request)
        except RETRY_EXCEPTIONS as exc:
            failure: httpx.Response | Exception = exc
        else:
            if first.status_code not in RETRY_STATUSES or self._policy.retries == 0:
                return first
            failure = first
        return await self._retry(request, failure)

    async def _retry(self, request: httpx.Request, failure: httpx.Response | Exception) -> httpx.Response:
        """Tries 2..retries+1, with the first try's failure replayed as try 1 (so it is backed off and reported)."""
        replayed = [failure]

        async def send(req: httpx.Request) -> httpx.Response:
            if replayed:
                item = replayed.pop()
                if isinstance(item, Exception):
                    raise item
                return item
            return await self._inner.handle_async_request(req)

        async def before_sleep(state: RetryCallState) -> None:
            outcome = state.outcome
            if outcome is not None and not outcome.failed:
                await outcome.result().aclose()
            if self._on_retry is not None:
                wait = state.next_action.sleep if state.next_action else 0.0
                self._on_retry(RetryInfo(attempt=state.attempt_number, reason=_reason(state),
                                         wait_s=wait, url=public_url(str(request.url))))

        backoff = wait_random_exponential(multiplier=self._policy.backoff_initial_s, max=self._policy.backoff_max_s)

        def wait(state: RetryCallState) -> float:
            """The server's Retry-After (429 / 503) when it gives one, capped by backoff_max_s; else backoff."""
            outcome = state.outcome
            if outcome is not None and not outcome.failed:
                asked = retry_after_s(outcome.result())
                if asked is not None:
                    return min(asked, self._policy.backoff_max_s)
            return backoff(state)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._policy.retries + 1),
            wait=wait,
            retry=retry_if_exception_type(RETRY_EXCEPTIONS) | retry_if_result(lambda r: r.status_code in RETRY_STATUSES),
            before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result(),
            reraise=True,
        )
        return await retrying(send, request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class ChatSettings(BaseModel):
    base_url: str
    model: str
    api_key: str | None = None
    temperature: float = 0.0
    top_p: float | None = None
    max_tokens: int | None = 512
    timeout_s: float = 120.0
    streaming: bool = True
    seed: int | None = None


def retrying_client(policy: RetryPolicy, timeout_s: float,
                    on_retry: Callable[[RetryInfo], None] | None = None,
                    headers: HeaderHook | None = None) -> httpx.AsyncClient:
    """The HTTP client for model calls: retries per `policy`, pooled connections, shared TLS context;
    `headers()` is added to every request (tracing: the running model call's `traceparent`)."""
    return http_client(timeout=httpx.Timeout(timeout_s, connect=10.0),
                       transport=RetryTransport(policy, on_retry=on_retry, headers=headers),
                       limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))


def build_chat_model(settings: ChatSettings, policy: RetryPolicy,
                     on_retry: Callable[[RetryInfo], None] | None = None,
                     http_client: httpx.AsyncClient | None = None, headers: HeaderHook | None = None) -> ChatOpenAI:
    """A ChatOpenAI bound to the endpoint; usage is reported on streaming too (include_usage)."""
    client = http_client or retrying_client(policy, settings.timeout_s, on_retry, headers)
    extra: dict = {}
    if settings.top_p is not None:
        extra["top_p"] = settings.top_p
    if settings.seed is not None:
        extra["seed"] = settings.seed
    return ChatOpenAI(
        base_url=settings.base_url,
        model=settings.model,
        api_key=settings.api_key or "EMPTY",
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        timeout=settings.timeout_s,
        max_retries=0,  # retries belong to RetryTransport
        streaming=settings.streaming,
        stream_usage=True,
        http_async_client=client,
        **extra,
    )
