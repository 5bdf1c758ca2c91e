"""The attacks on the sandbox as a regression suite (issue 22; docs/fault-matrix.md, "Attacks"): one test per
attack, through the real Docker backend and the locally built `python` image. The promises an attack broke
(the file tools as root and unbounded, /dev/shm's inodes, /dev/mqueue, SysV IPC, sandbox numbers that
pass the check and fail every attempt) have their tests here; the attacks that held keep theirs in
test_fault_matrix_sandbox.py / test_docker_sandbox.py, imported below under the attack's name, so this
module alone runs the whole list. Memory is measured on this process (the host side): its peak RSS is reset
before the attack and read after it (/proc/self/clear_refs, VmHWM)."""

from __future__ import annotations

import asyncio
import errno
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from agentbench.config.loader import ConfigError, load_experiment
from agentbench.protocols import FileTooLargeError, Limits, Task, TaskExpected, TaskSandbox
from agentbench.runner.episode import AttemptDeps, run_attempt
from agentbench.scoring.gaia import GaiaScorer
from agentbench.scoring.swebench import LOG_PATH, collect_patch, read_eval_log
from agentbench.testing.chat import scripted
from agentbench.graphs import coding

from .conftest import run_cli
from tests.unit.test_input_bounds import test_cli_alias_bomb_file_exits_2_naming_the_file as \
    test_input_yaml_alias_bomb_is_exit_2_naming_the_file
from tests.unit.test_input_bounds import test_cli_three_billion_epochs_exits_2_naming_the_file_and_field as \
    test_input_three_billion_epochs_is_exit_2_naming_the_field
from tests.unit.test_input_bounds import test_cli_too_many_attempts_exits_2_before_the_run_folder_exists as \
    test_input_a_todo_list_past_the_bound_is_refused_before_any_write

from .test_secrets import test_a_config_error_does_not_echo_a_set_secret as test_secret_set_value_not_echoed
from .test_secrets import test_a_failed_server_start_prints_no_secret_and_its_log_keeps_none as \
    test_secret_server_start_failure_and_server_log_masked
from .test_secrets import test_a_graph_params_secret_reaches_the_graph_and_nothing_it_writes as \
    test_secret_graph_params_masked_everywhere
from .test_secrets import test_a_refused_key_names_the_url_without_userinfo_and_writes_no_password as \
    test_secret_401_shows_the_url_without_userinfo
from .test_docker_sandbox import test_the_command_server_is_root_with_only_setuid_setgid_and_kill as \
    test_held_the_command_server_is_root_only_setuid_setgid_kill
from .test_fault_matrix_sandbox import answers, row, server_pid  # noqa: F401 - `row` is the fixture
from .test_fault_matrix_sandbox import test_endless_output_is_truncated_and_killed_at_the_timeout as \
    test_held_endless_output
from .test_fault_matrix_sandbox import test_fork_bomb_is_contained_by_the_pids_limit as test_held_fork_bomb
from .test_fault_matrix_sandbox import test_kill_minus_one_ends_only_the_agents_processes as \
    test_held_the_command_server_cannot_be_signalled
from .test_fault_matrix_sandbox import test_memory_hog_is_killed_not_the_server as test_held_memory_hog
from .test_fault_matrix_sandbox import test_network_is_unreachable as test_held_no_network
from .test_fault_matrix_sandbox import test_root_filesystem_is_read_only as test_held_read_only_root
from .test_fault_matrix_sandbox import test_tmp_filler_meets_enospc as test_held_tmp_filler
from .test_fault_matrix_sandbox import test_workdir_filler_meets_enospc as test_held_disk_filler

TASK = Task(id="attack", kind="qa", prompt="p", expected=TaskExpected(answer="42"))
GIB = 1 << 30
#: What the host process may grow by while the agent makes it read a file or a diff far past the cap: the cap
#: (8 MiB) a few times over (socket buffer, answer, bytes), well under the 1 GiB the old read took.
RSS_SLACK = 64 << 20


def _kib(key: str) -> int:
    return next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith(key + ":"))


@contextmanager
def peak_rss_growth() -> Iterator[dict[str, int]]:
    """Yields a dict whose `bytes` is, after the block, how far this process's peak RSS rose above its RSS at
    the start (the kernel's high-water mark, reset first: `echo 5 > /proc/self/clear_refs`)."""
    Path("/proc/self/clear_refs").write_text("5")
    start = _kib("VmRSS")
    seen = {"bytes": 0}
    yield seen
    seen["bytes"] = (_kib("VmHWM") - start) << 10


# -- the file tools: as the agent, bounded --------------------------------------------------------------------


@pytest.mark.parametrize("size", ["1G", "100G"])
async def test_read_file_of_a_huge_sparse_file_is_refused_and_the_host_stays_flat(row, size):
    """Before: read_file took the file through get_archive and joined it here (1 GiB: 121 MB -> 2.2 GB RSS)."""
    provider = row(f"read-{size}")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        assert (await sb.exec(f"truncate -s {size} big && du -k big")).stdout.split()[0] == "0"  # free to make
        with peak_rss_growth() as rss:
            with pytest.raises(FileTooLargeError) as raised:
                await sb.read_file("big")
        assert raised.value.errno == errno.EFBIG and raised.value.limit == 8 << 20
        assert raised.value.size == int(size[:-1]) * GIB and "sandbox.max_read_bytes" in str(raised.value)
        assert rss["bytes"] < RSS_SLACK, f"the host grew by {rss['bytes'] >> 20} MiB reading a {size} file"
        with pytest.raises(FileTooLargeError):  # a device has no size: refused once the cap is passed
            await sb.read_file("/dev/zero")
        await answers(sb, server)
    assert row.left(f"read-{size}") == []


async def test_read_file_at_the_cap_is_whole_and_one_byte_past_it_is_refused(row):
    provider = row("read-cap", max_read_bytes=1 << 20)
    async with provider.open(TASK) as sb:
        await sb.exec("head -c 1048576 /dev/urandom > at && cp at past && printf x >> past")
        assert await sb.read_file("at") == (await sb.read_file("at"))[:1 << 20] and len(await sb.read_file("at")) == 1 << 20
        with pytest.raises(FileTooLargeError) as raised:
            await sb.read_file("past")
        assert raised.value.size == (1 << 20) + 1 and raised.value.limit == 1 << 20
    assert row.left("read-cap") == []


async def test_read_file_reads_only_what_the_agent_may(row):
    """Before: read_file went through the engine as root and returned /etc/shadow (0640 root:shadow)."""
    provider = row("read-as-agent")
    async with provider.open(TASK) as sb:
        cat = await sb.exec("cat /etc/shadow")
        assert cat.exit_code == 1 and "Permission denied" in cat.stderr, cat
        with pytest.raises(PermissionError, match="Permission denied"):
            await sb.read_file("/etc/shadow")
        await sb.exec("echo secret > mine && chmod 000 mine")
        with pytest.raises(PermissionError):  # the agent's own rule applies, not the server's root
            await sb.read_file("mine")
        with pytest.raises(IsADirectoryError):
            await sb.read_file("/tmp")
        await sb.exec("mkfifo pipe")
        assert await asyncio.wait_for(sb.read_file("pipe"), 10) == b""  # a FIFO with no writer does not hang
    assert row.left("read-as-agent") == []


async def test_write_file_writes_only_where_the_agent_may(row):
    """Before: write_file was put_archive as root, so a root-owned file on a writable mount was overwritten."""
    log = "/var/log/alternatives.log"
    provider = row("write-as-agent", writable_paths=["/var/log"])  # a tmpfs of the image's root-owned files
    async with provider.open(TASK) as sb:
        before = (await sb.exec(f"stat -c '%U %a %s' {log} && md5sum {log} && touch {log}")).stdout
        assert before.startswith("root 644 "), before  # writable mount, root's file: the agent's touch fails
        with pytest.raises(PermissionError, match="Permission denied"):
            await sb.write_file(log, b"forged\n")
        with pytest.raises(PermissionError):
            await sb.write_file("/var/log/agentbench/new.log", b"x")  # nor a folder in root's folder
        assert (await sb.exec(f"stat -c '%U %a %s' {log} && md5sum {log}")).stdout == before
        await sb.write_file("made/by/agent.txt", b"ok")
        owner = await sb.exec("stat -c '%u:%g %a' made/by/agent.txt made/by")
        assert owner.stdout.split("\n")[:2] == ["1000:1000 644", "1000:1000 755"], owner
    assert row.left("write-as-agent") == []


async def test_coding_graph_edit_of_a_huge_file_is_told_not_crashed(row):
    """The coding graph's edit action reads the file it edits: past the cap the model is told so, the attempt
    goes on (here to SUBMIT), and the host does not grow."""
    provider = row("edit-huge")
    f = "```"
    model = scripted(f"Make it.\n{f}bash\ntruncate -s 1G big.py\n{f}",
                     f"Edit it.\n{f}edit big.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n{f}", "SUBMIT")
    deps = AttemptDeps(make_model=lambda seed: model, sandboxes=provider, factory=coding.build_graph,
                       scorer=GaiaScorer(), limits=Limits(timeout_s=120, max_steps=5))
    with peak_rss_growth() as rss:
        result = await run_attempt(TASK, 0, deps)
    assert result.record.status == "failed", result.record.error  # it submitted no answer: the agent's, not error
    told = str(model.inputs[2][-1].content)
    assert told.startswith("Edit of big.py failed, nothing was written") and "sandbox.max_read_bytes" in told, told
    assert rss["bytes"] < RSS_SLACK, f"the host grew by {rss['bytes'] >> 20} MiB"
    assert row.left("edit-huge") == []


async def test_collecting_a_1gib_diff_fails_clearly_and_the_host_stays_flat(row):
    """The agent bloats the repo: 64 new files of 16 MiB, staged straight from a stream (a compressed blob of
    a few KiB in .git, the files marked assume-unchanged so none takes room), 1 GiB of `git diff`. The collection
    reads the diff through read_file and is refused with its size, nothing allocated here."""
    provider = row("diff-1g", memory="2g", disk_limit="64m", tmp_size="1200m")  # /tmp holds the whole diff
    task = TASK.model_copy(update={"sandbox": TaskSandbox(workdir="/testbed")})
    async with provider.open(task) as sb:
        made = await sb.exec("git init -q . && git -c user.email=a@b -c user.name=a commit -q --allow-empty -m base "
                             "&& blob=$(yes 'bloat the diff' | head -c 16M | git hash-object -w --stdin) && "
                             "for i in $(seq 64); do git update-index --add --cacheinfo 100644,$blob,f$i.txt && "
                             "git update-index --assume-unchanged f$i.txt; done && du -sk . | cut -f1",
                             timeout=60)
        assert made.exit_code == 0 and int(made.stdout) < 1024, made
        with peak_rss_growth() as rss:
            with pytest.raises(FileTooLargeError) as raised:
                await collect_patch(sb, task)
        assert raised.value.size is not None and raised.value.size > GIB, raised.value
        assert re.search(r"\d+ bytes, past sandbox\.max_read_bytes \(8388608\)", str(raised.value))
        assert rss["bytes"] < RSS_SLACK, f"the host grew by {rss['bytes'] >> 20} MiB collecting a 1 GiB diff"
    assert row.left("diff-1g") == []


async def test_a_flooded_eval_log_is_read_cut_and_the_host_stays_flat(row):
    """A patch makes the tests print 200 MiB: the grader reads the eval log's head and tail up to the cap (cut
    in the sandbox), never the whole log; the "Applied patch" line near the head and the status lines at the
    end both survive, and the bytes left out are counted."""
    provider = row("eval-flood", tmp_size="300m")
    async with provider.open(TASK) as sb:
        made = await sb.exec(f"{{ echo 'Applied patch tests/t.py cleanly.'; yes 'noise from the tests' | "
                             f"head -c 200M; echo; echo 'PASSED tests/t.py::test_ok'; }} > {LOG_PATH}", timeout=60)
        assert made.exit_code == 0, made
        with peak_rss_growth() as rss:
            log, left_out = await read_eval_log(sb)
        assert log.startswith("Applied patch tests/t.py cleanly.") and log.rstrip().endswith("PASSED tests/t.py::test_ok")
        assert len(log.encode()) <= 8 << 20 and left_out > 190 << 20
        assert f"{left_out} bytes of the eval log left out" in log
        assert rss["bytes"] < RSS_SLACK, f"the host grew by {rss['bytes'] >> 20} MiB reading a 200 MiB log"
    assert row.left("eval-flood") == []


async def test_an_endless_timeout_from_a_graph_does_not_end_the_command_server(row):
    """Before: a timeout of inf reached the server as `inf` and crashed it (the attempt became `error`)."""
    provider = row("inf-timeout")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        for timeout in (float("inf"), 1e300, float("nan"), -5.0):
            res = await sb.exec("echo ok", timeout=timeout)
            assert res.stdout == "ok\n" or (timeout < 0 and res.timed_out), (timeout, res)
        await answers(sb, server)
    assert row.left("inf-timeout") == []


# -- the rest of the sandbox holds its limits -----------------------------------------------------------------


async def test_dev_shm_has_an_inode_limit(row):
    """Before: /dev/shm took 2,000,000 empty files (Docker's own /dev/shm: an inode per page of host RAM)."""
    provider = row("shm-inodes")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        res = await sb.exec("python3 -c \"\nn = 0\ntry:\n    while n < 2000000:\n        open('/dev/shm/f%d' % n, 'w')"
                            ".close(); n += 1\nexcept OSError as exc: print(n, exc.strerror)\"", timeout=60)
        count, reason = res.stdout.split(" ", 1)
        assert 16000 <= int(count) <= 17408 and reason.strip() == "No space left on device", res
        assert (await sb.exec("df --output=size -k /dev/shm | tail -1")).stdout.strip() == "65536"
        await answers(sb, server)
    assert row.left("shm-inodes") == []


async def test_dev_mqueue_is_not_writable_and_queues_are_capped(row):
    """Before: /dev/mqueue was the engine's rw mqueue mount; now a read-only empty tmpfs, and mq_open (which
    needs no mount) is capped by fs.mqueue.queues_max and the agent's RLIMIT_MSGQUEUE."""
    provider = row("mqueue")
    async with provider.open(TASK) as sb:
        touch = await sb.exec("touch /dev/mqueue/q")
        assert touch.exit_code == 1 and "Read-only file system" in touch.stderr, touch
        res = await sb.exec("cat /proc/sys/fs/mqueue/queues_max; python3 -c \"\nimport ctypes, os\n"
                            "rt = ctypes.CDLL('librt.so.1', use_errno=True)\nn = 0\n"
                            "while n < 1000 and rt.mq_open(b'/q%d' % n, os.O_CREAT | os.O_RDWR, 0o600, None) >= 0: n += 1\n"
                            "print(n, os.strerror(ctypes.get_errno()))\"")
        limit, made = res.stdout.splitlines()
        assert limit == "16" and int(made.split()[0]) <= 16, res
    assert row.left("mqueue") == []


async def test_sysv_ipc_is_capped(row):
    """SysV objects outlive the command that made them (the sweep kills processes, not IPC): their total is
    capped (shared memory 16 MiB, 16 message queues), so they cannot hold the container's memory."""
    provider = row("sysv")
    async with provider.open(TASK) as sb:
        res = await sb.exec("cat /proc/sys/kernel/shmall /proc/sys/kernel/shmmax /proc/sys/kernel/msgmni; "
                            "ipcmk -M 33554432; ipcmk -M 8388608 >/dev/null && ipcmk -M 8388608 >/dev/null && "
                            "ipcmk -M 4096; for i in $(seq 20); do ipcmk -Q >/dev/null || { echo queues=$((i-1)); "
                            "break; }; done")
        lines = res.stdout.split("\n")
        assert lines[:3] == ["4096", str(16 << 20), "16"], res
        assert res.stdout.rstrip().endswith("queues=16") and res.stderr.count("ipcmk") >= 2, res  # 32 MiB, then
        # a third segment past 16 MiB in all, are refused
    assert row.left("sysv") == []


# -- sandbox numbers checked at load ---------------------------------------------------------------------------

#: YAML numbers (PyYAML reads `1.0e+20` as a float, `1e20` as a string) and sizes past each sandbox field's range
BAD_SANDBOX_VALUES = {"command_timeout_s": [".inf", "1.0e+300", ".nan", "-1", "0"],
                      "pids_limit": ["1.0e+20", "-1", "0"], "cpus": ["-2", "0", "1.0e+9"],
                      "max_output_bytes": ["1.0e+12", "-1"], "max_read_bytes": ["1.0e+12", "0"],
                      "nofile": ["1.0e+12", "8"], "memory": ["1e300t", "1k"], "tmp_size": ["9999t"]}


@pytest.mark.parametrize("field", sorted(BAD_SANDBOX_VALUES))
def test_sandbox_numbers_past_their_range_are_refused_at_load(tmp_path, field):
    """Before: each passed the config check and every attempt ended `error` (`.inf`: the server crashed)."""
    for value in BAD_SANDBOX_VALUES[field]:
        path = tmp_path / "exp.yaml"
        path.write_text(f"sandbox:\n  {field}: {value}\n")
        with pytest.raises(ConfigError) as raised:
            load_experiment(path)
        assert str(path) in str(raised.value) and f"sandbox.{field}:" in str(raised.value), (value, raised.value)


def test_a_sandbox_number_past_its_range_is_exit_2_naming_the_field(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("sandbox:\n  command_timeout_s: .inf\n")
    proc = run_cli("run", str(path), "--out", str(tmp_path / "out"), check=False, timeout=120)
    assert proc.returncode == 2 and "sandbox.command_timeout_s" in proc.stderr + proc.stdout, proc
    assert "Traceback" not in proc.stderr + proc.stdout


# -- attacks that held -----------------------------------------------------------------------------------------


async def test_held_no_privilege_escalation(row):
    """setuid binaries, su, mount and setuid(0) give nothing back: no-new-privileges, no capabilities."""
    provider = row("escalation")
    async with provider.open(TASK) as sb:
        res = await sb.exec("su -c id root </dev/null; mount -t tmpfs none /tmp 2>&1; unshare -r id -u 2>&1; "
                            "python3 -c \"import os\ntry: os.setuid(0)\nexcept OSError as e: print(e.strerror)\"; "
                            "cp /usr/bin/su /tmp/su && chmod u+s /tmp/su && /tmp/su -c id root </dev/null; id -u",
                            timeout=30)
        assert res.stdout.rstrip().endswith("1000") and "uid=0" not in res.stdout, res
        assert "Operation not permitted" in res.stdout, res
        assert (await sb.exec("grep -c ' /tmp tmpfs' /proc/mounts")).stdout.strip() == "1"  # nothing mounted on it
    assert row.left("escalation") == []


async def test_held_leftover_daemons_are_killed(row, docker_client):
    """A daemon started by a command (setsid, nohup, double fork) is gone before the next command, and the
    container with it once the sandbox closes."""
    provider = row("daemons")
    async with provider.open(TASK) as sb:
        await sb.exec("setsid nohup sleep 1000 >/dev/null 2>&1 & (sleep 1001 &) ; echo started")
        left = await sb.exec("pgrep -c sleep || true")
        assert left.stdout.strip() == "0", left
    assert row.left("daemons") == []
