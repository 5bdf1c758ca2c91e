"""The Ray executor's link to its cluster: connecting (`run.ray.address`, $RAY_ADDRESS, or a local cluster
started for the run), with clear errors naming `run.ray.address`, and the warning for a model endpoint on
the driver's loopback that other hosts cannot reach."""

from __future__ import annotations

import os
import socket
from typing import Any

from agentbench.config.schema import available_cpus
from agentbench.runner.executors.base import ExecContext
from agentbench.runner.errors import RunError
from agentbench.runner.executors.placement import attempt_resources
from agentbench.sandbox.engine import engine_answers

LOCAL_OBJECT_STORE_BYTES = 512 * 1024 * 1024  # a local cluster's object store: results are small


def address_hint(address: str | None) -> str:
    return address or "(none: a local cluster)"


def connect(ctx: ExecContext, slots: int) -> bool:
    """Connect this process to the cluster; True when it started a local one (stopped after the run)."""
    import ray

    if ray.is_initialized():  # e.g. a model server placed on the cluster connected first
        return False
    settings = ctx.cfg.run.ray
    address = settings.address or os.environ.get("RAY_ADDRESS") or None
    common: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": False}
    if settings.runtime_env:
        common["runtime_env"] = settings.runtime_env
    if address is None:
        need = attempt_resources(ctx.cfg)
        custom = {k: v * slots for k, v in need.items() if k not in ("CPU", "memory")}
        if "docker" in custom and not engine_answers():
            custom.pop("docker")  # no engine here: no node advertises one (a clear error follows)
        ray.init(num_cpus=max(available_cpus(), int(need.get("CPU", 0) * slots + 0.999)), resources=custom,
                 object_store_memory=LOCAL_OBJECT_STORE_BYTES, **common)
        ctx.note(f"run.executor: ray without run.ray.address or $RAY_ADDRESS: started a local Ray cluster "
                 f"({', '.join(f'{k} {v:g}' for k, v in custom.items()) or 'no custom resources'})")
        return True
    _probe(address)
    try:
        ray.init(address=address, **common)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, AuthenticationError ...
        hint = (" The cluster uses token authentication: set RAY_AUTH_MODE=token and give this process the "
                "cluster's token (~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN)."
                if "auth" in f"{type(exc).__name__} {exc}".lower() else "")
        raise RunError(f"run.ray.address: cannot connect to the Ray cluster at {address}: "
                       f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}.{hint}") from None
    return False


def _probe(address: str, timeout: float = 5.0) -> None:
    """A host:port address that does not even accept a TCP connection fails here, at once, not after
    Ray's own connection retries."""
    if "://" in address or address == "auto" or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise RunError(f"run.ray.address: no Ray cluster answers at {address} ({exc}); start one (`ray start "
                       f"--head --port {port}`) or fix the address (it also comes from $RAY_ADDRESS)") from None


def loopback_warning(ctx: ExecContext, rows: list[dict[str, Any]], room: dict[str, int]) -> str | None:
    """A warning when the model endpoint is this machine's loopback but attempts may run on other hosts."""
    import ray
    from urllib.parse import urlparse

    host = urlparse(ctx.chat.base_url).hostname if ctx.chat is not None else None
    if host not in ("127.0.0.1", "localhost", "::1"):
        return None
    here = ray.util.get_node_ip_address()
    others = sorted({r.get("NodeManagerAddress") for r in rows if r["NodeID"] in room} - {here, None})
    if not others:
        return None
    return (f"warning: the model endpoint {ctx.chat.base_url} is this machine's loopback: attempts on "
            f"{', '.join(others)} cannot reach it (use a base_url the nodes reach, or model.server.placement: ray)")
