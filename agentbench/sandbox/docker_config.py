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
- /dev/shm is a tmpfs of SHM_SIZE with one inode per 4 KiB, like the volumes (Docker's own /dev/shm has
  millions); the IPC namespace is the container's own (`ipc_mode: none`, no engine /dev/shm) with SysV IPC
  and POSIX message queues capped by IPC_SYSCTLS, /dev/mqueue covered by a read-only empty tmpfs;
- pids, nofile (`ulimit -n`), memory (no swap) and CPU limits; no network.
"""

from __future__ import annotations

import io
import tarfile
import time
from typing import Any

from docker.types import DriverConfig, Mount, Ulimit
from pydantic import model_validator

from agentbench.config.schema import DockerSettings, parse_size

__all__ = ["DockerSandboxConfig", "agent_ids", "host_config", "parse_size", "rooms", "tar_of", "tmpfs_volume"]

#: What the command server keeps of root: dropping to the agent, and killing the agent's processes.
SERVER_CAPS = ["SETUID", "SETGID", "KILL"]
TMP = "/tmp"
#: Memory the tmpfs rooms (workdir, /tmp, /dev/shm, writable_paths) always leave to processes: a tmpfs's
#: pages count toward `memory`, so rooms past it would let a filler starve the command server.
MEMORY_RESERVE = 128 << 20
SHM_SIZE = 64 << 20
EXTRA_ROOM_FLOOR = 16 << 20  # the least room a writable path gets (a reinstall's metadata)
PAGE = 4096
#: Namespaced IPC limits (the container's own IPC namespace). SysV shared memory: 16 MiB in all (kernel.shmall
#: in pages), a segment at most that, 64 segments; message queues: 16 of 64 KiB; semaphores: 32 sets of 32.
#: POSIX message queues: 16 (each also counts toward the agent's RLIMIT_MSGQUEUE, 800 KiB). SysV segments
#: outlive the command that made them (the sweep kills processes, not IPC objects): what they hold counts
#: toward `memory`, within MEMORY_RESERVE.
IPC_SYSCTLS = {"kernel.shmmax": str(16 << 20), "kernel.shmall": str((16 << 20) // PAGE), "kernel.shmmni": "64",
               "kernel.msgmni": "16", "kernel.msgmnb": str(64 << 10), "kernel.msgmax": str(8 << 10),
               "kernel.sem": "32 1024 32 32", "fs.mqueue.queues_max": "16"}


class DockerSandboxConfig(DockerSettings):
    """The experiment's Docker settings (`DockerSettings`: command limits and isolation), plus:"""

    workdir: str = "/workspace"

    @model_validator(mode="after")
    def _consistent(self) -> "DockerSandboxConfig":
        agent_ids(self.user)  # numeric, or a clear error now rather than at the first attempt
        if self.disk_limit is None and self.read_only_root:
            raise ValueError("sandbox.disk_limit: null leaves the workdir in the image's filesystem, which "
                             "sandbox.read_only_root: true makes read-only; set a disk_limit or read_only_root: false")
        if self.disk_limit is not None:
            room = parse_size(self.disk_limit) + parse_size(self.tmp_size) + SHM_SIZE
            if room > parse_size(self.memory) - MEMORY_RESERVE:
                raise ValueError(
                    f"sandbox.disk_limit ({self.disk_limit}) + sandbox.tmp_size ({self.tmp_size}) + /dev/shm "
                    f"({SHM_SIZE >> 20}m) must leave {MEMORY_RESERVE >> 20}m of sandbox.memory ({self.memory}) to "
                    f"processes: what an attempt writes there is held in memory (tmpfs) and counts toward the "
                    f"limit. Lower them or raise memory")
        bad = [p for p in self.writable_paths if not p.startswith("/") or p.rstrip("/") in ("", TMP)]
        if bad:
            raise ValueError(f"sandbox.writable_paths: {bad}: each must be an absolute path other than / and {TMP}")
        return self


def agent_ids(user: str) -> tuple[int, int]:
    """(uid, gid) of `sandbox.user`: numeric `uid[:gid]` (gid defaults to the uid)."""
    uid, _, gid = user.strip().partition(":")
    if not uid.isdigit() or not (gid.isdigit() or gid == ""):
        raise ValueError(f"sandbox.user: {user!r}: the docker sandbox needs a numeric uid[:gid] (the agent's "
                         f"uid inside the container, e.g. 1000:1000)")
    return int(uid), int(gid or uid)


def rooms(cfg: DockerSandboxConfig, extra: int) -> tuple[int, int]:
    """(room of the workdir, room of each of `extra` other writable paths). The workdir gets disk_limit; the
    others share what memory leaves past the reserve, the workdir, /tmp and /dev/shm, each at most disk_limit
    (and at least EXTRA_ROOM_FLOOR): all the rooms together stay within memory, so a filler meets ENOSPC
    before the OOM killer."""
    disk = parse_size(cfg.disk_limit) if cfg.disk_limit is not None else 0
    left = parse_size(cfg.memory) - MEMORY_RESERVE - disk - parse_size(cfg.tmp_size) - SHM_SIZE
    return disk, (max(min(disk, left // extra), EXTRA_ROOM_FLOOR) if extra else 0)


def tmpfs_volume(target: str, content: int, room: int, files: int, owner: tuple[int, int, int],
                 labels: dict[str, str]) -> Mount:
    """An anonymous volume at `target` on a tmpfs of `content` + `room` bytes, with inodes for `files` and one
    new file per 4 KiB of room (empty files take no size but kernel memory); removed with the container.
    `owner`: uid, gid and mode of its root."""
    uid, gid, mode = owner
    inodes = files + room // PAGE + 1024
    options = f"size={max(content + room, PAGE)},nr_inodes={inodes},uid={uid},gid={gid},mode={mode:o}"
    return Mount(target, None, type="volume", labels=labels, no_copy=True,  # (the engine would copy to disk)
                 driver_config=DriverConfig("local", {"type": "tmpfs", "device": "tmpfs", "o": options}))


def dev_tmpfs() -> dict[str, str]:
    """/dev/shm (SHM_SIZE, an inode per 4 KiB) and an empty read-only /dev/mqueue: `--tmpfs` mounts (nothing
    goes in or out of them with put_archive)."""
    return {"/dev/shm": f"rw,nosuid,nodev,noexec,size={SHM_SIZE},nr_inodes={SHM_SIZE // PAGE + 1024},mode=1777",
            "/dev/mqueue": "ro,nosuid,nodev,noexec,size=4k,nr_inodes=16,mode=755"}


def host_config(api: Any, cfg: DockerSandboxConfig, mounts: list[Mount]) -> dict[str, Any]:
    return api.create_host_config(
        init=True, auto_remove=True, network_mode=cfg.network, ipc_mode="none", tmpfs=dev_tmpfs(),
        sysctls=IPC_SYSCTLS, mem_limit=cfg.memory, memswap_limit=cfg.memory,
        nano_cpus=int(cfg.cpus * 1e9), pids_limit=cfg.pids_limit, read_only=cfg.read_only_root, mounts=mounts,
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
