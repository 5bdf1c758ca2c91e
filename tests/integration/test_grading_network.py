"""The grading sandbox's network, on the real engine: with `sandbox.grading_network: true` the sandbox the
scorer opens (`open_grading`) is on the engine's default bridge and reaches an HTTP server on the host's
bridge address, while the agent's sandbox (`open`) of the same provider has no network; with `false` both
have none."""

from __future__ import annotations

import http.server
import ipaddress
import threading

import pytest

from agentbench.protocols import Task, TaskExpected

pytestmark = pytest.mark.integration

TASK = Task(id="grading-net", kind="qa", prompt="p", expected=TaskExpected(answer="42"))
FETCH = ("python3 -c \"import urllib.request,sys; "
         "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())\" {url}")


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b"graded-with-network"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def host_server(docker_client):
    """An HTTP server on the host, bound to the default bridge's gateway address (what a container on the
    bridge reaches the host by; nothing outside this machine can)."""
    config = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    # the engine names the gateway only where it was set; by default it is the subnet's first address
    gateway = config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    server = http.server.ThreadingHTTPServer((gateway, 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{gateway}:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _mode(provider, sandbox) -> str:
    return provider._client.api.inspect_container(sandbox.container_id)["HostConfig"]["NetworkMode"]


async def test_the_grading_sandbox_has_the_network_the_agents_has_not(docker_provider, host_server):
    provider = docker_provider(grading_network=True)
    assert provider.grading_has_network() is True
    async with provider.open_grading(TASK) as grading:
        assert _mode(provider, grading) == "bridge"
        fetched = await grading.exec(FETCH.format(url=host_server), timeout=20)
        assert fetched.exit_code == 0 and fetched.stdout.strip() == "graded-with-network", fetched
    async with provider.open(TASK) as agent:
        assert _mode(provider, agent) == "none"
        refused = await agent.exec(FETCH.format(url=host_server), timeout=20)
        assert refused.exit_code != 0 and "graded-with-network" not in refused.stdout


async def test_grading_without_the_network_when_told_so(docker_provider, host_server):
    provider = docker_provider(grading_network=False)
    assert provider.grading_has_network() is False
    async with provider.open_grading(TASK) as grading:
        assert _mode(provider, grading) == "none"
        assert (await grading.exec(FETCH.format(url=host_server), timeout=20)).exit_code != 0
