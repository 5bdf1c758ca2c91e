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
