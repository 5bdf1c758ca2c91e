"""One owner per job: the leaves import nothing from agentbench, graphs import only the allowed modules,
the tracer stays below metrics, and shared constants and config fields have one definition."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from agentbench.config.schema import CommandLimits, DockerSettings, SandboxConfig
from agentbench.sandbox import base, docker, local

ROOT = Path(__file__).resolve().parents[2]
LEAVES = ("agentbench/text.py", "agentbench/commands.py", "agentbench/proc.py")
GRAPHS_MAY_IMPORT = {"agentbench.protocols", "agentbench.text", "agentbench.commands"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaves_import_nothing_from_agentbench(leaf: str) -> None:
    path = ROOT / leaf
    assert not {n for n in _imports(path) if n.split(".")[0] == "agentbench"}


@pytest.mark.parametrize("module", sorted(p.name for p in (ROOT / "graphs").glob("*.py")))
def test_graphs_import_only_protocols_and_the_leaves(module: str) -> None:
    ours = {n for n in _imports(ROOT / "graphs" / module)
            if n.split(".")[0] == "agentbench" and not n.startswith("agentbench.graphs.")}  # each other
    assert ours <= GRAPHS_MAY_IMPORT, ours - GRAPHS_MAY_IMPORT


def test_the_tracer_does_not_reach_up_into_metrics() -> None:
    imports = _imports(ROOT / "agentbench/tracing/tracer.py")
    assert "agentbench.metrics" not in imports and "agentbench.commands" in imports


def test_one_timeout_exit_code() -> None:
    assert base.TIMEOUT_EXIT_CODE == 124
    assert docker.TIMEOUT_EXIT_CODE is base.TIMEOUT_EXIT_CODE and local.TIMEOUT_EXIT_CODE is base.TIMEOUT_EXIT_CODE
    defined = [p for p in (ROOT / "agentbench").rglob("*.py") if "TIMEOUT_EXIT_CODE =" in p.read_text()]
    assert defined == [ROOT / "agentbench/sandbox/base.py"]


def test_the_sandbox_section_holds_no_backend_detail() -> None:
    assert {"backend", "command_timeout_s", "memory", "swe_images"} <= set(SandboxConfig.model_fields)
    with pytest.raises(ValueError):
        SandboxConfig(workdir="/x")  # type: ignore[call-arg]  # a backend detail, not an experiment key


def test_backend_configs_are_built_from_the_one_definition() -> None:
    assert issubclass(docker.DockerSandboxConfig, DockerSettings) and issubclass(local.LocalSandboxConfig, CommandLimits)
    assert set(docker.DockerSandboxConfig.model_fields) == set(DockerSettings.model_fields) | {"workdir"}
    cfg = SandboxConfig(command_timeout_s=5, max_output_bytes=100, network="bridge", memory="2g", cpus=2,
                        pids_limit=64, user="0:0", drop_capabilities=False, no_new_privileges=False,
                        swe_images="build")
    docker_cfg = docker.DockerSandboxConfig(**cfg.docker_settings())
    assert docker_cfg.model_dump(exclude={"workdir"}) == DockerSettings(**cfg.docker_settings()).model_dump()
    assert (docker_cfg.network, docker_cfg.memory, docker_cfg.cpus, docker_cfg.workdir) == ("bridge", "2g", 2, "/workspace")
    local_cfg = local.LocalSandboxConfig(**cfg.local_settings())
    assert (local_cfg.command_timeout_s, local_cfg.max_output_bytes) == (5, 100)
    assert docker.DockerSandboxConfig().model_dump(exclude={"workdir"}) == SandboxConfig().docker_settings()
