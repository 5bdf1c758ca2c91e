"""Every sandbox backend passes the same conformance suite; the isolation checks run for every backend that
isolates (Docker) and are skipped, saying why, for the one that declares it does not (local)."""

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
ISOLATION = [c.name for c in CHECKS if c.isolation]


def test_the_suite_has_isolation_checks() -> None:
    assert set(ISOLATION) >= {"no_network", "cannot_signal_server", "root_not_writable", "tmp_size_limited",
                              "disk_filler_stopped", "fork_bomb_contained", "memory_hog_contained"}


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
    skipped = [r.name for r in results if r.skipped]
    if provider.isolates:
        assert skipped == [], f"{backend} isolates, yet checks were skipped: {skipped}"
        assert "NOT ISOLATING" not in report
    else:
        assert skipped == ISOLATION
        assert all("does not isolate" in r.detail for r in results if r.skipped)
        assert report.startswith("NOT ISOLATING: the `local` backend does not isolate")
