"""A real Docker registry on loopback, for tests of pulling and pushing images (never used by a real run).

    with loopback_registry(tmp_dir) as registry:   # "127.0.0.1:PORT"
        push_image(client, "agentbench/rootfs:...", registry, "swebench/demo:latest")

It runs Debian's `docker-registry` (distribution 2.x; `ensure_registry_binary()` installs the package when
it is missing and we are root) on 127.0.0.1 and a free port, storing blobs under `tmp_dir/storage`; its
log, access log included, is `tmp_dir/registry.log` (`registry_log(tmp_dir)`). The engine treats
127.0.0.0/8 registries as insecure-allowed, so plain HTTP works without any engine configuration.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

from agentbench.proc import kill_tree, log_tail

PACKAGE = "docker-registry"
BINARY_CANDIDATES = ("/usr/bin/docker-registry", "/usr/sbin/docker-registry", "/usr/local/bin/docker-registry")
HOST = "127.0.0.1"  # loopback only, ever
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
LOG_NAME = "registry.log"
CONFIG_NAME = "registry.yml"


class RegistryUnavailable(RuntimeError):
    """The registry binary is missing and cannot be installed, or the registry did not start."""


def _find_binary() -> str | None:
    found = shutil.which("docker-registry")
    if found:
        return found
    return next((c for c in BINARY_CANDIDATES if os.access(c, os.X_OK)), None)


def ensure_registry_binary() -> str:
    """The path of `docker-registry`, installing Debian's package (apt-get, as root) when it is missing."""
    found = _find_binary()
    if found:
        return found
    hint = f"install it with `apt-get install -y --no-install-recommends {PACKAGE}` (or run tests/ensure_tools.sh)"
    if os.geteuid() != 0:
        raise RegistryUnavailable(f"{PACKAGE} is not installed and this process is not root: {hint}")
    if shutil.which("apt-get") is None:
        raise RegistryUnavailable(f"{PACKAGE} is not installed and there is no apt-get here: {hint}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE]
    proc = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:  # perhaps stale package lists: refresh them once
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, env=env, timeout=600)
        proc = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600)
    found = _find_binary()
    if proc.returncode != 0 or not found:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise RegistryUnavailable(f"could not install {PACKAGE} (apt-get exited {proc.returncode}): {hint}\n{tail}")
    return found


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (also what a test needs for 'nothing listens there')."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def registry_log(tmp_dir: Path | str) -> Path:
    return Path(tmp_dir) / LOG_NAME


def _config(storage: Path, port: int) -> str:
    return (
        "version: 0.1\n"
        "log:\n"
        "  level: info\n"
        "  fields:\n"
        "    service: registry\n"
        "storage:\n"
        "  filesystem:\n"
        f"    rootdirectory: {storage}\n"
        "  delete:\n"
        "    enabled: true\n"
        "http:\n"
        f"  addr: {HOST}:{port}\n"
    )


def _answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # answering, with auth (not ours, but alive)
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    kill_tree(proc, STOP_TIMEOUT_S)  # its own session: SIGTERM, then SIGKILL
    proc.wait(STOP_TIMEOUT_S)


def _start(binary: str, root: Path, storage: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """One registry process answering on a fresh port, or RegistryUnavailable (`port_taken` set when
    another process took the port first)."""
    port = free_port()
    address = f"{HOST}:{port}"
    config = root / CONFIG_NAME
    config.write_text(_config(storage, port))
    log_path = registry_log(root)
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            if _answers(address):
                return proc, address
            time.sleep(0.05)
    except BaseException:
        _stop(proc)
        raise
    exited = proc.poll()
    _stop(proc)
    why = (f"exited with status {exited}" if exited is not None
           else f"did not answer GET /v2/ within {START_TIMEOUT_S:.0f} s")
    with open(log_path, "rb") as fh:
        fh.seek(offset)
        own_log = fh.read().decode(errors="replace")
    error = RegistryUnavailable(f"the loopback registry ({binary}) {why}; log {log_path}:\n"
                                + log_tail(log_path, 20, start=offset))
    error.port_taken = "address already in use" in own_log.lower()  # type: ignore[attr-defined]
    raise error


@contextlib.contextmanager
def loopback_registry(tmp_dir: Path | str) -> Iterator[str]:
    """Run a registry on 127.0.0.1:<free port> with storage in `tmp_dir`; yields "127.0.0.1:PORT" once
    `GET /v2/` answers, and stops the process on exit."""
    binary = ensure_registry_binary()
    root = Path(tmp_dir)
    storage = root / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    # REGISTRY_* variables would override the config file: the registry sees none of the caller's
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    for attempt in range(3):  # the free port can be taken between choosing and binding it
        try:
            proc, address = _start(binary, root, storage, env)
            break
        except RegistryUnavailable as exc:
            if attempt == 2 or not getattr(exc, "port_taken", False):
                raise
    try:
        yield address
    finally:
        _stop(proc)
