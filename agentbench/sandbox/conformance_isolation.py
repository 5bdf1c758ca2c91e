"""The isolation checks of the conformance suite: what an isolating backend must hold against the commands a
model writes. conformance.py runs them for every provider whose `isolates` is true (the default); a
provider that declares `isolates = False` (the local one) has them skipped, with that as the reason.

Each check is bounded (a short timeout, a cap on what it forks, allocates or writes) and sends no traffic
past loopback on a backend that isolates: the connect and the lookup fail because there is no network. The
limits are read inside the sandbox (`df`, the cgroup's memory limit), so any backend's own values work; a
limit above the caps below counts as none. Assumes bash, coreutils, python3 and Linux `/proc`, like the
rest of the suite.
"""

from __future__ import annotations

import re

from agentbench.protocols import Sandbox

MAX_DISK = 16 << 30  # a writable filesystem larger than this is not "size-limited"
MAX_MEMORY = 16 << 30  # nor is a memory limit above this (or none)
MAX_FORKS = 5000  # a fork loop that gets this far was not stopped by a pids limit
MAX_NOFILE = 65536


def _show(res: object) -> str:
    return repr(res)[:2000]


async def _alive(sb: Sandbox, after: str) -> None:
    res = await sb.exec("echo alive", timeout=20)
    assert res.exit_code == 0 and res.stdout == "alive\n", f"the sandbox does not answer after {after}: {_show(res)}"


_NET = r"""python3 - <<'EOF'
import socket
def fails(fn):
    try:
        fn()
    except OSError as exc:  # socket.timeout and socket.gaierror are OSErrors
        return "failed: %s" % exc
    return "CONNECTED"
def unix(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(3)
    try:
        s.connect(path)
    finally:
        s.close()
print("tcp", fails(lambda: socket.create_connection(("1.1.1.1", 53), timeout=3).close()))
print("docker.sock", fails(lambda: unix("/var/run/docker.sock")))
print("dns", fails(lambda: socket.getaddrinfo("example.com", 443)))
EOF"""


async def no_network(sb: Sandbox) -> None:
    """A TCP connect to 1.1.1.1:53, a connect to the host's docker socket path and a DNS lookup all fail."""
    res = await sb.exec(_NET, timeout=30)
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
    assert set(lines) == {"tcp", "docker.sock", "dns"}, f"the network probe did not run: {_show(res)}"
    reached = [name for name, outcome in lines.items() if not outcome.startswith("failed")]
    assert not reached, f"reachable from the sandbox: {reached}: {_show(res)}"


async def cannot_signal_server(sb: Sandbox) -> None:
    """`kill -9 $PPID` (the command's parent, the backend's server) is refused and `kill -9 -1` ends only the
    agent's own processes: the next command still runs."""
    res = await sb.exec('if [ "$PPID" -gt 0 ]; then kill -9 "$PPID" 2>/dev/null; echo "parent=$?"; fi; '
                        "kill -9 -1; echo after", timeout=20)
    assert "parent=0" not in res.stdout, f"the agent could SIGKILL its command's parent: {_show(res)}"
    await _alive(sb, "`kill -9 -1`")
    res = await sb.exec("sleep 30 & kill -9 -1; wait; echo survived", timeout=20)
    assert res.exit_code == 0 and "survived" in res.stdout, f"{_show(res)}"
    await _alive(sb, "a second `kill -9 -1`")


async def root_not_writable(sb: Sandbox) -> None:
    """Nothing outside the writable mounts takes a write: `touch /usr/x` (and / and /etc) fail."""
    res = await sb.exec("for p in /usr/agentbench-x /agentbench-x /etc/agentbench-x; do "
                        "if touch $p 2>/dev/null; then echo WROTE $p; rm -f $p; fi; done; echo checked", timeout=20)
    assert res.stdout.strip() == "checked", f"the root filesystem took a write: {_show(res)}"


def _fill(where: str) -> str:
    """Write 1 MiB more than `where` has room for; print size, room and the writer's exit code."""
    return (f"size=$(df -B1 --output=size {where} | tail -1); avail=$(df -B1 --output=avail {where} | tail -1); "
            f"echo size=$size avail=$avail; if [ $size -gt {MAX_DISK} ]; then exit 0; fi; "
            f"head -c $((avail + 1048576)) /dev/zero > {where}/agentbench-fill; echo writer=$?")


async def _filled(sb: Sandbox, where: str) -> None:
    res = await sb.exec(_fill(where), timeout=50)
    fields = dict(re.findall(r"(\w+)=(\d+)", res.stdout))
    assert "size" in fields, f"df {where} failed: {_show(res)}"
    assert int(fields["size"]) <= MAX_DISK, f"{where} is not size-limited ({int(fields['size']) >> 30} GiB)"
    assert fields.get("writer") not in (None, "0"), f"writing past the room of {where} did not fail: {_show(res)}"
    assert "No space left" in res.stderr, f"the writer failed, not for want of space: {_show(res)}"
    res = await sb.exec(f"rm -f {where}/agentbench-fill && echo freed > {where}/after && cat {where}/after", timeout=20)
    assert res.stdout == "freed\n", f"{where} does not take writes again after the filler is removed: {_show(res)}"


async def tmp_size_limited(sb: Sandbox) -> None:
    """/tmp is a filesystem of a bounded size: writing past it fails with ENOSPC, and the sandbox goes on."""
    await _filled(sb, "/tmp")


async def disk_filler_stopped(sb: Sandbox) -> None:
    """The workdir takes no more than its limit: a filler meets ENOSPC; removing it makes room again."""
    await _filled(sb, sb.workdir)


_FORKS = f"""python3 - <<'EOF'
import os, time
pids = []
try:
    while len(pids) < {MAX_FORKS}:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        pids.append(pid)
except OSError as exc:
    print("limited", len(pids), exc.errno)
else:
    print("unlimited", len(pids))
with open("agentbench-forks.pids", "w") as f:
    f.write(" ".join(map(str, pids)))
EOF"""
_LEFT = ("n=0; for p in $(cat agentbench-forks.pids); do s=$(cut -d')' -f2 /proc/$p/stat 2>/dev/null | cut -d' ' -f2); "
         "if [ -n \"$s\" ] && [ \"$s\" != Z ] && [ \"$s\" != X ]; then n=$((n+1)); fi; done; echo $n")


async def fork_bomb_contained(sb: Sandbox) -> None:
    """A fork loop (no ulimit of its own) is stopped by the pids limit; the sandbox answers after it and
    nothing it forked is left."""
    res = await sb.exec(_FORKS, timeout=30)
    assert res.stdout.startswith("limited"), f"{MAX_FORKS} forks went through (no pids limit): {_show(res)}"
    await _alive(sb, "a fork loop")
    for _ in range(20):
        left = await sb.exec(_LEFT, timeout=20)
        if left.stdout.strip() == "0":
            return
    raise AssertionError(f"processes of the fork loop are left: {_show(left)}")


_LIMIT = ("cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
          "2>/dev/null || echo max")
_HOG = """python3 - <<'EOF'
chunks = []
for _ in range({n}):
    chunks.append(b"x" * (16 << 20))
print("ALLOCATED", len(chunks) * 16, "MiB")
EOF"""


async def memory_hog_contained(sb: Sandbox) -> None:
    """Allocating past the memory limit ends that command (the OOM killer, or MemoryError), not the sandbox."""
    res = await sb.exec(_LIMIT, timeout=20)
    text = res.stdout.strip()
    assert text.isdigit() and int(text) <= MAX_MEMORY, f"no memory limit visible in the sandbox: {_show(res)}"
    chunks = (int(text) + (512 << 20)) // (16 << 20)
    res = await sb.exec(_HOG.format(n=chunks), timeout=50)
    assert not res.timed_out and res.exit_code != 0 and "ALLOCATED" not in res.stdout, \
        f"allocating {chunks * 16} MiB past the {int(text) >> 20} MiB limit was not stopped: {_show(res)}"
    await _alive(sb, "a memory hog")


async def nofile_limited(sb: Sandbox) -> None:
    """Open files are capped (ulimit -n), and the agent cannot raise the hard limit."""
    res = await sb.exec("ulimit -Hn; ulimit -Hn $(( $(ulimit -Hn) * 2 )) 2>/dev/null && echo RAISED", timeout=20)
    hard = res.stdout.split()[0] if res.stdout.split() else ""
    assert hard.isdigit() and int(hard) <= MAX_NOFILE, f"open files not capped (hard limit {hard!r})"
    assert "RAISED" not in res.stdout, f"the agent raised its open-files hard limit: {_show(res)}"
    res = await sb.exec("python3 -c \"import os\nfds = []\ntry:\n    while True: fds.append(os.open('/dev/null', 0))"
                        "\nexcept OSError as exc: print('stopped', len(fds), exc.errno)\"", timeout=30)
    assert res.stdout.startswith("stopped"), f"{_show(res)}"
    await _alive(sb, "running out of file descriptors")


ISOLATION = (no_network, cannot_signal_server, root_not_writable, tmp_size_limited, disk_filler_stopped,
             fork_bomb_contained, memory_hog_contained, nofile_limited)
