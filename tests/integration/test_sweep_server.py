"""Sweep cells share one managed model server when only client-side settings differ.

The server processes here are real and counted from outside: `model.provider: vllm` with
`model.server.python` a wrapper that runs tests/integration/fake_vllm.py in vLLM's place (it notes each
start, then serves an OpenAI stub on the port agentbench chose), started and stopped by agentbench's own
ManagedServer through `agentbench sweep`. The in-process tests pass their own opener to `run_cells` and
count the endpoints it opens: around an OpenAI stub, and around the real `open_endpoint` of the embedded
vLLM model (marked `model`).
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agentbench.analysis.sweep import make_plan, parse_grid
from agentbench.config.loader import load_experiment
from agentbench.models.endpoint import Endpoint, ModelIdentity, open_endpoint
from agentbench.runner.progress import NullProgress
from agentbench.runner.runner import Runner
from agentbench.runner.sweep_cells import run_cells
from agentbench.store import RunStore
from agentbench.testing.openai_stub import OpenAIStub

from .conftest import ROOT, run_cli
from .fake_vllm import wrapper

EXPERIMENT = """\
name: share
graph: react
model:
  provider: vllm
  name: fake-model
  server:
    python: {python}
    model_path: {weights}
    startup_timeout_s: 60
suite: {{name: gaia-mini, limit: 3}}
sandbox: {{backend: local}}
limits: {{max_steps: 2, timeout_s: 60}}
run: {{concurrency: 3}}
"""


def meta(run_dir: Path, key: str):
    store = RunStore.in_dir(run_dir)
    try:
        return store.meta(key), store.attempts()
    finally:
        store.close()


def test_a_sweep_starts_one_server_per_server_setting_not_per_cell(tmp_path):
    (tmp_path / "weights").mkdir()
    experiment = tmp_path / "share.yaml"
    experiment.write_text(EXPERIMENT.format(python=wrapper(tmp_path), weights=tmp_path / "weights"))
    starts, out = tmp_path / "starts.txt", tmp_path / "sweep"
    args = ["sweep", str(experiment), "--grid", "model.temperature=0.0,0.7", "--grid",
            "model.server.max_model_len=1024,2048", "--out", str(out), "--quiet"]
    env = {"FAKE_VLLM_STARTS": str(starts), "COLUMNS": ""}  # no terminal, no $COLUMNS: a log, 100 columns
    proc = run_cli(*args, env=env)

    # 4 cells, 2 server settings: 2 servers, each serving both temperatures (not 4 starts)
    assert [line.split()[1] for line in starts.read_text().splitlines()] == ["max_model_len=1024",
                                                                             "max_model_len=2048"]
    log = (out / "server.log").read_text()  # the sweep's one server log: each server's command line, then its output
    commands = [line for line in log.splitlines() if line.startswith("$ ")]
    assert len(commands) == 2 and "--max-model-len 1024" in commands[0] and "--max-model-len 2048" in commands[1]
    plan = json.loads((out / "plan.json").read_text())
    for cell in plan["cells"]:
        identity, attempts = meta(out / cell["name"], "model_identity")
        length = cell["assignments"]["model.server.max_model_len"]
        assert identity["provider"] == "vllm" and identity["served_model_name"] == "fake-model"
        assert identity["engine_args"][identity["engine_args"].index("--max-model-len") + 1] == length
        assert len(attempts) == 3 and all(a.status != "error" for a in attempts)
        assert not (out / cell["name"] / "server.log").exists()
    # the cells grouped by server ran one group after the other: the progress names each by its values
    order = [line.split(" → ")[0] for line in proc.stderr.splitlines() if line.startswith("cell ")]
    assert order == ["cell 1/4 temperature=0.0 · max_model_len=1024", "cell 3/4 temperature=0.7 · max_model_len=1024",
                     "cell 2/4 temperature=0.0 · max_model_len=2048", "cell 4/4 temperature=0.7 · max_model_len=2048"]
    table = [line for line in proc.stdout.splitlines() if line.startswith(("┃", "│", "┏", "└"))]
    assert table and max(len(line) for line in table) <= 100
    assert sum("temperature=0.7 · max_model_len=2048" in line for line in table) == 1

    # the same command again: every cell finished, so no server starts at all
    run_cli(*args, env=env)
    assert len(starts.read_text().splitlines()) == 2


async def test_cells_get_one_endpoint_per_group_opened_only_when_a_graph_needs_a_model(tmp_path):
    stub = OpenAIStub()
    await stub.start()
    opened: list[tuple[int, Path]] = []

    @asynccontextmanager
    async def opener(model, log_dir, **kwargs):
        opened.append((model.server.max_model_len, log_dir))
        yield Endpoint(base_url=stub.base_url, model=model.name,
                       identity=ModelIdentity(provider="vllm", served_model_name=model.name, base_url=stub.base_url))

    sets = ["model.provider=vllm", "suite.limit=2", "sandbox.backend=local", "limits.max_steps=2"]
    factors = parse_grid(["graph=oracle,react", "model.temperature=0.0,0.7"], sets)
    plan = make_plan(None, sets, factors, {})
    cells = [(cell, load_experiment(None, [*sets, *cell.overrides()])) for cell in plan.cells]
    try:
        await run_cells(cells, tmp_path, progress=lambda cfg: NullProgress(), opener=opener, base_dir=ROOT)
        assert opened == [(4096, tmp_path)]  # one endpoint for 4 cells; the oracle cells asked for none
        for cell in plan.cells:
            identity, attempts = meta(tmp_path / cell.name, "model_identity")
            react = cell.assignments["graph"] == "react"
            assert identity["provider"] == ("vllm" if react else "none") and len(attempts) == 2
        assert stub.requests >= 4  # both react cells reached the one endpoint

        opened.clear()  # finished cells: nothing to run, nothing opened
        await run_cells(cells, tmp_path, progress=lambda cfg: NullProgress(), opener=opener, base_dir=ROOT)
        assert opened == []

        # a Runner given an open endpoint uses it as is (a vllm config it would otherwise start a server for)
        before = stub.requests
        async with opener(cells[-1][1].model, tmp_path) as endpoint:
            (await Runner(cells[-1][1], tmp_path / "direct", endpoint=endpoint, base_dir=ROOT).run()).close()
        identity, attempts = meta(tmp_path / "direct", "model_identity")
        assert identity["provider"] == "vllm" and len(attempts) == 2 and stub.requests > before
    finally:
        await stub.stop()


@pytest.mark.model
async def test_a_temperature_sweep_on_the_embedded_model_starts_its_server_once(tmp_path):
    opened: list[float] = []

    @asynccontextmanager
    async def counting(model, log_dir, **kwargs):  # the real opener, counted
        opened.append(model.temperature)
        async with open_endpoint(model, log_dir, **kwargs) as endpoint:
            yield endpoint

    sets = ["suite.limit=3", "sandbox.backend=local", "limits.max_steps=2", "graph=react", "model.max_tokens=128"]
    plan = make_plan(None, sets, parse_grid(["model.temperature=0.0,0.7"], sets), {})
    cells = [(cell, load_experiment(ROOT / "experiments" / "demo.yaml", [*sets, *cell.overrides()]))
             for cell in plan.cells]
    await run_cells(cells, tmp_path, progress=lambda cfg: NullProgress(), opener=counting, base_dir=ROOT)

    assert opened == [0.0]  # the 0.7 cell ran on the server the 0.0 cell started
    log = (tmp_path / "server.log").read_text()
    assert sum(line.startswith("$ ") for line in log.splitlines()) == 1
    for cell in plan.cells:
        identity, attempts = meta(tmp_path / cell.name, "model_identity")
        assert identity["provider"] == "embedded" and identity["weights_hash"]
        assert len(attempts) == 3 and all(a.status != "error" for a in attempts)
        segments, _ = meta(tmp_path / cell.name, "server_metrics")
        # the shared server's counters are cumulative: each cell's own delta counts its own requests only
        assert sum(s["delta"]["requests_finished"] for s in segments) == sum(a.totals.model_calls for a in attempts) > 0
