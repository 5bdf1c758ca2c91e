"""The fault matrix, inside the sandbox (docs/fault-matrix.md, "Inside the sandbox"): one test per injected
fault, through the real Docker backend and the locally built `python` image. Each asserts what the sandbox
does, that nothing is lost (it still answers, its command server is the same process), that no container or
volume of that row is left once it closes, and that the message says what happened."""

from __future__ import annotations

import errno
import re

import pytest

from agentbench.config.schema import SandboxConfig
from agentbench.protocols import Limits, Task, TaskExpected
from agentbench.runner.episode import AttemptDeps, run_attempt
from agentbench.sandbox.provider import SandboxUnavailable, make_sandbox_provider
from agentbench.sandbox.base import TIMEOUT_EXIT_CODE, TRUNCATION_MARKER_RE
from agentbench.sandbox.conformance import CHECKS, conformance_task, format_results, run_conformance
from agentbench.sandbox.docker import DockerSandboxConfig, DockerSandboxProvider
from agentbench.sandbox.local import LocalSandboxConfig, LocalSandboxProvider
from agentbench.scoring.gaia import GaiaScorer


TASK = Task(id="fault", kind="qa", prompt="p", expected=TaskExpected(answer="42"))


@pytest.fixture
def row(docker_client, python_image):
    """`row(name, **config)`: a Docker provider whose containers and volumes carry `agentbench.fault=name`;
    `left(name)` (after the sandbox closed) waits for the removals and lists what of that row is left."""
    made: list[DockerSandboxProvider] = []

    def make(name: str, **overrides) -> DockerSandboxProvider:
        config = DockerSandboxConfig(**{"max_output_bytes": 4096, "command_timeout_s": 30, **overrides})
        made.append(DockerSandboxProvider(docker_client, config, lambda image: python_image,
                                          labels={"agentbench.test": "1", "agentbench.fault": name}))
        return made[-1]

    def left(name: str) -> list[str]:
        for provider in made:
            provider.wait_removals()
        label = {"label": f"agentbench.fault={name}"}
        return ([c.name for c in docker_client.containers.list(all=True, filters=label)]
                + [v.name for v in docker_client.volumes.list(filters=label)])

    make.left = left  # type: ignore[attr-defined]
    yield make
    for provider in made:
        provider.wait_removals()


async def server_pid(sb) -> str:
    return (await sb.exec("echo $PPID")).stdout.strip()


async def answers(sb, server: str) -> None:
    """Nothing lost: the same command server answers the next command."""
    res = await sb.exec("echo alive; echo $PPID", timeout=20)
    assert res.exit_code == 0 and res.stdout.split() == ["alive", server], res


async def test_network_is_unreachable(row):
    from agentbench.sandbox.conformance_isolation import _NET

    provider = row("network")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        res = await sb.exec(_NET, timeout=30)
        assert "tcp failed: [Errno 101] Network is unreachable" in res.stdout, res
        assert "docker.sock failed: [Errno 2] No such file or directory" in res.stdout, res
        assert re.search(r"dns failed: .*(name resolution|not known)", res.stdout), res
        assert res.duration_s < 10  # refused at once, not a timeout
        await answers(sb, server)
    assert row.left("network") == []


async def test_kill_minus_one_ends_only_the_agents_processes(row):
    provider = row("kill-all")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        res = await sb.exec("sleep 300 & kill -9 -1; wait; echo after", timeout=20)
        assert res.exit_code == 0 and res.stdout == "after\n", res  # the sleep died, the shell and the server did not
        parent = await sb.exec("kill -9 $PPID")
        assert parent.exit_code == 1 and "Operation not permitted" in parent.stderr, parent
        init = await sb.exec("kill -9 1")
        assert init.exit_code == 1 and "Operation not permitted" in init.stderr, init
        await answers(sb, server)
    assert row.left("kill-all") == []


async def test_kill_minus_one_in_an_attempt_is_not_an_error(row):
    """Through run_attempt: before privilege separation `kill -9 -1` ended the server and the attempt was `error`."""
    provider = row("kill-all-attempt")
    seen: dict[str, object] = {}

    def build_graph(ctx):
        from typing import TypedDict

        from langgraph.graph import END, START, StateGraph

        class State(TypedDict, total=False):
            messages: list
            answer: str | None

        async def work(state: State) -> dict:
            seen["kill"] = await ctx.tools.bash("kill -9 -1; echo after")
            seen["next"] = await ctx.tools.bash("echo 42")
            return {"answer": seen["next"].stdout.strip()}

        graph = StateGraph(State)
        graph.add_node("work", work)
        graph.add_edge(START, "work")
        graph.add_edge("work", END)
        return graph.compile()

    deps = AttemptDeps(make_model=lambda seed: None, sandboxes=provider, factory=build_graph, scorer=GaiaScorer(),
                       limits=Limits(timeout_s=60))
    result = await run_attempt(TASK, 0, deps)
    assert result.record.status == "solved", result.record.error
    assert seen["kill"].stdout == "after\n" and seen["next"].exit_code == 0
    assert row.left("kill-all-attempt") == []


async def test_root_filesystem_is_read_only(row):
    provider = row("read-only-root")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        res = await sb.exec("touch /usr/x; touch /x; touch /etc/x")
        assert res.exit_code != 0 and res.stderr.count("Read-only file system") == 3, res
        with pytest.raises(PermissionError, match="read-only file system"):
            await sb.write_file("/usr/local/bin/x", b"#!/bin/sh\n")
        assert (await sb.exec("test -e /usr/x || test -e /usr/local/bin/x || echo none")).stdout == "none\n"
        await answers(sb, server)
    assert row.left("read-only-root") == []


async def _fill(sb, where: str, expect_mib: int) -> None:
    res = await sb.exec(f"head -c {expect_mib + 8}m /dev/zero > {where}/fill; echo writer=$?; "
                        f"du -m {where}/fill | cut -f1", timeout=60)
    writer, kept = res.stdout.split()
    assert writer == "writer=1" and "No space left on device" in res.stderr, res
    assert expect_mib - 1 <= int(kept) <= expect_mib, res  # stopped at the limit, not before, not after
    with pytest.raises(OSError) as raised:  # the agent's write_file meets the same wall, as the agent's failure
        await sb.write_file(f"{where}/more.bin", b"x" * (1 << 20))
    assert raised.value.errno == errno.ENOSPC and "no space left" in str(raised.value)
    res = await sb.exec(f"rm {where}/fill && echo ok > {where}/after && cat {where}/after")
    assert res.stdout == "ok\n", res


async def test_tmp_filler_meets_enospc(row):
    provider = row("tmp-filler")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        await _fill(sb, "/tmp", 256)  # the default tmp_size
        await answers(sb, server)
    assert row.left("tmp-filler") == []


async def test_workdir_filler_meets_enospc(row):
    provider = row("disk-filler")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        await _fill(sb, sb.workdir, 512)  # the default disk_limit
        await answers(sb, server)
    assert row.left("disk-filler") == []


async def test_every_tmpfs_filled_at_once_stays_within_memory(row):
    """The rooms of all the tmpfs mounts (workdir, a writable path, /tmp, /dev/shm) fit in `memory` with a
    reserve, so filling all of them is ENOSPC everywhere, and the server is not the OOM killer's victim."""
    provider = row("fill-everything", memory="512m", disk_limit="192m", tmp_size="32m", writable_paths=["/home/agent"])
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        res = await sb.exec("for d in . /home/agent /tmp /dev/shm; do head -c 300m /dev/zero > $d/fill; "
                            "echo $d=$?; done", timeout=60)
        assert res.stdout.split() == [".=1", "/home/agent=1", "/tmp=1", "/dev/shm=1"], res
        assert res.stderr.count("No space left on device") == 4, res
        await answers(sb, server)
    assert row.left("fill-everything") == []


async def test_fork_bomb_is_contained_by_the_pids_limit(row):
    provider = row("fork-bomb")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        bomb = await sb.exec("bomb() { bomb | bomb & }; bomb; sleep 3; echo done", timeout=8)
        assert "Resource temporarily unavailable" in bomb.stderr, bomb
        await answers(sb, server)
        count = await sb.exec("ps -e --no-headers | wc -l")
        assert int(count.stdout) <= 6, count  # init, the server, this shell, ps, wc: the bomb is gone
    assert row.left("fork-bomb") == []


async def test_memory_hog_is_killed_not_the_server(row):
    provider = row("memory-hog", memory="512m", disk_limit="128m", tmp_size="64m")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        hog = await sb.exec("python3 -c \"x = [b'x' * (1 << 20) for _ in range(2048)]; print('allocated')\"",
                            timeout=60)
        assert hog.exit_code == 137 and not hog.timed_out and "allocated" not in hog.stdout, hog
        assert "agentbench: out of memory: the OOM killer ended a process of this command" in hog.stderr, hog
        await answers(sb, server)
    assert row.left("memory-hog") == []


async def test_endless_output_is_truncated_and_killed_at_the_timeout(row):
    provider = row("endless-output")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        res = await sb.exec("yes agentbench", timeout=3)
        assert res.timed_out and res.exit_code == TIMEOUT_EXIT_CODE and res.truncated, res
        dropped = int(TRUNCATION_MARKER_RE.search(res.stdout).group(1))
        assert dropped > 10_000_000 and len(res.stdout.encode()) < 4096 + 100, (dropped, len(res.stdout))
        await answers(sb, server)
    assert row.left("endless-output") == []


async def test_sleep_past_the_timeout_is_124_and_the_next_command_runs(row):
    provider = row("sleep-timeout")
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        res = await sb.exec("echo started; sleep 60", timeout=1)
        assert res.timed_out and res.exit_code == TIMEOUT_EXIT_CODE and res.stdout == "started\n", res
        assert res.duration_s < 3, res
        assert (await sb.exec("pgrep -c sleep || true")).stdout.strip() == "0"
        await answers(sb, server)
    assert row.left("sleep-timeout") == []


async def test_open_files_are_capped(row):
    provider = row("nofile", nofile=1024)
    async with provider.open(TASK) as sb:
        server = await server_pid(sb)
        res = await sb.exec("python3 -c \"import os\nfds = []\ntry:\n    while True: fds.append(os.open('/dev/null', 0))"
                            "\nexcept OSError as exc: print(len(fds), exc.strerror)\"; ulimit -Hn 4096")
        count, reason = res.stdout.split(" ", 1)
        assert 1000 <= int(count) < 1024 and reason.strip() == "Too many open files", res
        assert "Operation not permitted" in res.stderr, res  # the hard limit cannot be raised
        await answers(sb, server)
    assert row.left("nofile") == []


def test_auto_without_an_engine_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/agentbench.sock")
    with pytest.raises(SandboxUnavailable, match=r"no Docker engine answers.*sandbox\.backend: local.*NOT isolate"):
        make_sandbox_provider(SandboxConfig(), log=lambda line: None)


def test_tmpfs_rooms_past_memory_are_refused_before_the_run(docker_client):
    with pytest.raises(SandboxUnavailable, match=r"disk_limit \(512m\) \+ sandbox\.tmp_size \(256m\).*memory \(512m\)"):
        make_sandbox_provider(SandboxConfig(memory="512m"), log=lambda line: None)


@pytest.mark.filterwarnings("ignore::agentbench.sandbox.local.LocalSandboxWarning")
async def test_the_local_backend_is_reported_as_not_isolating(tmp_path):
    provider = LocalSandboxProvider(LocalSandboxConfig())
    isolation = [c for c in CHECKS if c.isolation]
    results = await run_conformance(provider, lambda: conformance_task(tmp_path), isolation)
    assert all(r.skipped and r.passed and "does not isolate" in r.detail for r in results)
    report = format_results(results)
    assert report.splitlines()[0].startswith("NOT ISOLATING: the `local` backend does not isolate")


def test_nothing_of_any_row_is_left(docker_client):
    """Runs last: no container or volume of any row survives the module."""
    assert docker_client.containers.list(all=True, filters={"label": "agentbench.fault"}) == []
    assert docker_client.volumes.list(filters={"label": "agentbench.fault"}) == []
