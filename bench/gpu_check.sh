#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU and the `vllm` package (not run in CI: agentbench's CI has
# no GPU). agentbench starts vLLM itself (model.provider: vllm, the same managed lifecycle as the embedded
# CPU model), runs the demo suite against it, and prints summary.json with the model identity and vLLM's
# own metrics next to the completion rate.
#
#   VLLM_PYTHON=/opt/vllm/bin/python MODEL_PATH=Qwen/Qwen2.5-1.5B-Instruct bash bench/gpu_check.sh
#
# VLLM_PYTHON: python of the environment that has `vllm` (default: python3). MODEL_PATH: a weights folder
# or a hub name that environment can load. Extra arguments are passed to `agentbench run` (--set ...).
set -euo pipefail
cd "$(dirname "$0")/.."
VLLM_PYTHON="${VLLM_PYTHON:-$(command -v python3)}"
MODEL_PATH="${MODEL_PATH:?set MODEL_PATH to a weights folder or hub name}"
NAME="${SERVED_NAME:-$(basename "$MODEL_PATH")}"
"$VLLM_PYTHON" -c "import vllm, torch; assert torch.cuda.is_available(), 'no CUDA GPU visible'; print('vllm', vllm.__version__, 'on', torch.cuda.get_device_name(0))"
OUT="runs/gpu-check-$(date +%Y%m%d-%H%M%S)"
.venv/bin/agentbench run experiments/demo.yaml --out "$OUT" \
    --set model.provider=vllm --set "model.name=$NAME" \
    --set "model.server.python=$VLLM_PYTHON" --set "model.server.model_path=$MODEL_PATH" \
    --set model.server.dtype=auto --set model.server.enforce_eager=false \
    --set model.server.gpu_memory_utilization=0.85 --set model.server.enable_prefix_caching=true \
    "$@"
cat "$OUT/summary.json"
