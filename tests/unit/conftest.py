"""The unit lane is pure: no Docker engine, no model server, no browser. Every unit test runs with
DOCKER_HOST pointing at a socket that does not exist, so a test that reaches for the engine fails here
instead of passing by accident on a machine that has one."""

import pytest


@pytest.fixture(autouse=True)
def _no_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/agentbench-unit-tests-use-no-engine.sock")
