"""The official-image path against a real registry on loopback: Debian's docker-registry, the real engine,
a small real image (the local rootfs plus one layer of random bytes, so a pull really transfers a layer)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from docker.errors import APIError, ImageNotFound

from agentbench.sandbox.images import ensure_image, image_exists
from agentbench.sandbox.official_images import ImagePullError, ImagePushError, push_image, qualified, resolve_official_image
from agentbench.testing.loopback_registry import free_port, loopback_registry, registry_log

pytestmark = pytest.mark.integration

OFFICIAL = "swebench/sweb.eval.x86_64.demo_1776_demo-1:latest"
REPO_PATH = "/v2/swebench/sweb.eval.x86_64.demo_1776_demo-1/"
LABELS = {"agentbench.test": "1"}
BLOB_BYTES = 4 * 1024 * 1024


def _remove(client, ref: str) -> None:
    try:
        client.images.remove(ref, noprune=False)
    except (ImageNotFound, APIError):
        pass


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    with loopback_registry(root) as address:
        yield SimpleNamespace(address=address, log=registry_log(root))


@pytest.fixture(scope="module")
def demo(docker_client, registry, tmp_path_factory):
    """A tiny image of our own, pushed to the loopback registry under an official-looking name."""
    rootfs = ensure_image(docker_client, "rootfs", log=lambda line: None)
    context = tmp_path_factory.mktemp("demo-image")
    (context / "blob").write_bytes(os.urandom(BLOB_BYTES))
    (context / "Dockerfile").write_text(f"FROM {rootfs}\nCOPY blob /blob\n")
    build_tag = f"agentbench-test/registry-demo:{uuid.uuid4().hex[:12]}"
    image, _ = docker_client.images.build(path=str(context), tag=build_tag, rm=True, forcerm=True, pull=False,
                                          labels=LABELS)
    made = [build_tag]
    pushed_lines: list[str] = []
    started = time.monotonic()
    ref = push_image(docker_client, build_tag, registry.address, OFFICIAL, log=pushed_lines.append)
    made.append(ref)
    ns = SimpleNamespace(id=image.id, build_tag=build_tag, ref=ref, made=made,
                         push_s=time.monotonic() - started, push_lines=pushed_lines)
    yield ns
    for tag in ns.made:
        _remove(docker_client, tag)
    assert not any(image_exists(docker_client, tag) for tag in ns.made)


def _local(client, demo, registry) -> str:
    """The qualified name present locally (pulled again if a test removed it)."""
    if not image_exists(client, demo.ref):
        resolve_official_image(client, OFFICIAL, "pull", registry.address, log=lambda line: None)
    return demo.ref


def _registry_hits(registry) -> int:
    return sum(REPO_PATH in line and '" 200 ' in line for line in registry.log.read_text().splitlines())


def test_pull_brings_the_official_image_back_and_it_runs(docker_client, registry, demo):
    assert demo.ref == f"{registry.address}/{OFFICIAL}"
    assert any("Pushed" in line for line in demo.push_lines)
    # gone from the engine entirely: no tag left on it, so its own layer must come over the wire again
    for tag in (demo.ref, demo.build_tag):
        docker_client.images.remove(tag)
    with pytest.raises(ImageNotFound):
        docker_client.images.get(demo.id)

    lines: list[str] = []
    started = time.monotonic()
    got = resolve_official_image(docker_client, OFFICIAL, "pull", registry.address, log=lines.append)
    pull_s = time.monotonic() - started
    print(f"\npush {demo.push_s:.2f} s, pull {pull_s:.2f} s ({BLOB_BYTES >> 20} MiB new layer) from "
          f"{registry.address}")
    assert got == demo.ref
    assert docker_client.images.get(got).id == demo.id  # the very image that was pushed
    assert any("Pull complete" in line for line in lines), lines
    assert lines[-1].startswith(f"pulled {demo.ref} in ")
    assert len(lines) <= 12, lines  # a few lines per layer, not a progress flood
    assert len(set(lines)) == len(lines), lines

    out = docker_client.containers.run(got, ["sh", "-c", "test -s /blob && echo usable"], remove=True,
                                       network_disabled=True, labels={"agentbench": "1", **LABELS})
    assert out.strip() == b"usable"


def test_auto_uses_a_local_image_without_pulling(docker_client, registry, demo):
    ref = _local(docker_client, demo, registry)
    hits = _registry_hits(registry)
    lines: list[str] = []
    assert resolve_official_image(docker_client, OFFICIAL, "auto", registry.address, log=lines.append) == ref
    assert lines == []
    assert _registry_hits(registry) == hits  # the registry saw no request for it

    # the bare (Docker Hub) name, present locally, wins too: the registry given is dead, so a pull would fail
    bare = f"swebench/sweb.eval.x86_64.demo_1776_demo-1:local-{uuid.uuid4().hex[:8]}"
    repo, tag = bare.rsplit(":", 1)
    docker_client.api.tag(ref, repo, tag)
    demo.made.append(bare)
    dead = f"127.0.0.1:{free_port()}"
    assert resolve_official_image(docker_client, bare, "auto", dead, log=lines.append) == bare
    assert resolve_official_image(docker_client, bare, "auto", None, log=lines.append) == bare
    assert lines == []


def test_auto_pulls_when_the_image_is_not_local(docker_client, registry, demo):
    _local(docker_client, demo, registry)
    docker_client.images.remove(demo.ref)
    lines: list[str] = []
    assert resolve_official_image(docker_client, OFFICIAL, "auto", registry.address, log=lines.append) == demo.ref
    assert image_exists(docker_client, demo.ref)
    assert lines and lines[-1].startswith(f"pulled {demo.ref}")


def test_auto_with_an_unknown_name_falls_back_to_building(docker_client, registry):
    unknown = f"swebench/sweb.eval.x86_64.nothing_1776_nothing-{uuid.uuid4().hex[:8]}:latest"
    lines: list[str] = []
    assert resolve_official_image(docker_client, unknown, "auto", registry.address, log=lines.append) is None
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"official image {unknown} not available (")
    assert lines[0].endswith("; building locally")
    assert not image_exists(docker_client, qualified(unknown, registry.address))


def test_pull_with_an_unknown_name_raises_naming_it(docker_client, registry):
    unknown = f"swebench/sweb.eval.x86_64.nothing_1776_nothing-{uuid.uuid4().hex[:8]}:latest"
    with pytest.raises(ImagePullError) as info:
        resolve_official_image(docker_client, unknown, "pull", registry.address, log=lambda line: None)
    message = str(info.value)
    assert unknown in message and registry.address in message
    assert "\n" not in message
    assert "not found" in message or "manifest unknown" in message


def test_pull_from_a_port_where_nothing_listens_fails_fast(docker_client):
    dead = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ImagePullError) as info:
        resolve_official_image(docker_client, OFFICIAL, "pull", dead, log=lambda line: None)
    assert time.monotonic() - started < 20
    assert dead in str(info.value) and "connection refused" in str(info.value)
    # auto falls back, one line, just as fast
    lines: list[str] = []
    assert resolve_official_image(docker_client, OFFICIAL, "auto", dead, log=lines.append) is None
    assert len(lines) == 1 and "connection refused" in lines[0]
    assert time.monotonic() - started < 20


def test_push_to_a_dead_registry_raises_and_leaves_no_tag(docker_client, registry, demo):
    dead = f"127.0.0.1:{free_port()}"
    _local(docker_client, demo, registry)
    started = time.monotonic()
    with pytest.raises(ImagePushError) as info:
        push_image(docker_client, demo.ref, dead, OFFICIAL)
    assert time.monotonic() - started < 20
    assert dead in str(info.value)
    assert not image_exists(docker_client, qualified(OFFICIAL, dead))


def test_build_mode_touches_nothing(registry):
    class NoEngine:
        def __getattr__(self, name):
            raise AssertionError(f"the engine was touched: client.{name}")

    engine: Any = NoEngine()
    assert resolve_official_image(engine, OFFICIAL, "build", registry.address, log=print) is None
    assert resolve_official_image(engine, None, "build", None, log=print) is None


def test_the_registry_listens_on_loopback_only(registry):
    host, port = registry.address.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert Path(registry.log).is_file()
