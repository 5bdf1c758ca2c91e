"""`qualified(image, registry)`: the name an official image is pulled by (pure, no engine)."""

from __future__ import annotations

import pytest

from agentbench.sandbox.official_images import ImagePullError, ImagePushError, qualified, resolve_official_image

OFFICIAL = "swebench/sweb.eval.x86_64.pylint-dev_1776_pylint-7080:latest"


def test_docker_hub_keeps_the_name_as_is():
    assert qualified(OFFICIAL, None) == OFFICIAL
    assert qualified("swebench/sweb.eval.x86_64.demo", None) == "swebench/sweb.eval.x86_64.demo"
    assert qualified("docker.io/swebench/x:1", None) == "docker.io/swebench/x:1"


def test_another_registry_prefixes_the_name_and_keeps_the_tag():
    assert qualified(OFFICIAL, "127.0.0.1:5000") == f"127.0.0.1:5000/{OFFICIAL}"
    assert qualified("swebench/x:v2", "mirror.example:443") == "mirror.example:443/swebench/x:v2"
    assert qualified("swebench/x:v2", "mirror.example") == "mirror.example/swebench/x:v2"


def test_default_tag_is_latest():
    assert qualified("swebench/sweb.eval.x86_64.demo", "127.0.0.1:5000") == \
        "127.0.0.1:5000/swebench/sweb.eval.x86_64.demo:latest"
    assert qualified("ubuntu", "r:1") == "r:1/ubuntu:latest"


def test_docker_io_prefix_is_dropped():
    assert qualified("docker.io/swebench/x:1", "127.0.0.1:5000") == "127.0.0.1:5000/swebench/x:1"
    assert qualified("index.docker.io/swebench/x", "127.0.0.1:5000") == "127.0.0.1:5000/swebench/x:latest"


def test_a_digest_is_kept_without_adding_a_tag():
    digest = "sha256:" + "a" * 64
    assert qualified(f"swebench/x@{digest}", "r:5000") == f"r:5000/swebench/x@{digest}"


def test_registry_spelling_is_normalised():
    assert qualified("swebench/x:1", "127.0.0.1:5000/") == "127.0.0.1:5000/swebench/x:1"
    assert qualified("swebench/x:1", "  ") == "swebench/x:1"  # blank means Docker Hub
    with pytest.raises(ValueError, match="without a scheme"):
        qualified("swebench/x:1", "http://127.0.0.1:5000")
    with pytest.raises(ValueError, match="empty"):
        qualified("  ", "127.0.0.1:5000")


def test_errors_are_one_line_naming_image_and_registry():
    err = ImagePullError("swebench/x:1", "127.0.0.1:5000", "manifest unknown:\n  not found")
    assert str(err) == "pulling image 'swebench/x:1' from 127.0.0.1:5000 failed: manifest unknown: not found"
    assert isinstance(err, RuntimeError)
    assert "Docker Hub" in str(ImagePullError("swebench/x:1", None, "denied"))
    assert "no image" in str(ImagePullError(None, None, "the row names no image"))
    assert str(ImagePushError("swebench/x:1", "r:1", "refused")).startswith("pushing image 'swebench/x:1' to r:1")


class _NoEngine:
    def __getattr__(self, name):
        raise AssertionError(f"the engine was touched: client.{name}")


def test_modes_that_need_no_engine():
    for image in (OFFICIAL, None, ""):
        assert resolve_official_image(_NoEngine(), image, "build", "127.0.0.1:5000", log=print) is None
    assert resolve_official_image(_NoEngine(), None, "auto", None, log=print) is None
    assert resolve_official_image(_NoEngine(), "", "auto", None, log=print) is None
    with pytest.raises(ImagePullError, match="the row names no image"):
        resolve_official_image(_NoEngine(), None, "pull", None, log=print)
    with pytest.raises(ValueError, match="auto, pull, build"):
        resolve_official_image(_NoEngine(), OFFICIAL, "sometimes", None, log=print)  # type: ignore[arg-type]
