"""The sandbox a config's `sandbox` section names (`make_sandbox_provider`): Docker, or the host when named.

`auto` and `docker`: the Docker sandbox (images built on first use); no engine answering is
SandboxUnavailable, never a silent fall back to the host. `local` only when named, with a warning line
that it does not isolate.
"""

from __future__ import annotations

from agentbench.config.schema import SandboxConfig
from agentbench.protocols import SandboxProvider


class SandboxUnavailable(RuntimeError):
    """The configured sandbox cannot be made here: no Docker engine answers, or the section does not make one."""


def make_sandbox_provider(cfg: SandboxConfig, log=print, run_id: str | None = None,
                          labels: dict[str, str] | None = None) -> SandboxProvider:
    """The provider `cfg.backend` names; the `local` warning goes to `log` (once per call: a run calls this
    once). Docker containers carry `agentbench.run=run_id` and `labels` (a Ray attempt worker adds its own,
    so the containers of a lost worker can be found)."""
    if cfg.backend == "local":
        from agentbench.sandbox.local import LocalSandboxConfig, LocalSandboxProvider

        return LocalSandboxProvider(LocalSandboxConfig(**cfg.local_settings()), warn=lambda m: log(f"warning: {m}"))
    from agentbench.sandbox.engine import INSTALL_HINT, engine_address, engine_client

    client = engine_client()
    if client is None:
        raise SandboxUnavailable(
            f"sandbox.backend: {cfg.backend} runs every attempt in a Docker container, but no Docker engine answers "
            f"at {engine_address()}. Start one (`sudo dockerd &`, `sudo systemctl start docker`, or "
            f"`sandboxes/ensure_engine.sh` as root, which also installs it; or point DOCKER_HOST at one; if it is "
            f"missing, {INSTALL_HINT}), or set sandbox.backend: local, which runs the agent's commands on this host "
            f"as you, with your files and network: it does NOT isolate")
    from agentbench.sandbox.docker import DockerSandboxConfig, DockerSandboxProvider
    from agentbench.sandbox.images import ensure_image
    from agentbench.sandbox.swe_images import EnvSettings, ensure_env_image

    try:
        docker_cfg = DockerSandboxConfig(**cfg.docker_settings())
    except ValueError as exc:  # pydantic's ValidationError is one
        errors = getattr(exc, "errors", None)
        detail = "; ".join(e["msg"].removeprefix("Value error, ") for e in errors()) if errors else str(exc)
        raise SandboxUnavailable(f"the sandbox section does not make a docker sandbox: {detail}") from None
    settings = EnvSettings(**cfg.swe_settings())
    all_labels = {**({"agentbench.run": run_id} if run_id else {}), **(labels or {})}
    return DockerSandboxProvider(client, docker_cfg, lambda name: ensure_image(client, name, log=log),
                                 labels=all_labels or None,
                                 resolve_env=lambda recipe: ensure_env_image(client, recipe, settings, log=log))
