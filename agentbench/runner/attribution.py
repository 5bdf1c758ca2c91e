"""The attribution rule (docs/metrics.md, Attribution), pure: what an exception that ended an attempt means.

A budget hit is `limit`; an exception raised by the graph's own code is the agent's (`failed`, reason
`agent_error`); anything that is not the agent's doing — the model endpoint failing after retries, the
sandbox failing — is `error`, never `failed`. `attribute` gives the `Verdict`; the attempt
(runner/episode.py) records it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import openai
from langgraph.errors import GraphRecursionError

from agentbench.protocols import AttemptReason, AttemptStatus, LimitExceeded, SandboxError
from agentbench.runner.refusals import is_tool_choice_refusal

_CONTEXT_OVERFLOW = re.compile(r"context length|context window|maximum context|too many tokens|prompt is too long",
                               re.IGNORECASE)

# The model client's own exception types: the endpoint failed (after the transport's retries), not the agent.
MODEL_FAULTS: tuple[type[BaseException], ...] = (openai.APIError, httpx.HTTPError)
AUTH_FAULTS: tuple[type[BaseException], ...] = (openai.AuthenticationError, openai.PermissionDeniedError)


def is_context_overflow(exc: openai.BadRequestError) -> bool:
    """vLLM and OpenAI answer 400 when prompt + max_tokens exceed the model's context."""
    return bool(_CONTEXT_OVERFLOW.search(str(exc)))


@dataclass(frozen=True)
class Verdict:
    """What ended the attempt early: status, reason code, the error text, the `error` event's source (and
    for a limit, which one), and the exception it was read from."""

    status: AttemptStatus
    reason: AttemptReason
    error: str
    source: str
    which: str | None = None
    exc: BaseException | None = None


def exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc`, what caused it (`__cause__`, `__context__` unless suppressed) and group members, each once."""
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        if isinstance(item, BaseExceptionGroup):
            stack.extend(item.exceptions)
        stack.append(item.__cause__)
        if not item.__suppress_context__:
            stack.append(item.__context__)
    return seen


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def supersteps_verdict(supersteps: int, exc: BaseException | None = None) -> Verdict:
    """The graph ran out of supersteps: raised (GraphRecursionError) or said by the prebuilt agent's reply."""
    how = (f"{supersteps} graph supersteps without reaching END" if exc is not None else
           f"the agent stopped one superstep before {supersteps}")
    return Verdict("limit", "supersteps", f"supersteps limit reached: {how} (limits.max_supersteps; raise it if "
                   "your graph needs more)", "limit", "supersteps", exc)


def attribute(exc: BaseException, *, budget_expired: bool, in_graph: bool,
              model_faults: list[BaseException] = (), time_limit_s: float = 0.0, supersteps: int = 0) -> Verdict:
    """The attribution rule. Limits first: the time budget expired, a LimitExceeded / GraphRecursionError,
    the model's context full. Then infrastructure, anywhere in the exception's chain: the model client's
    types (openai.APIError, httpx.HTTPError; 401/403 are `auth`, a server refusing `tools` is `tool_calls`),
    an exception the tracer saw end a model call, SandboxError. Anything else raised by the graph's own
    code (its factory and `graph.ainvoke`) is the agent's: `failed`, reason `agent_error`; raised outside
    the graph (sandbox open, patch collection) it is `error` (`infra`)."""
    chain = exception_chain(exc)
    if budget_expired:
        return Verdict("limit", "time", f"time limit reached: {time_limit_s:.0f} s", "limit", "time", exc)
    for item in chain:
        if isinstance(item, LimitExceeded):
            return Verdict("limit", item.which, str(item), "limit", item.which, exc)
        if isinstance(item, GraphRecursionError):
            return supersteps_verdict(supersteps, exc)
        if isinstance(item, openai.BadRequestError) and is_context_overflow(item):
            return Verdict("limit", "tokens", f"tokens limit reached: the model's context is full ({item.message})",
                           "limit", "tokens", exc)
    for item in chain:
        if isinstance(item, AUTH_FAULTS):
            return Verdict("error", "auth", _text(item), "model", exc=exc)
        if is_tool_choice_refusal(item):  # the server parses no tool calls: every later attempt would fail too
            return Verdict("error", "tool_calls", _text(item), "model", exc=exc)
        if isinstance(item, MODEL_FAULTS) or any(item is fault for fault in model_faults):
            return Verdict("error", "model", _text(item), "model", exc=exc)
        if isinstance(item, SandboxError):
            return Verdict("error", "sandbox", _text(item), "sandbox", exc=exc)
    if in_graph:
        return Verdict("failed", "agent_error", f"agent error: {_text(exc)}", "agent", exc=exc)
    return Verdict("error", "infra", _text(exc), "infra", exc=exc)
