"""Test doubles: for your graph's unit tests (`scripted`, `forever`, `ScriptedModel`, `FakeTools`,
`make_context`, `run_graph`: agentbench/testing/chat.py), and for fault injection and benchmarks (the OpenAI stub, the
fault proxy, the loopback registry; never used by a real run). Importing this package imports only chat.py."""

from agentbench.testing.chat import FakeTools, ScriptedModel, forever, last_text, make_context, run_graph, scripted

__all__ = ["FakeTools", "ScriptedModel", "forever", "last_text", "make_context", "run_graph", "scripted"]
