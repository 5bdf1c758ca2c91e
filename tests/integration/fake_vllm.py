"""A stand-in for vLLM's OpenAI server process, to count how often agentbench starts a managed server.

`model.server.python` names a wrapper script that runs this file with the arguments agentbench gives
vLLM (`-m vllm.entrypoints.openai.api_server --model ... --port N ...`). It appends one line per start to
the file named by $FAKE_VLLM_STARTS (its --port and --max-model-len), then serves the OpenAI stub (chat
completions answering `FINAL ANSWER: 42`, /health) on 127.0.0.1:N until it is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from agentbench.testing.openai_stub import OpenAIStub


def wrapper(folder: Path) -> Path:
    """An executable `python` for model.server.python that runs this file with its arguments."""
    path = folder / "fake-vllm-python"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    path.chmod(0o755)
    return path


async def serve(port: int, model: str) -> None:
    stub = OpenAIStub(model=model)
    await stub.start(port)
    await asyncio.Event().wait()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--served-model-name", default="fake")
    parser.add_argument("--max-model-len", default="")
    args, _ = parser.parse_known_args(argv)
    with open(os.environ["FAKE_VLLM_STARTS"], "a") as fh:
        fh.write(f"port={args.port} max_model_len={args.max_model_len}\n")
    asyncio.run(serve(args.port, args.served_model_name))


if __name__ == "__main__":
    main(sys.argv[1:])
