"""A real Arize Phoenix (PyPI `arize-phoenix`) on loopback for the OTLP export tests: started as a
subprocess (`python -m phoenix.server.main serve`) with its own working folder and ports, telemetry off,
waited for with a bounded timeout (a clear failure with its log), killed at the end. Spans are read back
through Phoenix's own REST API (`GET /v1/projects/{project}/spans`)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from agentbench.models.server import free_port

READY_TIMEOUT_S = 120.0


class Phoenix:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.grpc_port = free_port()
        self.log = self.workdir / "phoenix.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Phoenix:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(self.port),
               "PHOENIX_GRPC_PORT": str(self.grpc_port), "PHOENIX_WORKING_DIR": str(self.workdir / "data"),
               "PHOENIX_TELEMETRY_ENABLED": "false", "DO_NOT_TRACK": "1", "OTEL_SDK_DISABLED": "true"}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "phoenix.server.main", "serve"], env=env,
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"phoenix exited with {self.proc.returncode} while starting:\n{self.tail()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise AssertionError(f"phoenix did not answer {self.url}/healthz within {READY_TIMEOUT_S:.0f} s:\n"
                             f"{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    # -- reading back ------------------------------------------------------------------------------
    def spans(self, project: str) -> list[dict]:
        """Every span of the project, through the REST API (pages of 1000)."""
        out: list[dict] = []
        cursor = None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            resp = httpx.get(f"{self.url}/v1/projects/{project}/spans", params=params, timeout=30)
            if resp.status_code == 404:
                return out  # no span arrived yet: the project does not exist
            resp.raise_for_status()
            body = resp.json()
            out += body["data"]
            cursor = body.get("next_cursor")
            if not cursor:
                return out

    def wait_spans(self, project: str, count: int, timeout_s: float = 60.0) -> list[dict]:
        """The project's spans once there are `count` of them (Phoenix ingests asynchronously)."""
        deadline = time.monotonic() + timeout_s
        spans: list[dict] = []
        while time.monotonic() < deadline:
            spans = self.spans(project)
            if len(spans) >= count:
                time.sleep(0.5)
                return self.spans(project)  # and nothing more comes
            time.sleep(0.5)
        raise AssertionError(f"phoenix project {project!r} has {len(spans)} spans after {timeout_s:.0f} s, "
                             f"expected {count}")


def seconds(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()
