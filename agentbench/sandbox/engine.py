"""Finding (and, on a bare CI machine, starting) the Docker engine.

`engine_client()` answers "is there an engine?" cheaply: DOCKER_HOST or the default socket, one ping,
None when nothing answers. `ensure_engine()` is for the places that need one: it returns a client, or,
when nothing answers and this process is root, starts an already installed `dockerd` in the
background and waits for it. It never installs anything; `sandboxes/ensure_engine.sh` is the
Makefile/CI counterpart that also installs Debian's docker.io.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from typing import Callable

import docker
from docker.errors import DockerException

from agentbench.paths import cache_root
from agentbench.proc import log_tail

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
API_TIMEOUT_S = 120  # per-request HTTP timeout of the returned client (builds pass their own)
DOCKERD_ARGS_ENV = "AGENTBENCH_DOCKERD_ARGS"
DEFAULT_DOCKERD_ARGS = "--storage-driver=overlay2"
INSTALL_HINT = ("install Debian's engine with `apt-get install -y docker.io` (or run "
                "`sandboxes/ensure_engine.sh` as root, which installs and starts it)")


class EngineError(RuntimeError):
    """No Docker engine answers and none could be started."""


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def engine_client(timeout: float = 3) -> docker.DockerClient | None:
    """A client for the engine at DOCKER_HOST (or the default socket) if it answers a ping within
    `timeout` seconds, else None. The returned client uses a normal request timeout (API_TIMEOUT_S)."""
    try:
        client = docker.from_env(timeout=max(1, int(round(timeout))))
    except DockerException:
        return None
    try:
        if not client.ping():
            raise DockerException("ping failed")
    except Exception:  # noqa: BLE001 - requests/urllib3 errors as well as DockerException
        client.close()
        return None
    client.api.timeout = API_TIMEOUT_S
    return client


def engine_answers() -> bool:
    """Whether this machine's Docker engine answers (within 2 s)."""
    client = engine_client(timeout=2)
    return client is not None and (client.close() or True)


def _find_dockerd() -> str | None:
    found = shutil.which("dockerd")
    if found:
        return found
    for candidate in ("/usr/sbin/dockerd", "/usr/bin/dockerd", "/usr/local/bin/dockerd"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def ensure_engine(log: Callable[[str], None] = print, wait_s: float = 60) -> docker.DockerClient:
    """A client for a working engine. When none answers and we are root, start `dockerd` (already
    installed) in the background with `--storage-driver=overlay2` (override: $AGENTBENCH_DOCKERD_ARGS),
    logging to <cache>/dockerd.log, and wait up to `wait_s` seconds. Otherwise raise EngineError."""
    client = engine_client()
    if client is not None:
        return client
    address = engine_address()
    if not address.startswith("unix://"):
        raise EngineError(f"no Docker engine answers at DOCKER_HOST={address}; start it there, or unset "
                          f"DOCKER_HOST to use the local socket")
    if os.geteuid() != 0:
        raise EngineError(f"no Docker engine answers at {address} and this process is not root, so it cannot "
                          f"start one: start the engine (`sudo dockerd &` or `sudo systemctl start docker`), "
                          f"or set DOCKER_HOST; if it is not installed, {INSTALL_HINT}")
    dockerd = _find_dockerd()
    if dockerd is None:
        raise EngineError(f"no Docker engine answers at {address} and `dockerd` is not installed: {INSTALL_HINT}")

    log_path = cache_root() / "dockerd.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = [dockerd, *shlex.split(os.environ.get(DOCKERD_ARGS_ENV, DEFAULT_DOCKERD_ARGS))]
    if address != DEFAULT_SOCKET:
        args += ["--host", address]
    log(f"no Docker engine answers at {address}; starting `{' '.join(args)}` (log: {log_path})")
    with open(log_path, "ab") as out:
        offset = out.tell()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # outlives us, like a service
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        client = engine_client(timeout=2)
        if client is not None:
            log(f"Docker engine started (dockerd pid {proc.pid})")
            return client
        if proc.poll() is not None:
            raise EngineError(f"dockerd exited with status {proc.returncode} while starting; "
                              f"last lines of {log_path}:\n{log_tail(log_path, start=offset)}")
        time.sleep(0.5)
    raise EngineError(f"dockerd (pid {proc.pid}) did not answer within {wait_s:.0f} s; it is left running. "
                      f"Last lines of {log_path}:\n{log_tail(log_path, start=offset)}")
