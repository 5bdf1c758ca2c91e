"""A real multi-node Ray cluster on this machine for the executor tests: a head and worker nodes, each a
`ray start --block` process of its own (own ports, own resources, token authentication with a token of
the test's own), stopped by signalling exactly those processes (never `ray stop`, which would end every
Ray on the machine). A node dies by SIGKILL of its raylet, as when its machine goes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Node:
    proc: subprocess.Popen
    log: Path
    node_id: str = ""
    orphans: list[psutil.Process] | None = None  # the killed raylet's worker processes

    def raylet(self) -> psutil.Process | None:
        try:
            return next((c for c in psutil.Process(self.proc.pid).children() if c.name() == "raylet"), None)
        except psutil.NoSuchProcess:
            return None

    def raylet_node_id(self) -> str | None:
        """The node id from the raylet's `--node_id=` flag, once its command line shows it. A raylet that has
        just forked may still show its parent's command line, and one that retitles itself shows a single
        space-separated string (Ray's own lookup splits on spaces for that reason)."""
        raylet = self.raylet()
        try:
            args = [] if raylet is None else raylet.cmdline()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return None
        return next((a.split("=", 1)[1] for arg in args for a in arg.split(" ") if a.startswith("--node_id=")),
                    None)

    def kill_raylet(self) -> None:
        raylet = self.raylet()
        assert raylet is not None, "the node has no raylet"
        self.orphans = raylet.children(recursive=True)
        raylet.kill()


class RayNodes:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="abray-", dir="/tmp"))  # short: Ray's socket paths
        token = self.dir / "token"
        token.write_text(os.urandom(32).hex())
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
                    "RAY_USAGE_STATS_ENABLED": "0", "RAY_health_check_period_ms": "500",
                    "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3"}
        self.env.pop("RAY_ADDRESS", None)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[Node] = []

    def _start(self, args: list[str], num_cpus: int, resources: dict[str, float]) -> Node:
        ports = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                 "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port"]
        log = self.dir / f"node{len(self.nodes)}.log"
        cmd = [RAY, "start", "--block", "--disable-usage-stats", f"--num-cpus={num_cpus}",
               f"--resources={json.dumps(resources)}", f"--temp-dir={self.dir / 'tmp'}",
               "--min-worker-port=0", "--max-worker-port=0", *[x for p in ports for x in (p, str(free_port()))], *args]
        proc = subprocess.Popen(cmd, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        node = Node(proc, log)
        deadline = time.time() + 60
        while time.time() < deadline and not node.node_id:
            assert proc.poll() is None, log.read_text()[-3000:]
            node.node_id = node.raylet_node_id() or ""
            time.sleep(0.2)
        assert node.node_id, f"no raylet with a --node_id= flag after 60 s: {log.read_text()[-3000:]}"
        self.nodes.append(node)
        return node

    def start_head(self, num_cpus: int, resources: dict[str, float]) -> Node:
        return self._start(["--head", f"--port={self.port}", "--include-dashboard=false",
                            f"--ray-client-server-port={free_port()}"], num_cpus, resources)

    def add_node(self, num_cpus: int, resources: dict[str, float]) -> Node:
        return self._start([f"--address={self.address}"], num_cpus, resources)

    def wait_alive(self, count: int, timeout: float = 60) -> None:
        """Until the GCS lists `count` alive nodes (asked from a short-lived driver of its own)."""
        code = ("import ray, sys, time\nray.init(address=sys.argv[1], logging_level='ERROR')\n"
                "end = time.time() + float(sys.argv[3])\n"
                "while sum(n['Alive'] for n in ray.nodes()) != int(sys.argv[2]) and time.time() < end: time.sleep(0.3)\n"
                "sys.exit(0 if sum(n['Alive'] for n in ray.nodes()) == int(sys.argv[2]) else 1)\n")
        proc = subprocess.run([sys.executable, "-c", code, self.address, str(count), str(timeout)], env=self.env,
                              capture_output=True, text=True, timeout=timeout + 60)
        assert proc.returncode == 0, f"the cluster did not reach {count} alive nodes: {proc.stderr[-2000:]}"

    def stop(self) -> None:
        """SIGTERM every node's `ray start` (workers first; it stops the processes it started), then SIGKILL
        what is left of those process trees."""
        for node in reversed(self.nodes):
            tree = []
            try:
                tree = psutil.Process(node.proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
                try:
                    node.proc.wait(30)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(10)
            for child in tree + (node.orphans or []):
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)
