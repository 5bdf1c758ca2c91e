"""Sandbox images against the real engine: built from the recipes under sandboxes/ (debootstrap rootfs,
then `base`, then `python`), tagged by recipe hash and reused. The first run builds for a few minutes;
later runs reuse the images."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agentbench.sandbox import images
from agentbench.sandbox.engine import EngineError, engine_client, ensure_engine

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client():
    c = engine_client()
    if c is None:
        pytest.fail("no Docker engine answers: run `sandboxes/ensure_engine.sh` (as root) or set DOCKER_HOST")
    c.api.timeout = 600
    yield c
    c.close()


@pytest.fixture(scope="module")
def python_tag(client) -> str:
    return images.ensure_image(client, "python", log=lambda _line: None)


def _run(client, tag: str, cmd: list[str]) -> str:
    out = client.containers.run(tag, cmd, remove=True, network_mode="none", stdout=True, stderr=True,
                                labels={"agentbench.test": "test_images"})
    return out.decode().strip()


def test_recipe_chain_and_tags() -> None:
    assert images.recipe_names() == ["base", "python"]
    assert images.recipe_parents("python") == ["base", "rootfs"]
    assert images.recipe_parents("base") == ["rootfs"]
    assert images.recipe_parents("rootfs") == []
    for name in ("rootfs", "base", "python"):
        tag = images.image_tag(name)
        repo, _, digest = tag.partition(":")
        assert repo == f"agentbench/{name}"
        assert len(digest) == 12 and all(ch in "0123456789abcdef" for ch in digest)
    with pytest.raises(images.RecipeError, match="unknown sandbox recipe"):
        images.image_tag("no-such-recipe")


def test_ensure_image_builds_then_reuses(client, python_tag: str) -> None:
    assert python_tag == images.image_tag("python")
    first = client.images.get(python_tag)
    assert first.labels[images.LABEL_RECIPE] == "python"
    for parent in images.recipe_parents("python"):
        assert images.image_exists(client, images.image_tag(parent))

    lines: list[str] = []
    started = time.monotonic()
    again = images.ensure_image(client, "python", log=lines.append)
    elapsed = time.monotonic() - started
    assert again == python_tag
    assert client.images.get(again).id == first.id, "the image was rebuilt"
    assert elapsed < 5, f"reusing an existing image took {elapsed:.1f} s"
    assert not any("building" in line for line in lines), lines

    listed = {row.tag: row for row in images.list_images(client)}
    for name in ("rootfs", "base", "python"):
        row = listed[images.image_tag(name)]
        assert row.recipe == name and row.current and row.size_bytes > 0


def test_python_image_runs_as_agent_with_data_tools(client, python_tag: str) -> None:
    assert _run(client, python_tag, ["id", "-un"]) == "agent"
    assert _run(client, python_tag, ["pwd"]) == "/workspace"
    out = _run(client, python_tag, ["python3", "-c", "import pandas, numpy, sqlite3, openpyxl; print('ok')"])
    assert out == "ok"
    out = _run(client, python_tag, ["bash", "-c", "for t in git pip3 ps sqlite3 jq unzip bc pdftotext; do "
                                                  "command -v $t >/dev/null || echo missing $t; done; "
                                                  "echo '2^10' | bc; echo '{\"a\":1}' | jq -c .a; "
                                                  "touch /workspace/x && echo writable"])
    assert out.splitlines() == ["1024", "1", "writable"], out


def test_recipe_hash_follows_recipe_files(tmp_path: Path) -> None:
    recipes = tmp_path / "sandboxes"
    shutil.copytree(images.RECIPES_DIR, recipes, ignore=shutil.ignore_patterns("__pycache__"))
    names = ("rootfs", "base", "python")
    before = {n: images.recipe_hash(n, recipes_dir=recipes) for n in names}
    assert before == {n: images.recipe_hash(n) for n in names}, "the hash depends on where the recipes live"

    # a change in python touches python only
    (recipes / "python" / "Dockerfile").write_text((recipes / "python" / "Dockerfile").read_text() + "# x\n")
    after_python = {n: images.recipe_hash(n, recipes_dir=recipes) for n in names}
    assert after_python["python"] != before["python"]
    assert after_python["base"] == before["base"] and after_python["rootfs"] == before["rootfs"]

    # a new file in base changes base and, through the parent hash, python
    (recipes / "base" / "extra.conf").write_text("setting=1\n")
    after_base = {n: images.recipe_hash(n, recipes_dir=recipes) for n in names}
    assert after_base["base"] != after_python["base"]
    assert after_base["python"] != after_python["python"]
    assert after_base["rootfs"] == before["rootfs"]

    # the rootfs hash follows build_base.sh, and everything above it moves with it
    script = recipes / "build_base.sh"
    script.write_text(script.read_text() + "\n# tweak\n")
    after_rootfs = {n: images.recipe_hash(n, recipes_dir=recipes) for n in names}
    assert all(after_rootfs[n] != after_base[n] for n in names)
    assert images.image_tag("python", recipes_dir=recipes) == f"agentbench/python:{after_rootfs['python']}"

    # files outside a recipe folder (README, ensure_engine.sh) do not matter
    (recipes / "README.md").write_text("changed\n")
    assert {n: images.recipe_hash(n, recipes_dir=recipes) for n in names} == after_rootfs


def test_build_error_carries_log_tail(client, python_tag: str, tmp_path: Path) -> None:
    recipes = tmp_path / "sandboxes"
    shutil.copytree(images.RECIPES_DIR, recipes)
    broken = recipes / "broken"
    broken.mkdir()
    (broken / "Dockerfile").write_text("# parent: base\nARG BASE\nFROM ${BASE}\n"
                                       "RUN echo about-to-fail && exit 3\n")
    with pytest.raises(images.ImageBuildError) as info:
        images.ensure_image(client, "broken", log=lambda _line: None, recipes_dir=recipes)
    err = info.value
    assert err.name == "broken" and "about-to-fail" in "\n".join(err.log_tail)
    assert "returned a non-zero code: 3" in str(err)
    assert not images.image_exists(client, images.image_tag("broken", recipes_dir=recipes))


def test_concurrent_ensure_builds_once(client, python_tag: str, tmp_path: Path) -> None:
    recipes = tmp_path / "sandboxes"
    shutil.copytree(images.RECIPES_DIR, recipes)
    tiny = recipes / "tiny"
    tiny.mkdir()
    (tiny / "Dockerfile").write_text(f"# parent: python\nARG BASE\nFROM ${{BASE}}\n"
                                     f"RUN echo built-at-{time.time_ns()} > /tmp/stamp\n")
    tag = images.image_tag("tiny", recipes_dir=recipes)
    logs: list[list[str]] = [[], [], []]
    try:
        with ThreadPoolExecutor(3) as pool:
            tags = list(pool.map(lambda i: images.ensure_image(client, "tiny", log=logs[i].append,
                                                                recipes_dir=recipes), range(3)))
        assert tags == [tag] * 3
        builds = [log for log in logs if any(line.startswith(f"built {tag}") for line in log)]
        assert len(builds) == 1, logs
        assert images.recipe_parents("tiny", recipes_dir=recipes) == ["python", "base", "rootfs"]
        assert client.images.get(tag).labels[images.LABEL_RECIPE] == "tiny"
    finally:
        if images.image_exists(client, tag):
            client.images.remove(tag, force=True)


def test_engine_client_and_ensure_engine_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert engine_client() is not None
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    started = time.monotonic()
    assert engine_client(timeout=1) is None
    assert time.monotonic() - started < 5
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    assert engine_client(timeout=1) is None
    with pytest.raises(EngineError, match="DOCKER_HOST=tcp://127.0.0.1:9"):
        ensure_engine(log=lambda _line: None)
