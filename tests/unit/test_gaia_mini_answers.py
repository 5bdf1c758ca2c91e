"""Every gaia-mini answer is recomputed from its attachment; the attachments regenerate identically."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from agentbench.protocols import Outcome
from agentbench.scoring.gaia import GaiaScorer
from agentbench.suites.gaia import load_gaia

SUITE = Path(__file__).resolve().parents[2] / "tasks" / "gaia-mini"
RECOMPUTE = SUITE / "recompute.py"
GENERATOR = SUITE / "make_attachments.py"
DATA = ("metadata.jsonl", "suite.yaml")


def run(script: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)


def copy_suite(dst: Path) -> Path:
    shutil.copytree(SUITE, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def rewrite(metadata: Path, change) -> None:
    rows = [json.loads(line) for line in metadata.read_text().splitlines() if line.strip()]
    metadata.write_text("".join(json.dumps(r) + "\n" for r in change(rows)))


def test_recompute_matches_every_answer():
    proc = run(RECOMPUTE, str(SUITE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    n = len(load_gaia(SUITE))
    assert f"{n}/{n} answers recomputed and matching" in proc.stdout


def test_recompute_fails_on_a_corrupted_answer(tmp_path):
    suite = copy_suite(tmp_path / "suite")

    def corrupt(rows):
        rows[3]["Final answer"] = rows[3]["Final answer"] + "0"
        return rows

    rewrite(suite / "metadata.jsonl", corrupt)
    proc = run(RECOMPUTE, str(suite))
    assert proc.returncode != 0
    bad = [line for line in proc.stdout.splitlines() if line.endswith("MISMATCH")]
    assert len(bad) == 1 and bad[0].startswith("gm-l1-004")


def test_recompute_fails_on_a_task_without_a_function(tmp_path):
    suite = copy_suite(tmp_path / "suite")
    rewrite(suite / "metadata.jsonl", lambda rows: [*rows, {**rows[0], "task_id": "gm-l9-999"}])
    proc = run(RECOMPUTE, str(suite))
    assert proc.returncode != 0 and "gm-l9-999" in proc.stdout and "no recompute function" in proc.stdout


def test_regenerated_attachments_are_identical_and_give_the_same_answers(tmp_path):
    assert run(GENERATOR, "--check", str(SUITE)).returncode == 0
    fresh = tmp_path / "fresh"
    assert run(GENERATOR, str(fresh)).returncode == 0
    for name in DATA:
        shutil.copy(SUITE / name, fresh / name)
    proc = run(RECOMPUTE, str(fresh))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_attachments_are_small_and_all_referenced():
    tasks = load_gaia(SUITE)
    referenced = {t.metadata["file_name"] for t in tasks if t.metadata["file_name"]}
    on_disk = {p.name for p in SUITE.iterdir()
               if p.is_file() and p.name not in (*DATA, "recompute.py", "make_attachments.py")}
    assert referenced == on_disk
    for name in referenced:
        assert (SUITE / name).stat().st_size < 50_000, name
    assert {Path(n).suffix for n in referenced} >= {".csv", ".json", ".txt", ".db", ".py"}


def test_reference_answers_pass_the_gaia_scorer():
    scorer = GaiaScorer()
    for task in load_gaia(SUITE):
        assert scorer.grade(task, Outcome(answer=task.expected.answer)).passed, task.id
