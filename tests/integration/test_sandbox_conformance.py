"""Every sandbox backend passes the same conformance suite (add the Docker backend to PROVIDERS)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from agentbench.protocols import SandboxProvider
from agentbench.sandbox.conformance import CHECKS, conformance_task, format_results, run_conformance
from agentbench.sandbox.local import LocalSandboxConfig, LocalSandboxProvider

PROVIDERS: dict[str, Callable[[pytest.FixtureRequest], SandboxProvider]] = {
    "local": lambda request: LocalSandboxProvider(LocalSandboxConfig(max_output_bytes=4096, command_timeout_s=30)),
    "docker": lambda request: request.getfixturevalue("docker_provider")(),
}


@pytest.mark.filterwarnings("ignore::agentbench.sandbox.local.LocalSandboxWarning")
@pytest.mark.parametrize("backend", list(PROVIDERS))
async def test_conformance(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-planted-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-planted-secret")
    provider = PROVIDERS[backend](request)
    results = await run_conformance(provider, lambda: conformance_task(tmp_path))
    report = format_results(results)
    print(report)
    assert [r.name for r in results] == [c.name for c in CHECKS]
    failed = [r.name for r in results if not r.passed]
    assert not failed, f"{backend}: {len(failed)} conformance check(s) failed: {failed}\n{report}"
