"""The tracer against a real HTTP endpoint (the loopback stub): usage from streaming and non-streaming
calls, and the token budget."""

import pytest
from langchain_core.messages import HumanMessage

from agentbench.models.client import ChatSettings, RetryPolicy, build_chat_model
from agentbench.protocols import LimitExceeded
from agentbench.testing.openai_stub import OpenAIStub
from agentbench.tracing.tracer import Tracer


@pytest.fixture
async def stub():
    server = OpenAIStub(reply=lambda messages: "three word reply")
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize("streaming", [True, False])
async def test_usage_is_captured(stub, streaming):
    model = build_chat_model(ChatSettings(base_url=stub.base_url, model="stub", streaming=streaming), RetryPolicy())
    tracer = Tracer()
    await model.ainvoke([HumanMessage("one two")], config={"callbacks": [tracer]})
    (event,) = [e for e in tracer.events if e.type == "model_call"]
    assert event.payload["prompt_tokens"] == stub.prompt_tokens == 3
    assert event.payload["completion_tokens"] == stub.completion_tokens == 3
    assert event.payload["reply"]["content"] == "three word reply"
    assert event.payload["messages"] == [{"role": "human", "content": "one two"}]
    assert tracer.totals.model_calls == 1 and tracer.totals.model_time_s > 0


async def test_token_budget_stops_the_next_call(stub):
    model = build_chat_model(ChatSettings(base_url=stub.base_url, model="stub"), RetryPolicy())
    tracer = Tracer(max_tokens=5)
    await model.ainvoke([HumanMessage("one two")], config={"callbacks": [tracer]})  # 6 tokens used
    with pytest.raises(LimitExceeded) as err:
        await model.ainvoke([HumanMessage("again")], config={"callbacks": [tracer]})
    assert err.value.which == "tokens" and stub.requests == 1
