"""oracle and null validate the suite and the scorer through the whole CLI path."""

import json

from .conftest import ROOT, run_cli


def test_oracle_scores_100_and_null_0(tmp_path):
    for graph, rate in (("oracle", 1.0), ("null", 0.0)):
        out = tmp_path / graph
        run_cli("run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet",
                "--set", f"graph={graph}", "--set", "run.concurrency=4")
        summary = json.loads((out / "summary.json").read_text())
        assert summary["attempts"] >= 20
        assert summary["error"] == 0, summary["errors"]
        assert summary["completion_rate"] == rate, (graph, summary)
