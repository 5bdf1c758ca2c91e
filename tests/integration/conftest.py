"""Shared real components for integration tests: the embedded vLLM server (started once per session
through agentbench's own managed lifecycle) and a helper that runs the CLI as a user would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agentbench.config.schema import ModelConfig
from agentbench.models import embedded
from agentbench.models.server import ManagedServer

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 900,
            check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "agentbench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200", **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"agentbench {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="session")
def embedded_url(tmp_path_factory) -> str:
    """Base URL of a real embedded vLLM server, shared by the tests that point `provider: openai` at it."""
    if not embedded.is_ready():
        pytest.fail("the embedded model is not set up: run `make setup` (agentbench model setup)")
    cfg = ModelConfig()
    spec = embedded.vllm_server_spec(cfg, embedded.venv_python(), str(embedded.model_dir()))
    server = ManagedServer(spec, tmp_path_factory.mktemp("server") / "server.log")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(900)
    yield server.base_url
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)


@pytest.fixture(scope="session")
def docker_client():
    """The real Docker engine; the suite needs one (`make setup` / .ci/run start it)."""
    from agentbench.sandbox.engine import engine_client

    client = engine_client()
    if client is None:
        pytest.fail("no Docker engine answers: run `make setup` (it starts one) or set DOCKER_HOST")
    return client


@pytest.fixture(scope="session")
def python_image(docker_client) -> str:
    """The `python` sandbox image, built locally from sandboxes/ on first use and reused after."""
    from agentbench.sandbox.images import ensure_image

    return ensure_image(docker_client, "python", log=lambda line: None)


@pytest.fixture
def docker_provider(docker_client, python_image):
    from agentbench.sandbox.docker import DockerSandboxConfig, DockerSandboxProvider

    made = []

    def make(**overrides):
        config = DockerSandboxConfig(**{"max_output_bytes": 4096, "command_timeout_s": 30, **overrides})
        made.append(DockerSandboxProvider(docker_client, config, lambda name: python_image,
                                          labels={"agentbench.test": "1"}))
        return made[-1]

    yield make
    for provider in made:  # containers are removed in the background; the test ends when they are gone
        provider.wait_removals()


@pytest.fixture(scope="session", autouse=True)
def no_container_left_behind():
    """After the whole test run, no container carrying our label and created by this session is left
    (every path cleaned up); containers of another agentbench on the same engine are not ours to judge."""
    import datetime as dt

    started = dt.datetime.now(dt.timezone.utc)
    yield
    from agentbench.sandbox.engine import engine_client

    client = engine_client()
    if client is not None:
        leftovers = [c for c in client.containers.list(all=True, filters={"label": "agentbench"})
                     if dt.datetime.fromisoformat(c.attrs["Created"][:26].rstrip("Z") + "+00:00") >= started]
        assert leftovers == [], f"containers left behind: {[c.name for c in leftovers]}"


# What each integration module needs, beyond `integration` (every test here is one): `engine` a Docker
# engine, `model` the embedded vLLM server, `browser` headless Chromium. `make test-unit` needs none.
NEEDS: dict[str, tuple[str, ...]] = {
    "test_compare_sweep.py": (),
    "test_attacks.py": ("engine",),
    "test_compose.py": ("engine",),
    "test_docker_sandbox.py": ("engine",),
    "test_fault_matrix_sandbox.py": ("engine",),
    "test_grading_network.py": ("engine",),
    "test_embedded_run.py": ("engine", "model"),
    "test_run_inputs.py": (),
    "test_fault_matrix_run.py": ("engine",),
    "test_grade_predictions.py": ("engine",),
    "test_episode.py": (),
    "test_export_embedded.py": ("model",),
    "test_export_runs.py": (),
    "test_images.py": ("engine",),
    "test_local_sandbox.py": (),
    "test_model_faults.py": (),
    "test_otel_phoenix.py": ("model",),
    "test_reference_graphs.py": ("engine",),
    "test_registry.py": ("engine",),
    "test_report_browser.py": ("browser",),
    "test_resume.py": ("engine",),
    "test_sandbox_conformance.py": ("engine",),
    "test_secrets.py": (),
    "test_server_faults.py": ("model",),
    "test_supervisor.py": ("model",),
    "test_ray_server.py": ("model",),
    "test_ray_executor.py": ("engine", "model"),
    "test_swebench.py": ("engine", "model"),
    "test_swebench_real.py": ("engine",),
    "test_swe_env_state.py": ("engine",),
    "test_sweep_server.py": (),  # its embedded-model test is marked `model` itself
    "test_tracer.py": (),
    "test_tool_refusal.py": (),
    "test_embedded_tools.py": ("model",),
    "test_run_visibility.py": (),
    "test_user_graph.py": ("model",),
    "test_user_graphs.py": (),  # its embedded-model test is marked `model` itself
    "test_wheel.py": (),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        if path.parent != Path(__file__).parent:
            continue
        if path.name not in NEEDS:
            raise pytest.UsageError(f"{path.name}: add it to NEEDS in tests/integration/conftest.py "
                                    f"(which of engine, model, browser it needs)")
        for name in ("integration", *NEEDS[path.name]):
            item.add_marker(getattr(pytest.mark, name))
