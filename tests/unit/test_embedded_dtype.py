"""The embedded CPU model's dtype follows what the CPU computes natively."""

from pathlib import Path

from agentbench.config.schema import ModelConfig
from agentbench.models.embedded import cpu_dtype, cpu_flags, vllm_server_spec

AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
SAPPHIRE = "processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"


def test_flags_are_read_from_cpuinfo():
    assert cpu_flags(AVX2_ONLY) == frozenset({"fpu", "sse2", "avx", "avx2", "fma"})
    assert cpu_flags("no flags line") == frozenset()


def test_auto_is_float32_without_native_bf16_and_bf16_with_it():
    assert cpu_dtype("auto", cpu_flags(AVX2_ONLY)) == "float32"
    assert cpu_dtype("auto", cpu_flags(SAPPHIRE)) == "bfloat16"
    assert cpu_dtype("auto", frozenset({"avx512_bf16"})) == "bfloat16"
    assert cpu_dtype("bfloat16", cpu_flags(AVX2_ONLY)) == "bfloat16"  # an explicit choice wins


def test_a_gpu_server_keeps_vllms_own_auto():
    cfg = ModelConfig(provider="vllm")
    argv = vllm_server_spec(cfg, Path("/usr/bin/python3"), "/models/x").argv
    assert argv[argv.index("--dtype") + 1] == "auto"
    embedded = vllm_server_spec(ModelConfig(), Path("/usr/bin/python3"), "/models/x").argv
    assert embedded[embedded.index("--dtype") + 1] in ("float32", "bfloat16")
