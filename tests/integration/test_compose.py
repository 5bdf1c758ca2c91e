"""compose.yaml is valid for Docker Compose and wires what README says (the images cannot be pulled here)."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from .conftest import ROOT


def compose_config() -> dict:
    tool = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
    proc = subprocess.run([*tool, "-f", str(ROOT / "compose.yaml"), "config"], capture_output=True, text=True,
                          cwd=ROOT, env={"PATH": "/usr/local/bin:/usr/bin:/bin", "MODEL": "m"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def test_compose_file_validates_and_wires_vllm_to_agentbench():
    config = compose_config()
    vllm, bench = config["services"]["vllm"], config["services"]["agentbench"]
    assert vllm["image"].startswith("vllm/vllm-openai:")
    assert "/health" in " ".join(vllm["healthcheck"]["test"])
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"] and devices[0]["driver"] == "nvidia"
    assert any(str(v.get("target", v) if isinstance(v, dict) else v).endswith("/models")
               or ":/models" in str(v) for v in vllm["volumes"])
    assert bench["depends_on"]["vllm"]["condition"] == "service_healthy"
    assert "model.base_url=http://vllm:8000/v1" in bench["command"]
    assert any("docker.sock" in str(v) for v in bench["volumes"])
    assert (ROOT / "Dockerfile").is_file() and "build" in bench


def test_compose_builds_the_agentbench_image_from_the_local_rootfs():
    """`make compose-build` builds the `agentbench` service FROM agentbench/rootfs:<hash> (no registry; apt
    and pip over the host network, about 2 minutes cold) and the image runs the installed package."""
    import os
    import time

    from agentbench.sandbox.images import image_tag

    image = compose_config()["services"]["agentbench"]["image"]
    t0 = time.monotonic()
    proc = subprocess.run(["make", "compose-build"], cwd=ROOT, capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "MODEL": "m"})
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    print(f"make compose-build: {time.monotonic() - t0:.0f} s")
    rootfs = image_tag("rootfs")
    assert f"FROM {rootfs}" in proc.stdout or rootfs in proc.stdout + proc.stderr
    probe = ("import agentbench; from agentbench.suites.loader import available_suites; "
             "from agentbench.sandbox.images import recipe_names; from agentbench.suites.swe_recipes import "
             "builtin_specs; print(agentbench.__file__, available_suites(), recipe_names(), len(builtin_specs()))")
    run = subprocess.run(["docker", "run", "--rm", "-w", "/tmp", "--entrypoint", "python", image, "-c", probe],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("/opt/agentbench/lib/"), run.stdout  # the installed package, not /app's copy
    for name in ("gaia-mini", "swe-mini", "swe-lite", "base", "python"):
        assert f"'{name}'" in run.stdout
    listed = subprocess.run(["docker", "run", "--rm", image, "tasks", "gaia-mini"], capture_output=True, text=True,
                            timeout=300)
    assert listed.returncode == 0 and "gaia-mini" in listed.stdout, listed.stderr
    ca = subprocess.run(["docker", "run", "--rm", "--entrypoint", "sh", image, "-c",
                         "find / -xdev -name build-ca.crt 2>/dev/null; command -v docker debootstrap git"],
                        capture_output=True, text=True, timeout=300)
    assert "build-ca.crt" not in ca.stdout and ca.stdout.count("/") >= 3, ca.stdout  # the tools, not the CA
