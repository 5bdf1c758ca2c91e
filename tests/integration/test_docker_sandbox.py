"""Isolation of the Docker sandbox, against the real engine and the locally built `python` image. The
faults themselves (kill -9 -1, fillers, bombs, hogs) are rows of test_fault_matrix_sandbox.py."""

from __future__ import annotations

import asyncio

import pytest

from agentbench.protocols import Limits, SandboxError, Task, TaskExpected
from agentbench.runner.episode import AttemptDeps, run_attempt
from agentbench.sandbox.docker import LABEL, prune
from agentbench.scoring.gaia import GaiaScorer

TASK = Task(id="iso", kind="qa", prompt="p", expected=TaskExpected(answer="42"))


async def test_no_network_at_run_time(docker_provider):
    async with docker_provider().open(TASK) as sb:
        result = await sb.exec("python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)\"",
                               timeout=20)
        assert result.exit_code != 0 and ("unreachable" in result.stderr or "Errno" in result.stderr)
        assert (await sb.exec("cat /sys/class/net/*/operstate | sort | tr '\\n' ' '")).stdout.strip() in ("unknown", "")


async def test_runs_as_non_root_without_capabilities(docker_provider):
    async with docker_provider().open(TASK) as sb:
        assert (await sb.exec("id -u")).stdout.strip() == "1000"
        assert (await sb.exec("id -G")).stdout.strip() == "1000"  # no supplementary group survives the drop
        caps = (await sb.exec("grep CapEff /proc/self/status")).stdout.split()[-1]
        assert int(caps, 16) == 0
        assert (await sb.exec("grep NoNewPrivs /proc/self/status")).stdout.split()[-1] == "1"
        assert (await sb.exec("cat /proc/self/oom_score_adj")).stdout.strip() == "1000"


def _status(text: str, key: str) -> str:
    return next(line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith(key + ":"))[0]


async def test_the_command_server_is_root_with_only_setuid_setgid_and_kill(docker_provider):
    """The command's parent is the server: uid 0, effective capabilities exactly SETUID, SETGID and KILL,
    no-new-privileges; the agent cannot signal it."""
    async with docker_provider().open(TASK) as sb:
        server = (await sb.exec("cat /proc/$PPID/status")).stdout
        assert _status(server, "Uid") == "0" and _status(server, "NoNewPrivs") == "1"
        caps = int(_status(server, "CapEff"), 16)
        assert caps == (1 << 5) | (1 << 6) | (1 << 7), hex(caps)  # CAP_KILL, CAP_SETGID, CAP_SETUID
        refused = await sb.exec("kill -0 $PPID")
        assert refused.exit_code != 0 and "not permitted" in refused.stderr


async def test_files_put_in_for_the_agent_are_the_agents(docker_provider, tmp_path):
    (tmp_path / "attached.txt").write_text("a\n")
    task = TASK.model_copy(update={"inputs": TASK.inputs.model_copy(update={"files": [tmp_path / "attached.txt"]})})
    async with docker_provider().open(task) as sb:
        await sb.write_file("deep/er/new.txt", b"x")
        await sb.write_file("/tmp/t.txt", b"y")
        owners = await sb.exec("stat -c '%u:%g %n' attached.txt deep deep/er deep/er/new.txt /tmp/t.txt")
        assert [line.split()[0] for line in owners.stdout.splitlines()] == ["1000:1000"] * 5, owners
        assert (await sb.exec("echo more >> attached.txt && rm deep/er/new.txt && echo ok")).stdout == "ok\n"


async def test_read_only_root_with_size_capped_tmpfs_workdir_and_tmp(docker_provider):
    async with docker_provider(disk_limit="64m", tmp_size="32m", nofile=512).open(TASK) as sb:
        mounts = (await sb.exec("grep -E ' (/|/workspace|/tmp) ' /proc/mounts")).stdout
        root = next(line for line in mounts.splitlines() if line.split()[1] == "/")
        assert "ro," in root.split()[3] + ",", root
        sizes = (await sb.exec("df -B1M --output=size,target /workspace /tmp | tail -2")).stdout.split()
        assert sizes == ["64", "/workspace", "32", "/tmp"], sizes
        assert (await sb.exec("ulimit -n; ulimit -Hn")).stdout.split() == ["512", "512"]
        with pytest.raises(PermissionError, match="read-only"):
            await sb.write_file("/usr/local/agentbench.txt", b"x")
        assert (await sb.exec("echo still")).stdout == "still\n"


async def test_writable_paths_keep_the_images_content(docker_provider):
    """A writable path is a tmpfs filled from the image (here the agent's home, from /etc/skel): its files
    are there, owned as in the image, and take writes; the root around it does not."""
    async with docker_provider(writable_paths=["/home/agent"]).open(TASK) as sb:
        res = await sb.exec("stat -c '%u %n' /home/agent/.bashrc && echo x >> /home/agent/.bashrc && "
                            "df --output=fstype /home/agent | tail -1 && touch /home/x 2>&1 || true")
        assert res.stdout.startswith("1000 /home/agent/.bashrc\ntmpfs\n"), res
        assert "Read-only file system" in res.stdout or "Permission denied" in res.stdout, res


async def test_disk_limit_null_keeps_the_workdir_in_a_writable_image(docker_provider):
    async with docker_provider(disk_limit=None, read_only_root=False).open(TASK) as sb:
        res = await sb.exec("df --output=fstype . | tail -1; echo x > f && cat f")
        assert res.stdout == "overlay\nx\n", res
    with pytest.raises(ValueError, match="read_only_root"):
        docker_provider(disk_limit=None)


async def test_fork_bomb_is_contained_by_the_pids_limit(docker_provider):
    async with docker_provider(pids_limit=64).open(TASK) as sb:
        bomb = await sb.exec("bomb() { bomb | bomb & }; bomb; sleep 2; echo survived", timeout=8)
        assert bomb.exit_code is not None
        after = await sb.exec("echo alive", timeout=20)
        assert after.exit_code == 0 and after.stdout.strip() == "alive"


async def test_memory_hog_is_killed_as_that_commands_failure(docker_provider):
    async with docker_provider(memory="256m", disk_limit="32m", tmp_size="16m").open(TASK) as sb:
        hog = await sb.exec("python3 -c \"x = bytearray(1024 * 1024 * 1024); print(len(x))\"", timeout=60)
        assert hog.exit_code != 0 and not hog.timed_out
        assert (await sb.exec("echo alive")).stdout.strip() == "alive"


async def test_endless_output_is_truncated(docker_provider):
    async with docker_provider(max_output_bytes=2048).open(TASK) as sb:
        result = await sb.exec("yes agentbench", timeout=3)
        assert result.timed_out and result.truncated
        assert "bytes truncated" in result.stdout and len(result.stdout) < 4096


async def test_timeout_kills_the_tree_and_the_container_still_answers(docker_provider):
    async with docker_provider().open(TASK) as sb:
        result = await sb.exec("sleep 300 & sleep 300; echo never", timeout=1)
        assert result.timed_out and result.exit_code == 124 and "never" not in result.stdout
        left = await sb.exec("ps -eo comm | grep -c '^sleep$' || true")
        assert left.stdout.strip() == "0"


async def test_cancelled_command_is_killed_and_the_sandbox_goes_on(docker_provider):
    async with docker_provider().open(TASK) as sb:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sb.exec("sleep 300; echo never"), timeout=0.5)
        left = await sb.exec("ps -eo comm | grep -c '^sleep$' || true")
        assert left.exit_code == 0 and left.stdout.strip() == "0"
        assert (await sb.exec("echo next")).stdout == "next\n"


async def test_container_killed_from_outside_is_an_error_and_the_run_goes_on(docker_provider, docker_client):
    provider = docker_provider()

    def build_graph(ctx):
        from typing import TypedDict

        from langgraph.graph import END, START, StateGraph

        class State(TypedDict, total=False):
            messages: list
            answer: str | None

        async def work(state: State) -> dict:
            if ctx.task.id == "victim":
                mine = docker_client.containers.list(filters={"label": f"{LABEL}.task=victim"})
                await asyncio.to_thread(mine[0].kill)
            await ctx.tools.bash("echo hello")
            return {"answer": "42"}

        graph = StateGraph(State)
        graph.add_node("work", work)
        graph.add_edge(START, "work")
        graph.add_edge("work", END)
        return graph.compile()

    deps = AttemptDeps(make_model=lambda seed: None, sandboxes=provider, factory=build_graph, scorer=GaiaScorer(),
                       limits=Limits(timeout_s=60))
    victim = await run_attempt(TASK.model_copy(update={"id": "victim"}), 0, deps)
    after = await run_attempt(TASK.model_copy(update={"id": "after"}), 0, deps)
    assert victim.record.status == "error" and "docker" in victim.record.error.lower()
    assert after.record.status == "solved"


async def test_killed_container_raises_sandbox_error(docker_provider, docker_client):
    async with docker_provider().open(TASK) as sb:
        await asyncio.to_thread(docker_client.containers.get(sb.container_id).kill)
        with pytest.raises(SandboxError):
            await sb.exec("echo x")


def test_a_config_the_engine_would_refuse_later_fails_now():
    from agentbench.sandbox.docker import DockerSandboxConfig

    for bad in ({"user": "agent"}, {"memory": "512m"}, {"writable_paths": ["relative"]}, {"memory": "lots"}):
        with pytest.raises(ValueError):
            DockerSandboxConfig(**bad)


def test_no_labelled_container_is_left(docker_client):
    """Runs last in this module: every test above removed its containers and their volumes; prune finds none."""
    leftovers = docker_client.containers.list(all=True, filters={"label": "agentbench.test=1"})
    assert leftovers == [], [c.name for c in leftovers]
    assert prune(docker_client) >= 0
    volumes = docker_client.volumes.list(filters={"label": "agentbench.test=1"})
    assert volumes == [], [v.name for v in volumes]
