"""Resolve the configured model into a live OpenAI-compatible endpoint plus its recorded identity.

- `openai`: an endpoint that is already running; the key comes from the environment variable named
  by `model.api_key_env` and is never stored.
- `embedded` / `vllm`: a managed vLLM server started here and stopped at the end.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import httpx
from pydantic import BaseModel, Field, SecretStr

from agentbench.config.schema import ModelConfig, TracingConfig
from agentbench.models import embedded
from agentbench.models.client import http_client
from agentbench.models.server import ManagedServer
from agentbench.redact import Redactor, public_url


class EndpointError(RuntimeError):
    pass


class ModelIdentity(BaseModel):
    provider: str
    served_model_name: str
    base_url: str
    weights_path: str | None = None
    weights_hash: str | None = None
    dtype: str | None = None
    quantization: str | None = None
    engine_args: list[str] = Field(default_factory=list)
    server: str | None = None
    server_version: str | None = None


class Endpoint(BaseModel):
    base_url: str
    model: str
    api_key: SecretStr | None = Field(None, exclude=True, repr=False)
    identity: ModelIdentity
    server: object | None = Field(None, exclude=True, repr=False)

    @property
    def root_url(self) -> str:
        url = self.base_url.rstrip("/")
        return url[:-3] if url.endswith("/v1") else url


def resolve_api_key(cfg: ModelConfig) -> SecretStr | None:
    if not cfg.api_key_env:
        return None
    value = os.environ.get(cfg.api_key_env)
    if not value:
        raise EndpointError(f"model.api_key_env names {cfg.api_key_env}, but that environment variable is not set")
    return SecretStr(value)


async def server_version(root_url: str) -> str | None:
    try:
        async with http_client(timeout=5.0) as client:
            resp = await client.get(root_url + "/version")
        if resp.status_code == 200:
            return str(resp.json().get("version"))
    except (httpx.HTTPError, ValueError, AttributeError):
        pass
    return None


async def preflight(base_url: str, api_key: SecretStr | None, timeout_s: float = 10.0) -> int | None:
    """One `GET {base_url}/models` with the run's key, before any attempt: the HTTP status, or None when
    nothing answered (the attempts then meet that fault themselves, retried). Costs no tokens."""
    headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key is not None else {}
    try:
        async with http_client(timeout=timeout_s) as client:
            resp = await client.get(base_url.rstrip("/") + "/models", headers=headers)
    except httpx.HTTPError:
        return None
    return resp.status_code


def auth_message(base_url: str, api_key_env: str | None, detail: str) -> str:
    """Why a run stops when the endpoint refuses the key: the endpoint (without the userinfo of its URL), and
    what model.api_key_env says (the variable's name, never its value)."""
    key = (f"model.api_key_env is {api_key_env}: check that ${api_key_env} holds a key this endpoint accepts"
           if api_key_env else "model.api_key_env is not set, so no key was sent: set it to the NAME of the "
                               "environment variable that holds the key")
    return (f"the model endpoint {public_url(base_url)} refused the request ({detail}); {key}. The run stopped before "
            "spending more attempts; finished ones are kept (--resume continues)")


@asynccontextmanager
async def open_endpoint(cfg: ModelConfig, log_dir: Path, ray_address: str | None = None,
                        ray_runtime_env: dict | None = None,
                        tracing: TracingConfig | None = None,
                        redactor: Redactor | None = None) -> AsyncIterator[Endpoint]:
    """`tracing`: the run's section; with an OTLP endpoint a managed vLLM exports its request spans there.
    `redactor`: the run's, so a managed server's log masks its secrets too (vLLM may log a prompt that quotes
    a graph_params secret); the model section's alone by default."""
    if redactor is None:
        redactor = Redactor.from_config({"model": cfg.model_dump(mode="json")})
    api_key = resolve_api_key(cfg)
    if cfg.provider == "openai":
        if not cfg.base_url:
            raise EndpointError("model.base_url is required with model.provider: openai")
        root = cfg.base_url.rstrip("/").removesuffix("/v1")
        version = await server_version(root)
        identity = ModelIdentity(provider="openai", served_model_name=cfg.name, base_url=cfg.base_url,
                                 server="vllm" if version else None, server_version=version)
        yield Endpoint(base_url=cfg.base_url, model=cfg.name, api_key=api_key, identity=identity)
        return

    python = Path(cfg.server.python) if cfg.server.python else embedded.venv_python()
    model_path = cfg.server.model_path or str(embedded.model_dir())
    if cfg.provider == "embedded" and not embedded.is_ready():
        raise EndpointError("the embedded model is not set up: run `agentbench model setup` (or `make setup`)")
    if not python.exists():
        raise EndpointError(f"model.server.python: {python} does not exist")
    spec = embedded.vllm_server_spec(cfg, python, model_path, tracing=tracing)
    spec = spec.model_copy(update={"secret_env": [*spec.secret_env, *cfg.server.env]})  # each value a secret
    if api_key is not None:  # the managed server requires the same key; passed by environment, never argv
        spec = spec.model_copy(update={"env": {**spec.env, "VLLM_API_KEY": api_key.get_secret_value()},
                                       "secret_env": [*spec.secret_env, "VLLM_API_KEY"]})
    if cfg.server.placement == "ray":  # on a Ray cluster node with model.server.ray_resources
        from agentbench.models.ray_server import RayServer

        managed = RayServer(spec, log_dir / "server.log", resources=cfg.server.ray_resources, address=ray_address,
                            runtime_env=ray_runtime_env)
    else:
        managed = ManagedServer(spec, log_dir / "server.log", redactor)
    async with managed as server:
        version = await server_version(server.root_url)
        weights = Path(model_path)
        identity = ModelIdentity(
            provider=cfg.provider, served_model_name=cfg.name, base_url=server.base_url,
            weights_path=model_path, weights_hash=embedded.weights_hash(weights) if weights.is_dir() else None,
            dtype=_flag(spec.argv, "--dtype"),
            quantization=cfg.server.quantization or _flag(cfg.server.extra_args, "--quantization"),
            engine_args=spec.argv[3:], server="vllm", server_version=version)
        yield Endpoint(base_url=server.base_url, model=cfg.name, api_key=api_key, identity=identity, server=server)


def _flag(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None
