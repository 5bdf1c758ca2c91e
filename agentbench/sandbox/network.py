"""Whether grading sandboxes get a network (`sandbox.grading_network`), decided once per process.

The official harness grades in containers on Docker's default bridge: an eval script may reach the
internet (a reinstall fetching a build dependency, a test downloading a file). agentbench's sandboxes have
no network; the agent's always stays so. The grading sandbox (the fresh one the scorer opens to apply the
patch and run the eval script, and check_environment's) follows `sandbox.grading_network`:

- `true`: the engine's default bridge; `false`: no network;
- `auto` (default): as the official harness where this machine has network, none where it has not. "Has
  network" is one probe, made once per process: Docker Hub's registry (`registry-1.docker.io:443`, the
  host the official harness pulls its images from) resolves and accepts a TCP connection within
  PROBE_TIMEOUT_S. A machine behind a proxy, or with a package mirror but no route out, reads as offline:
  set `true` there if the eval scripts may use what the bridge reaches;
- an agent sandbox that has a network already (`sandbox.network: bridge`) means grading has one too.

Pure but for `machine_has_network` (the probe, cached).
"""

from __future__ import annotations

import socket
import threading
from functools import cache
from typing import Callable, Literal

GradingNetwork = bool | Literal["auto"]
PROBE = ("registry-1.docker.io", 443)
PROBE_TIMEOUT_S = 3.0
BRIDGE = "bridge"


def grading_network_enabled(setting: GradingNetwork, agent_network: str, has_network: Callable[[], bool]) -> bool:
    """The rule of the module doc: `setting` (true / false / "auto") given the agent sandbox's network mode;
    `has_network` is asked only for "auto" with an isolated agent."""
    if agent_network != "none":
        return True
    if setting == "auto":
        return bool(has_network())
    if isinstance(setting, bool):
        return setting
    raise ValueError(f"sandbox.grading_network must be true, false or auto, not {setting!r}")


def reaches(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether `host` resolves and accepts a TCP connection on `port`, all within `timeout_s` (the lookup
    runs in a daemon thread: a resolver that hangs counts as no)."""
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, name="agentbench-network-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(answer and answer[0])


@cache
def machine_has_network() -> bool:
    """`reaches(*PROBE)`, probed once per process."""
    return reaches(*PROBE)
