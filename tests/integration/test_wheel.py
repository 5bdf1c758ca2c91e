"""agentbench installs as a wheel: the bundled suites (tasks/) and sandbox recipes (sandboxes/) ship inside
it as package data and are found there, from a folder outside the source tree; our graphs (graphs/) are the
package agentbench.graphs, and nothing but `agentbench` lies at the top of site-packages.

The wheel is built from a copy of the checkout (pip builds in the tree it is given), installed with
--no-deps into a fresh virtual environment whose dependencies come from this interpreter's site-packages
(a .pth line: offline, like a --system-site-packages venv over the test environment)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from pathlib import Path

import pytest

from agentbench.runner.graph_loader import OURS

from .conftest import ROOT

pytestmark = pytest.mark.integration

_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".cache", "runs", "build", "dist", "*.egg-info",
                                     "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache")

PROBE = """
import json, agentbench
from agentbench._bundled import bundled_dir
from agentbench.sandbox.images import RECIPES_DIR, recipe_hash, recipe_names
from agentbench.suites.loader import available_suites, default_tasks_root, load_suite
from agentbench.suites.swe_recipes import builtin_specs
from agentbench.models.tool_calls import SMOLLM2_TEMPLATE
print(json.dumps({
    "package": agentbench.__file__, "tasks_root": str(default_tasks_root()), "recipes": str(RECIPES_DIR),
    "suites": available_suites(), "recipe_names": recipe_names(),
    "hashes": {n: recipe_hash(n) for n in ("rootfs", *recipe_names())},
    "builtin_specs": len(builtin_specs()),
    "tasks": {s: len(load_suite(s)[1]) for s in ("gaia-mini", "swe-mini", "swe-lite")},
    "fixture_sources": (bundled_dir("tasks") / "swe-mini" / "src").exists(),
    "tool_template": str(SMOLLM2_TEMPLATE) if SMOLLM2_TEMPLATE.is_file() else None,
}))
"""

GRAPHS_PROBE = """
import json
import agentbench.graphs.coding as coding
from agentbench.runner.graph_identity import graph_identity
from agentbench.runner.graph_loader import OURS, load_graph_factory
print(json.dumps({**{name: load_graph_factory(name).__module__ for name in OURS},
                  "file": coding.__file__, "source": graph_identity("coding", None, {}).source}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist = tmp / "src", tmp / "dist"
    shutil.copytree(ROOT, src, symlinks=True, ignore=_NOT_SOURCE)
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(src)],
                   check=True, timeout=600, cwd=tmp)
    (built,) = dist.glob("agentbench-*.whl")
    print(f"wheel {built.stat().st_size / 1e6:.1f} MB built in {time.monotonic() - t0:.1f} s")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path) -> Path:
    """A fresh venv with the wheel built from this checkout installed (returns the venv folder)."""
    tmp = wheel.parent.parent
    env = tmp / "venv"
    t0 = time.monotonic()
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # the dependencies: this interpreter's site-packages, after the venv's own (the wheel wins)
    (Path(purelib) / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                    str(wheel)], check=True, timeout=600, cwd=tmp)
    print(f"wheel installed in {time.monotonic() - t0:.1f} s")
    return env


def _outside(env: Path, *cmd: str) -> subprocess.CompletedProcess:
    """Run from a folder outside the source tree, with nothing pointing back at the checkout."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AGENTBENCH_TASKS", "VIRTUAL_ENV")}
    clean.update(PATH=f"{env / 'bin'}:/usr/local/bin:/usr/bin:/bin", COLUMNS="200")
    work = env.parent / "elsewhere"
    work.mkdir(exist_ok=True)
    proc = subprocess.run(list(cmd), cwd=work, env=clean, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_the_installed_wheel_finds_its_suites_and_recipes(installed):
    found = json.loads(_outside(installed, str(installed / "bin" / "python"), "-c", PROBE).stdout)
    site = str(installed)
    assert found["package"].startswith(site), found["package"]  # the wheel's copy, not the checkout
    assert found["tasks_root"].startswith(site) and found["recipes"].startswith(site)
    assert {"gaia-mini", "swe-mini", "swe-lite"} <= set(found["suites"])
    assert {"base", "python"} <= set(found["recipe_names"])
    assert found["builtin_specs"] > 0
    assert all(n > 0 for n in found["tasks"].values()), found["tasks"]  # data, bundles and mirrors shipped
    assert not found["fixture_sources"]  # tasks/*/src stays in the repository
    assert (found["tool_template"] or "").startswith(site)  # the embedded model's tool template ships
    # the recipes hash as in the checkout: an installed agentbench reuses the images built from it
    from agentbench.sandbox.images import recipe_hash

    assert found["hashes"] == {n: recipe_hash(n) for n in found["hashes"]}


def test_the_wheel_puts_only_agentbench_at_the_top_of_site_packages(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"agentbench", "agentbench-0.1.0.dist-info"}, tops  # no generic `graphs` package
    ours = {name.removeprefix("agentbench/graphs/") for name in names if name.startswith("agentbench/graphs/")}
    assert {f"{name}.py" for name in OURS} <= ours, ours  # our graphs ship inside agentbench


def test_the_installed_wheel_loads_our_graphs_from_itself(installed):
    probe = GRAPHS_PROBE
    found = json.loads(_outside(installed, str(installed / "bin" / "python"), "-c", probe).stdout)
    assert {name: found[name] for name in OURS} == {name: f"agentbench.graphs.{name}" for name in OURS}
    assert found["file"].startswith(str(installed)) and found["source"].startswith(str(installed)), found


def test_the_installed_command_lists_the_bundled_suites(installed):
    for suite in ("gaia-mini", "swe-mini", "swe-lite"):
        out = _outside(installed, str(installed / "bin" / "agentbench"), "tasks", suite).stdout
        assert suite in out and " tasks" in out, out[-2000:]
    assert "sandbox" in _outside(installed, str(installed / "bin" / "agentbench"), "sandbox", "build", "--help").stdout


def test_tasks_env_still_overrides_the_bundled_suites(installed, tmp_path):
    suite = tmp_path / "tasks" / "mine"
    suite.mkdir(parents=True)
    (suite / "suite.yaml").write_text("name: mine\nformat: gaia\n")
    probe = ("import os, json; os.environ['AGENTBENCH_TASKS'] = os.environ['T'];"
             "from agentbench.suites.loader import available_suites; print(json.dumps(available_suites()))")
    clean = {**os.environ, "T": str(tmp_path / "tasks")}
    clean.pop("PYTHONPATH", None)
    proc = subprocess.run([str(installed / "bin" / "python"), "-c", probe], cwd=tmp_path, env=clean,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["mine"]
