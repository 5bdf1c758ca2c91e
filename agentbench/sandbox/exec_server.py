"""The command server that runs as the main process of every Docker sandbox (stdlib only, Python >= 3.6).

The host attaches to the container's stdin/stdout once and writes one request per command; this process
runs it with `bash -c` in a session of its own and writes one answer (a fork, ~2 ms; `docker exec`: ~60 ms).

The wire format is a header line of ASCII numbers followed by raw bytes (no json/base64: this file is
started for every attempt, and those imports would double its start-up time):

  request  b"run ID TIMEOUT_S MAX_BYTES CWD_LEN CMD_LEN\\n" + cwd + cmd
           b"read ID TIMEOUT_S MAX_BYTES PATH_LEN\\n" + path
           b"write ID TIMEOUT_S PATH_LEN DATA_LEN\\n" + path + data
           b"kill ID\\n"          (kill request ID's whole process group, if it is still running)
  answer   b"ID CODE TIMED_OUT OUT_HEAD OUT_TAIL OUT_TOTAL ERR_HEAD ERR_TAIL ERR_TOTAL\\n"
           + out_head + out_tail + err_head + err_tail

The file tools `read` / `write` run in a child dropped to the agent like a command's (its permissions, the
timeout, kill). `read` answers the bytes as stdout: past MAX_BYTES it is refused (a regular file by its
size, before reading; anything else once MAX_BYTES + 1 bytes came); `write` makes the parent folders. Code
0, or 1 with stderr b"ERRNO SIZE" (EFBIG past MAX_BYTES; SIZE the file's size, -1 where unknown).

Output is bounded here, inside the container: the first half of MAX_BYTES and the last half are kept,
the middle is only counted, so endless output never crosses the socket. A command past its timeout, and
whatever it left running when it ended, are killed with its process group. EOF on stdin (the host went
away) kills the running command and ends the server, and with it the container.
This file is shipped as the `python3 -c` argument; it imports nothing from agentbench.

Privilege separation (`--agent UID:GID`, which the Docker provider always passes): the server runs as root
with only CAP_SETUID, CAP_SETGID and CAP_KILL, and each command's child drops to the agent before exec
(`setgroups([])`, `setresgid`, `setresuid`; oom_score_adj 1000, so the OOM killer takes the agent's
processes before this one). The agent cannot signal the server (another uid, no capabilities): its
`kill -9 -1` ends only its own processes. After every command the server SIGKILLs every other process in
the container (`kill(-1)`, with CAP_KILL: what escaped the command's process group too, a fork bomb's
last members); init (pid 1) and the server itself are spared by the kernel. Never start it with `--agent`
outside a container of its own: kill(-1) would reach every process the user may signal.

The one allowed exception to "one owner per job": this file must stay stdlib-only and self-contained (it
runs inside containers as a `python3 -c` string), so it keeps its own copies of two jobs owned elsewhere:
`Bounded` (the head-and-tail rule of agentbench.sandbox.base.OutputBuffer, whose `render_parts` adds the
marker on the host) and `kill_group` (agentbench.proc.kill_tree).
"""

import errno
import os
import select
import signal
import stat
import sys
import time

DRAIN_GRACE_S = 1.0
POLL_S = 0.01  # only where pidfd_open is missing (Python < 3.9 or an old kernel)


class Bounded:
    """Keep the first half and the last half of `limit` bytes (a copy: see the module docstring)."""

    def __init__(self, limit, tail=True):
        self.head_limit = limit // 2 if tail else limit  # tail=False: only the first `limit` bytes
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk):
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk and self.tail_limit:
            self.tail += chunk
            if len(self.tail) > self.tail_limit:
                del self.tail[:len(self.tail) - self.tail_limit]


#: request kind -> how many of its header fields (after the id and the timeout) are numbers, then body lengths
SHAPES = {b"run": (1, 2), b"read": (1, 1), b"write": (0, 2)}


def parse_requests(buffer):
    """Cut the complete requests off the front of `buffer` (a bytearray); returns them as tuples:
    ("run", id, timeout, max_bytes, cwd, cmd), ("read", id, timeout, max_bytes, path),
    ("write", id, timeout, path, data), ("kill", id)."""
    requests = []
    while True:
        end = buffer.find(b"\n")
        if end < 0:
            return requests
        fields = bytes(buffer[:end]).split()
        if fields and fields[0] in SHAPES:
            numbers, parts = SHAPES[fields[0]]
            head = [int(fields[1]), float(fields[2])] + [int(f) for f in fields[3:3 + numbers]]
            lengths = [int(f) for f in fields[3 + numbers:3 + numbers + parts]]
            if len(buffer) < end + 1 + sum(lengths):
                return requests
            body = bytes(buffer[end + 1:end + 1 + sum(lengths)])
            del buffer[:end + 1 + sum(lengths)]
            cuts = [sum(lengths[:i]) for i in range(parts + 1)]
            requests.append(tuple([fields[0].decode()] + head + [body[cuts[i]:cuts[i + 1]] for i in range(parts)]))
        else:
            del buffer[:end + 1]
            if fields and fields[0] == b"kill":
                requests.append(("kill", int(fields[1])))


def encode_answer(rid, code, timed_out, out, err):
    """One answer on the wire; `out` and `err` are Bounded streams."""
    header = "%d %d %d %d %d %d %d %d %d\n" % (rid, code, int(timed_out), len(out.head), len(out.tail), out.total,
                                                len(err.head), len(err.tail), err.total)
    return header.encode() + bytes(out.head) + bytes(out.tail) + bytes(err.head) + bytes(err.tail)


def kill_group(pgid):
    """SIGKILL process group `pgid` (a copy of agentbench.proc.kill_tree: see the module docstring)."""
    for _ in range(3):  # a fork bomb may add members between two calls
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:  # no such group left
            return
        time.sleep(0.001)


def sweep():
    """SIGKILL every process of the container but init and this one (see the module docstring); reap what
    is ours to reap (everything, when this server is pid 1)."""
    for _ in range(200):  # a fork bomb may add members between two calls
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:  # ESRCH: nothing left that we may signal
            return
        reap()
        time.sleep(0.002)


def reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def become_agent(ids):
    """In the child, before exec: the agent's uid and gid, no supplementary groups, first in line for the
    OOM killer. Raising oom_score_adj needs no privilege."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    uid, gid = ids
    if os.getuid() == 0 and uid != 0:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)


def fork_retrying(limit_s=2.0):
    """os.fork, retried while the pids limit is exhausted (a fork bomb's remains are being reaped)."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            return os.fork()
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def spawn(cmd, cwd, out_w, err_w, ids=None, work=None):
    """fork + exec `bash -c cmd` in a new session (its pid is its process group), stdin from /dev/null, as
    the agent (`ids`) when given; a cwd it cannot enter is exit code 1. With `work` (a file tool), the child
    calls work() instead of exec, as the agent all the same, and exits with what it returns."""
    pid = fork_retrying()
    if pid == 0:  # the child: only async-signal-safe work until exec
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            if ids is not None:
                become_agent(ids)
            try:
                os.chdir(cwd)
            except OSError as exc:
                reason = b"cwd is not a directory" if not os.path.isdir(cwd) else ("cannot enter cwd (%s)" %
                                                                                     exc.strerror).encode()
                os.write(2, b"agentbench: " + reason + b": " + cwd + b"\n")
                os._exit(1)
            if work is not None:
                os._exit(work())
            os.execvp("bash", ["bash", "-c", cmd])
        except BaseException as exc:
            os.write(2, ("agentbench: cannot run the command: %s\n" % exc).encode())
        finally:
            os._exit(127)
    return pid


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def failed(exc, size=-1):
    """A file tool's failure, as its answer says it: b"ERRNO SIZE" on stderr, exit code 1."""
    write_all(2, ("%d %d" % (getattr(exc, "errno", None) or errno.EIO, size)).encode())
    return 1


def read_path(path, limit):
    """In the child, as the agent: the bytes of `path` on stdout, if there are at most `limit` of them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # (a FIFO must not block the open)
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return failed(OSError(errno.EISDIR, "a directory"))
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            return failed(OSError(errno.EFBIG, "too large"), info.st_size)
        data = bytearray()
        while len(data) <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - len(data)))
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            return failed(OSError(errno.EFBIG, "too large"))
        write_all(1, data)
        return 0
    except OSError as exc:
        return failed(exc)


def write_path(path, data):
    """In the child, as the agent: `data` into `path`, its parent folders made."""
    try:
        if not os.path.isdir(os.path.dirname(path) or b"/"):
            os.makedirs(os.path.dirname(path))  # (FileExistsError where a file is: errno EEXIST)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        write_all(fd, data)
        os.close(fd)
        return 0
    except OSError as exc:
        return failed(exc)


OOM_COUNTERS = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")  # cgroup v2, v1
OOM_NOTE = (b"\nagentbench: out of memory: the OOM killer ended a process of this command (the sandbox's "
            b"memory limit; files written to the workdir and /tmp count toward it)\n")


def oom_kills():
    """How many processes the OOM killer has ended in this container's cgroup; None where it cannot be read."""
    for path in OOM_COUNTERS:
        try:
            with open(path, "rb") as f:
                for line in f:
                    if line.startswith(b"oom_kill "):
                        return int(line.split()[1])
        except (OSError, ValueError):
            continue
    return None


def exit_code(status):
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Server:
    def __init__(self, ids=None):
        self.ids = ids  # (uid, gid) of the agent: commands drop to it, and the server sweeps after each
        self.pending = bytearray()  # bytes read from stdin, not yet a whole request
        self.queue = []  # whole requests waiting their turn
        self.eof = False

    def read_stdin(self):
        data = os.read(0, 65536)
        if not data:
            self.eof = True
            return
        self.pending += data
        self.queue.extend(parse_requests(self.pending))

    def answer(self, rid, code, timed_out, out, err):
        data = encode_answer(rid, code, timed_out, out, err)
        while data:
            data = data[os.write(1, data):]

    def serve(self):
        while True:
            while not self.queue and not self.eof:
                self.read_stdin()
            if not self.queue:
                return
            request = self.queue.pop(0)
            if request[0] == "run":
                self.run(*request[1:])
                if self.ids is not None:
                    sweep()
            elif request[0] == "read":
                rid, timeout, limit, path = request[1:]
                self.run(rid, timeout, limit, b"/", b"", lambda: read_path(path, limit), Bounded(limit, tail=False))
            elif request[0] == "write":
                rid, timeout, path, data = request[1:]
                self.run(rid, timeout, 64, b"/", b"", lambda: write_path(path, data))

    def run(self, rid, timeout, limit, cwd, cmd, work=None, out=None):
        """Run `cmd` (or the file tool `work`) and answer; `out` collects its stdout (default: head and tail)."""
        out, err = out or Bounded(limit), Bounded(limit)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        ooms = oom_kills()
        try:
            pid = spawn(cmd, cwd, out_w, err_w, self.ids, work)
        except OSError as exc:  # e.g. the pids limit is exhausted
            err.feed(("agentbench: cannot start the command: %s\n" % exc).encode())
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            return self.answer(rid, 126, False, out, err)
        os.close(out_w)
        os.close(err_w)
        pidfd = None
        if hasattr(os, "pidfd_open"):
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                pidfd = None
        streams = {out_r: out, err_r: err}
        deadline = time.monotonic() + timeout
        status = None
        timed_out = False
        ended_at = None  # when the command (or its timeout) ended; pipes get DRAIN_GRACE_S more
        while True:
            now = time.monotonic()
            if status is None:
                done, wait_status = os.waitpid(pid, os.WNOHANG)
                if done:
                    status, ended_at = wait_status, now
                    kill_group(pid)  # background jobs it left behind
                elif now >= deadline:
                    timed_out = True
                    kill_group(pid)
                    status, ended_at = os.waitpid(pid, 0)[1], now
            if ended_at is not None and (not streams or now - ended_at > DRAIN_GRACE_S):
                break  # drained (or something outside the group holds a pipe open)
            wait = (deadline if ended_at is None else ended_at + DRAIN_GRACE_S) - now
            fds = list(streams)
            if not self.eof:
                fds.append(0)
            if ended_at is None:
                if pidfd is not None:
                    fds.append(pidfd)
                else:
                    wait = min(wait, POLL_S)
            ready, _, _ = select.select(fds, [], [], max(wait, 0))
            for fd in ready:
                if fd == 0:
                    self.read_stdin()
                    if self.eof or any(r[0] == "kill" and r[1] == rid for r in self.queue):
                        kill_group(pid)
                    self.queue = [r for r in self.queue if r[0] != "kill"]
                elif fd in streams:
                    chunk = os.read(fd, 65536)
                    if chunk:
                        streams[fd].feed(chunk)
                    else:
                        del streams[fd]
        kill_group(pid)
        for fd in [out_r, err_r] + ([pidfd] if pidfd is not None else []):
            os.close(fd)
        if ooms is not None and (oom_kills() or 0) > ooms:
            err.feed(OOM_NOTE)
        self.answer(rid, exit_code(status), timed_out, out, err)


def agent_ids(argv):
    """`--agent UID:GID` from the command line, else None (commands run as this process, no sweep)."""
    if "--agent" not in argv:
        return None
    uid, _, gid = argv[argv.index("--agent") + 1].partition(":")
    return int(uid), int(gid or uid)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    server = Server(agent_ids(sys.argv))
    try:
        server.serve()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        if server.ids is not None:
            sweep()
