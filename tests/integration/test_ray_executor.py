"""`run.executor: ray` on a real two-node Ray cluster on this machine (a head and a worker node, each a
`ray start` of its own with its own resources): attempts spread over both nodes and come back to the one
store writer; a real model run; a driver killed and resumed; a worker node dying mid-run (its raylet
killed), whose attempts run again elsewhere as new tries with nothing lost, counted twice or left behind.

The node-death test kills the worker node, so it runs last in this module."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from agentbench.store import RunStore

from .conftest import ROOT, run_cli
from .ray_nodes import RayNodes

SLOW = "tests/integration/graphs/slow_oracle.py:build_graph"
DEMO = str(ROOT / "experiments" / "demo.yaml")


@pytest.fixture(scope="module")
def cluster():
    nodes = RayNodes()
    try:
        nodes.start_head(num_cpus=2, resources={"docker": 2})
        nodes.add_node(num_cpus=2, resources={"docker": 2})
        nodes.wait_alive(2)
        yield nodes
    finally:
        nodes.stop()


def ray_run(cluster: RayNodes, out: Path, *sets: str, check: bool = True, timeout: float = 600):
    args = ["run", DEMO, "--out", str(out), "--quiet", "--set", "run.executor=ray",
            "--set", f"run.ray.address={cluster.address}", *[x for s in sets for x in ("--set", s)]]
    return run_cli(*args, env=cluster.env, check=check, timeout=timeout)


def nodes_of(store: RunStore) -> Counter:
    return Counter(a.metadata.get("node") for a in store.attempts())


def test_oracle_and_null_attempts_spread_over_both_nodes(cluster, tmp_path):
    """A sweep (oracle, null) whose cells run on the cluster, one after the other in one driver; then
    report and compare read the cells like any run."""
    sweep = tmp_path / "sweep"
    run_cli("sweep", DEMO, "--grid", "graph=oracle,null", "--out", str(sweep), "--quiet",
            *[x for s in ("sandbox.backend=local", "suite.limit=8", "run.concurrency=4", "run.executor=ray",
                          f"run.ray.address={cluster.address}") for x in ("--set", s)], env=cluster.env)
    oracle, null = sweep / "graph-oracle", sweep / "graph-null"
    head, worker = (n.node_id for n in cluster.nodes[:2])
    for out, status in ((oracle, "solved"), (null, "failed")):
        store = RunStore.in_dir(out)
        assert [a.status for a in store.attempts()] == [status] * 8
        assert len(store.all_tries()) == 8  # one try each: nothing retried, nothing twice
        assert set(nodes_of(store)) == {head, worker}, nodes_of(store)  # both nodes ran attempts
        assert set(store.meta("ray_nodes")) == {head, worker} and store.meta("executor") == "ray"
    result = json.loads((sweep / "sweep.json").read_text())
    assert [c["completion_rate"] for c in result["cells"]] == [1.0, 0.0]
    run_cli("report", str(oracle))
    assert json.loads((oracle / "summary.json").read_text())["solved"] == 8
    proc = run_cli("compare", str(null), str(oracle))
    assert "compare.json" in proc.stdout
    flipped = json.loads((null / "compare.json").read_text())
    assert "gm-l1-001" in json.dumps(flipped)  # every task flipped from failed to solved


def test_embedded_model_attempts_on_the_cluster(cluster, tmp_path, embedded_url, docker_client):
    out = tmp_path / "model"
    ray_run(cluster, out, "model.provider=openai", f"model.base_url={embedded_url}", "graph=planning",
            "suite.ids=[gm-l1-001, gm-l1-002]", "run.concurrency=2", "limits.max_steps=2", "model.max_tokens=64")
    store = RunStore.in_dir(out)
    attempts = store.attempts()
    assert len(attempts) == 2 and len(store.all_tries()) == 2
    assert len(nodes_of(store)) == 2  # one attempt on each node, each calling the model from there
    for attempt in attempts:
        assert attempt.status in {"solved", "failed", "limit"}, attempt.error
        assert attempt.totals.model_calls >= 1 and attempt.totals.usage.total_tokens > 0
    for row in store.attempt_rows():
        types = [e.type for e in store.events(row["id"])]
        assert types[0] == "attempt_start" and types[-1] == "attempt_end" and "model_call" in types
    assert store.meta("model_identity")["base_url"] == embedded_url


def test_swe_bench_environments_are_checked_once_and_graded_on_the_nodes(cluster, tmp_path, docker_client):
    out = tmp_path / "swe"
    proc = run_cli("run", DEMO, "--out", str(out), "--set", "suite.name=swe-mini", "--set", "graph=oracle",
                   "--set", "suite.limit=2", "--set", "run.concurrency=2", "--set", "run.executor=ray",
                   "--set", f"run.ray.address={cluster.address}", env=cluster.env)
    assert proc.stderr.count("checking 2 SWE-bench environment(s)") == 1  # once, on one worker
    store = RunStore.in_dir(out)
    assert [a.status for a in store.attempts()] == ["solved", "solved"]  # the gold patch resolves, graded there
    assert all(a.patch for a in store.attempts()) and len(nodes_of(store)) == 2


def test_unreachable_cluster_and_missing_resources_are_clear_errors(cluster, tmp_path):
    from .ray_nodes import free_port

    proc = run_cli("run", DEMO, "--out", str(tmp_path / "a"), "--quiet", "--set", "graph=oracle",
                   "--set", "run.executor=ray", "--set", f"run.ray.address=127.0.0.1:{free_port()}",
                   env=cluster.env, check=False, timeout=120)
    assert proc.returncode != 0 and "run.ray.address" in proc.stderr and "no Ray cluster answers" in proc.stderr
    proc = ray_run(cluster, tmp_path / "b", "graph=oracle", "sandbox.backend=local", "suite.limit=1",
                   "run.ray.resources={gpu_box: 1}", check=False, timeout=120)
    assert proc.returncode != 0 and "gpu_box 1" in proc.stderr and "run.ray" in proc.stderr, proc.stderr


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM attempt").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _nodes_in(db: Path) -> set[str]:
    """The nodes of the tries stored so far (read-only, beside the running driver)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return {json.loads(r[0])["metadata"].get("node") for r in conn.execute("SELECT record FROM attempt")}
    except sqlite3.OperationalError:
        return set()


def test_driver_killed_then_resume_finishes_on_the_same_cluster(cluster, tmp_path):
    out = tmp_path / "run"
    args = ["run", DEMO, "--out", str(out), "--quiet", "--set", f"graph={SLOW}", "--set", "graph_params.sleep_s=1",
            "--set", "sandbox.backend=local", "--set", "suite.limit=10", "--set", "run.concurrency=2",
            "--set", "run.executor=ray", "--set", f"run.ray.address={cluster.address}"]
    proc = subprocess.Popen([sys.executable, "-m", "agentbench", *args], cwd=ROOT, env=cluster.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while _count(out / "run.sqlite") < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _count(out / "run.sqlite")
    assert 3 <= killed_at < 10
    run_cli("run", "--resume", str(out), "--quiet", env=cluster.env)
    store = RunStore.in_dir(out)
    keys = [(t, e) for t, e, _, _ in store.all_tries()]
    assert len(keys) == 10 and len(set(keys)) == 10  # every attempt once: nothing lost, nothing twice
    assert {a.status for a in store.attempts()} == {"solved"}


def _busy_worker(node) -> psutil.Process | None:
    """The node's attempt worker process that is running an attempt now (Ray titles it by the call)."""
    raylet = node.raylet()
    for proc in raylet.children(recursive=True) if raylet else []:
        try:
            if " ".join(proc.cmdline()).startswith("ray::AttemptWorker.run"):
                return proc
        except psutil.NoSuchProcess:
            continue
    return None


def test_a_crashed_worker_process_is_replaced_on_its_live_node(cluster, tmp_path):
    worker = cluster.nodes[1]
    out = tmp_path / "run"
    args = ["run", DEMO, "--out", str(out), "--quiet", "--set", f"graph={SLOW}", "--set", "graph_params.sleep_s=2",
            "--set", "sandbox.backend=local", "--set", "suite.limit=6", "--set", "run.concurrency=2",
            "--set", "run.executor=ray", "--set", f"run.ray.address={cluster.address}"]
    proc = subprocess.Popen([sys.executable, "-m", "agentbench", *args], cwd=ROOT, env=cluster.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline, busy = time.time() + 120, None
    while time.time() < deadline and proc.poll() is None and busy is None:
        busy = _busy_worker(worker)
        time.sleep(0.1)
    assert busy is not None, "no attempt worker ran on the worker node"
    time.sleep(0.5)
    busy.kill()  # the process, not its node
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-4000:]
    store = RunStore.in_dir(out)
    assert [a.status for a in store.attempts()] == ["solved"] * 6
    lost = [json.loads(r[0]) | {"t_end": r[1]} for r in store._db.execute(
        "SELECT record, t_end FROM attempt WHERE status = 'error'")]
    assert len(lost) == 1 and lost[0]["reason"] == "node_lost" and lost[0]["metadata"]["node"] == worker.node_id
    later = [r for r in store.attempt_rows() if r["t_start"] > lost[0]["t_end"]]
    assert any(store.find_attempt(r["task_id"], r["epoch"])[1].metadata["node"] == worker.node_id for r in later)


def test_nodes_share_images_through_the_named_registry(cluster, tmp_path, docker_client):
    """run.ray.image_registry: the first node pushes the run's images; a node lacking one pulls it (the
    nodes here share one engine, so the pull is checked on an image of the test's own)."""
    import uuid

    from agentbench.runner.executors.ray_worker import pull_tags, push_tags
    from agentbench.sandbox.images import ensure_image, image_exists, image_tag
    from agentbench.testing.loopback_registry import loopback_registry, registry_log

    with loopback_registry(tmp_path / "registry") as registry:
        out = tmp_path / "run"
        ray_run(cluster, out, "graph=oracle", "sandbox.backend=docker", "suite.limit=2", "run.concurrency=2",
                f"run.ray.image_registry={registry}")
        assert [a.status for a in RunStore.in_dir(out).attempts()] == ["solved"] * 2
        python = image_tag("python").split(":")
        pushes = [line for line in registry_log(tmp_path / "registry").read_text().splitlines()
                  if "PUT" in line and f"/v2/{python[0]}/manifests/{python[1]}" in line]
        assert pushes, "the first node did not push the run's image"

        context = tmp_path / "image"
        context.mkdir()
        (context / "Dockerfile").write_text(f"FROM {ensure_image(docker_client, 'rootfs', log=lambda _: None)}\n"
                                            f"RUN echo {uuid.uuid4().hex} > /marker\n")
        tag = f"agentbench-test/shared:{uuid.uuid4().hex[:12]}"
        docker_client.images.build(path=str(context), tag=tag, rm=True, pull=False)
        lines: list[str] = []
        try:
            push_tags([tag], registry, lines.append)
            docker_client.images.remove(tag)
            docker_client.images.remove(f"{registry}/{tag}")
            assert not image_exists(docker_client, tag)
            pull_tags([tag], registry, lines.append)
            assert image_exists(docker_client, tag), lines  # back under its own name, from the registry
            assert any(line.startswith("pulled ") for line in lines), lines
        finally:
            for ref in (tag, f"{registry}/{tag}"):
                if image_exists(docker_client, ref):
                    docker_client.images.remove(ref, force=True)


def test_a_dead_worker_node_s_attempts_run_again_elsewhere(cluster, tmp_path, docker_client):
    """Last in the module: it kills the worker node."""
    head, worker = cluster.nodes[:2]
    out = tmp_path / "run"
    args = ["run", DEMO, "--out", str(out), "--quiet", "--set", f"graph={SLOW}", "--set", "graph_params.sleep_s=3",
            "--set", "sandbox.backend=docker", "--set", "suite.limit=8", "--set", "run.concurrency=4",
            "--set", "run.executor=ray", "--set", f"run.ray.address={cluster.address}"]
    proc = subprocess.Popen([sys.executable, "-m", "agentbench", *args], cwd=ROOT, env=cluster.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    db = out / "run.sqlite"
    # the worker node finished an attempt: its workers are now inside their next ones (3 s each)
    while time.time() < deadline and proc.poll() is None:
        if worker.node_id in _nodes_in(db):
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read()[-3000:]
    time.sleep(0.5)
    worker.kill_raylet()
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-4000:]

    store = RunStore.in_dir(out)
    tries = store.all_tries()
    assert [a.status for a in store.attempts()] == ["solved"] * 8  # every attempt finished
    finished = Counter((t, e) for t, e, _, s in tries if s != "error")
    assert set(finished.values()) == {1} and len(finished) == 8  # none counted twice
    lost = [(t, e, n) for t, e, n, s in tries if s == "error"]
    assert lost, "no attempt was cut off by the node's death"
    records = {(a.task_id, a.epoch): a for a in store.attempts()}
    for task, epoch, n in lost:
        row = sqlite3.connect(db).execute("SELECT record FROM attempt WHERE task_id=? AND epoch=? AND try=?",
                                          (task, epoch, n)).fetchone()
        record = json.loads(row[0])
        assert record["reason"] == "node_lost" and record["metadata"]["node"] == worker.node_id, record
        newest = max(k for t, e, k, _ in tries if (t, e) == (task, epoch))
        assert newest > n and records[(task, epoch)].metadata["node"] == head.node_id  # placed again, elsewhere
    uid = store.meta("run_uid")
    left = docker_client.containers.list(all=True, filters={"label": [f"agentbench.run={uid}"]})
    assert left == [], [c.name for c in left]  # the dead worker's containers too
