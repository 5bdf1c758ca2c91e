"""How a Docker sandbox's container is made: its config, the engine's host config, the mounts that take the
attempt's writes, and the tar archives that carry files in.

Layout of one container (each part configurable in the experiment's `sandbox` section):

- the container's user is root, every capability dropped but CAP_SETUID, CAP_SETGID (the command server
  drops each command to the agent) and CAP_KILL (it kills the agent's processes, another uid);
  no-new-privileges, so no setuid binary or file capability gives any of it back;
- commands run as `user` (the agent, 1000:1000 by default), which cannot signal the server;
- the image's filesystem is read-only (`read_only_root`); what an attempt may write lands on tmpfs volumes
  of a fixed size: the workdir (filled from the image's content there, plus `disk_limit` of room), each of
  `writable_paths` likewise, and /tmp (`tmp_size`). tmpfs, not the image's overlay: the engine here has no
  per-container disk quota (overlay2 `size` needs xfs with pquota); a tmpfs size is enforced by the kernel
  (ENOSPC). Pages the attempt writes there count toward its `memory` limit; the image's content copied in
  by the engine does not. Volumes, not `--tmpfs` mounts: put_archive / get_archive reach volumes;
- pids, nofile (`ulimit -n`), memory (no swap) and CPU limits; no network.
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from typing import Any

from docker.types import DriverConfig, Mount, Ulimit
from pydantic import model_validator

from agentbench.config.schema import DockerSettings

#: What the command server keeps of root: dropping to the agent, and killing the agent's processes.
SERVER_CAPS = ["SETUID", "SETGID", "KILL"]
TMP = "/tmp"
#: init and the command server are never the OOM killer's choice (each command raises its own to 1000).
SERVER_OOM_SCORE_ADJ = -1000
PAGE = 4096
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class DockerSandboxConfig(DockerSettings):
    """The experiment's Docker settings (`DockerSettings`: command limits and isolation), plus:"""

    workdir: str = "/workspace"

    @model_validator(mode="after")
    def _consistent(self) -> "DockerSandboxConfig":
        agent_ids(self.user)  # numeric, or a clear error now rather than at the first attempt
        if self.disk_limit is None and self.read_only_root:
            raise ValueError("sandbox.disk_limit: null leaves the workdir in the image's filesystem, which "
                             "sandbox.read_only_root: true makes read-only; set a disk_limit or read_only_root: false")
        bad = [p for p in self.writable_paths if not p.startswith("/") or p.rstrip("/") in ("", TMP)]
        if bad:
            raise ValueError(f"sandbox.writable_paths: {bad}: each must be an absolute path other than / and {TMP}")
        return self


def parse_size(text: str) -> int:
    """Bytes of a size as Docker writes them: 512m, 1g, 1.5GiB, 1048576 (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 512m, 1g)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def agent_ids(user: str) -> tuple[int, int]:
    """(uid, gid) of `sandbox.user`: numeric `uid[:gid]` (gid defaults to the uid)."""
    uid, _, gid = user.strip().partition(":")
    if not uid.isdigit() or not (gid.isdigit() or gid == ""):
        raise ValueError(f"sandbox.user: {user!r}: the docker sandbox needs a numeric uid[:gid] (the agent's "
                         f"uid inside the container, e.g. 1000:1000)")
    return int(uid), int(gid or uid)


def tmpfs_volume(target: str, size: int, uid: int, gid: int, mode: int, labels: dict[str, str]) -> Mount:
    """An anonymous volume on a tmpfs of `size` bytes at `target` (removed with the container)."""
    options = f"size={max(size, PAGE)},uid={uid},gid={gid},mode={mode:o}"
    return Mount(target, None, type="volume", labels=labels, no_copy=True,  # (the engine would copy to disk)
                 driver_config=DriverConfig("local", {"type": "tmpfs", "device": "tmpfs", "o": options}))


def host_config(api: Any, cfg: DockerSandboxConfig, mounts: list[Mount]) -> dict[str, Any]:
    return api.create_host_config(
        init=True, auto_remove=True, network_mode=cfg.network, mem_limit=cfg.memory, memswap_limit=cfg.memory,
        nano_cpus=int(cfg.cpus * 1e9), pids_limit=cfg.pids_limit, read_only=cfg.read_only_root, mounts=mounts,
        oom_score_adj=SERVER_OOM_SCORE_ADJ,
        ulimits=[Ulimit(name="nofile", soft=cfg.nofile, hard=cfg.nofile)],
        cap_drop=["ALL"] if cfg.drop_capabilities else None,
        cap_add=SERVER_CAPS if cfg.drop_capabilities else None,
        security_opt=["no-new-privileges"] if cfg.no_new_privileges else None)


def tar_of(files: dict[str, bytes], uid: int = 1000, gid: int = 1000) -> bytes:
    """A tar of `files` (name -> content) owned by uid:gid, for put_archive."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o644, uid, gid, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
