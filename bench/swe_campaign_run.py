"""The engine side of the SWE-bench validation campaign (bench/swe_validate.py): classify each row (what
cannot run here is recorded without building), build its images with the docker sandbox provider, run
`validate_instance` (the checks of `agentbench tasks validate`), append its csv line, print progress, then
a summary (rows/hour, per-repo verdicts, image sizes, what this run built)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from agentbench.config.schema import SandboxConfig
from agentbench.protocols import Task
from agentbench.sandbox.swe_images import EnvSettings, ensure_env_image, unbuildable_reason
from agentbench.scoring.swebench import EvalRun, SweBenchScorer, validate_instance
from agentbench.suites.swe_recipes import find_spec
from agentbench.suites.swebench import SweRow, mirror_name, resolve_repo, task_from_row
from agentbench.swebench_layout import DEBIAN_PYTHON
from bench.swe_campaign import (NOT_FINAL, UNRUNNABLE, CampaignError, CampaignRow, Candidate, append_row, first_line,
                                network_flag, one_line, verdict_reason, cause_line)


#: what agentbench.sandbox.images logs before it builds an image (the rootfs, an environment, an instance)
_BUILDING = re.compile(r"^building sandbox image (\S+)")


def sandbox_config() -> SandboxConfig:
    """Docker, build mode: the campaign validates agentbench's recipes, never a pulled official image."""
    return SandboxConfig(backend="docker", swe_images="build")


class RecordingScorer(SweBenchScorer):
    """A SweBenchScorer that keeps each grading run (validate_instance returns only the verdict; the network
    flag reads the gold run's log)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runs: dict[str, dict[str, EvalRun]] = {}

    async def evaluate(self, task: Task, patch: str | None) -> EvalRun:
        run = await super().evaluate(task, patch)
        self.runs.setdefault(task.id, {})["empty" if patch is None else "gold"] = run
        return run


def classify(candidate: Candidate, row: SweRow, mirrors: Path, settings: EnvSettings) -> Task | CampaignRow:
    """The row's Task, or its csv row when it cannot run here (no recipe, no Python, no mirror)."""
    base = candidate.model_dump()
    spec = find_spec(row.repo, row.version)
    if spec is None:
        return CampaignRow(**base, valid=False,
                           reason=f"no_recipe: agentbench's recipe table has no {row.repo} {row.version}")
    python = spec.python or DEBIAN_PYTHON.get(spec.release() or "", "")
    source = resolve_repo(row.repo, mirrors)
    task = task_from_row(row, spec, source, f"{candidate.split} ({row.instance_id})")
    why = unbuildable_reason(task.swe, settings)
    if why:
        name = "python_unavailable_offline" if spec.release() is None else "conda_unavailable_offline"
        return CampaignRow(**base, python=python, valid=False, reason=f"{name}: {first_line(why)}")
    if "://" in source:
        return CampaignRow(**base, python=python, valid=False,
                           reason=f"repo_unavailable: no {mirror_name(row.repo)}.git or .bundle in --mirrors")
    return task


def _failures(run: EvalRun | None) -> dict[str, list[str]]:
    status = (run.report.get("tests_status") or {}) if run else {}
    return {kind: list(status.get(kind, {}).get("failure", [])) for kind in ("FAIL_TO_PASS", "PASS_TO_PASS")}


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


class Campaign:
    """One run of the campaign: the provider, the engine client, the counters of what happened."""

    def __init__(self, args: argparse.Namespace, total: int, started: float) -> None:
        from agentbench.sandbox.provider import make_sandbox_provider
        from agentbench.sandbox.engine import engine_client

        self.args, self.total, self.started = args, total, started
        self.client = engine_client()
        if self.client is None:
            raise CampaignError("no Docker engine answers (sandboxes/ensure_engine.sh starts one)")
        args.log.parent.mkdir(parents=True, exist_ok=True)
        self._log = args.log.open("a", encoding="utf-8")
        self._local = threading.local()  # the images the build in this thread started (one row per thread)
        config = sandbox_config()
        self.provider = make_sandbox_provider(config, log=self._build_log)
        self.settings = EnvSettings(**config.swe_settings())
        self.written: list[CampaignRow] = []
        self.runnable_total = self.runnable_done = 0
        self.run_started = time.monotonic()
        self._in_use: Counter[str] = Counter()

    def record(self, row: CampaignRow) -> None:
        append_row(self.args.out, row)
        self.written.append(row)
        ran = row.category not in UNRUNNABLE
        self.runnable_done += ran
        verdict = "valid" if row.valid else f"{'not run' if not ran else 'invalid'}: {row.category}"
        timing = f" (build {row.build_s or 0:.0f} s, grade {row.grade_s or 0:.0f} s)" if ran else ""
        eta = ""
        left = self.runnable_total - self.runnable_done
        if ran and left and self.runnable_done:
            eta = f" · eta {_duration((time.monotonic() - self.run_started) / self.runnable_done * left)}"
        flag = f" · network: {row.network}" if row.network else ""
        print(f"[{len(self.written)}/{self.total}] {row.repo} {row.version} {row.instance}: {verdict}{timing}{flag}{eta}",
              file=sys.stderr, flush=True)

    def _build_log(self, line: str) -> None:
        print(line, file=self._log, flush=True)
        building, started = _BUILDING.match(line), getattr(self._local, "started", None)
        if building and started is not None:
            started.append(building.group(1))

    def _prepare(self, task: Task) -> tuple[dict[str, str], list[str], str | None]:
        """provider.prepare for one task, in this thread: (broken, the images it built, the image the row
        runs in: ensure_env_image's answer, the image being there now, or None when broken)."""
        self._local.started = []
        try:
            broken = self.provider.prepare([task])
            image = None if task.id in broken else ensure_env_image(self.client, task.swe, self.settings,
                                                                    log=self._build_log)
            return broken, list(self._local.started), image
        finally:
            self._local.started = None

    async def validate(self, candidate: Candidate, task: Task, python: str) -> CampaignRow:
        base = {**candidate.model_dump(), "python": python}
        t0, image = time.monotonic(), None
        try:
            broken, started, image = await asyncio.to_thread(self._prepare, task)
            build_s = time.monotonic() - t0
            built = ",".join(tag.split(":")[0].removeprefix("agentbench/") for tag in started) or "none"
            if task.id in broken:
                return CampaignRow(**base, valid=False, build_s=build_s, built=built,
                                   reason=f"env_build_failed: {cause_line(broken[task.id])}",
                                   detail=one_line(broken[task.id]))
            self._in_use[image] += 1
            scorer = RecordingScorer(self.provider, eval_timeout_s=self.args.eval_timeout_s)
            t1 = time.monotonic()
            check = await validate_instance(scorer, task)
            grade_s = time.monotonic() - t1
            gold = scorer.runs.get(task.id, {}).get("gold")
            report = gold.report if gold else {}
            reason = verdict_reason(check.test_patch_applies, check.gold_resolves, check.empty_fails, check.env_ok,
                                    check.detail, report)
            network = network_flag(gold.test_log if gold else "", _failures(gold))
            return CampaignRow(**base, valid=check.ok, reason=reason, build_s=build_s, grade_s=grade_s,
                               network=network, built=built, detail=one_line(check.detail))
        except Exception as exc:  # an engine fault, a bug: no verdict on the row; the next run retries it
            return CampaignRow(**base, valid=False, build_s=time.monotonic() - t0,
                               reason=f"error: {type(exc).__name__}: {first_line(str(exc))}")
        finally:
            if image is not None:
                self._in_use[image] -= 1
                if self.args.prune_instances and self._in_use[image] <= 0 and "/swe-inst:" in image:
                    await asyncio.to_thread(self._prune, image)

    def _prune(self, tag: str) -> None:
        wait = getattr(self.provider, "wait_removals", None)  # the row's containers go in the background
        if wait is not None:
            wait()
        try:
            self.client.images.remove(tag)
        except Exception as exc:  # in use by another container, already gone: keep going
            print(f"prune {tag}: {exc}", file=self._log, flush=True)

    async def run(self, queue: list[tuple[Candidate, SweRow]]) -> None:
        runnable: list[tuple[Candidate, Task, str]] = []
        for candidate, row in queue:  # what cannot run is recorded at once, without building
            try:
                got = classify(candidate, row, self.args.mirrors, self.settings)
            except Exception as exc:  # a row agentbench cannot turn into a task: no verdict, retried next run
                got = CampaignRow(**candidate.model_dump(), valid=False,
                                  reason=f"error: {type(exc).__name__}: {first_line(str(exc))}")
            if isinstance(got, CampaignRow):
                self.record(got)
            else:
                spec = find_spec(row.repo, row.version)
                python = (spec.python or DEBIAN_PYTHON.get(spec.release() or "", "")) if spec else ""
                runnable.append((candidate, got, python))
        self.runnable_total, self.run_started = len(runnable), time.monotonic()
        limit = asyncio.Semaphore(self.args.jobs)
        running: set[asyncio.Task] = set()

        async def one(candidate: Candidate, task: Task, python: str) -> None:
            try:
                self.record(await self.validate(candidate, task, python))
            finally:
                limit.release()

        self.skipped = 0
        for i, (candidate, task, python) in enumerate(runnable):
            await limit.acquire()
            budget = self.args.budget_min
            if budget is not None and time.monotonic() - self.started > budget * 60:
                limit.release()
                self.skipped = len(runnable) - i
                print(f"--budget-min {budget:g} spent: {self.skipped} rows not started", file=sys.stderr)
                break
            running.add(asyncio.create_task(one(candidate, task, python)))
        await asyncio.gather(*running)
        await self.provider.aclose()

    def summary(self) -> None:
        rows, hours = self.written, (time.monotonic() - self.started) / 3600
        ran = [r for r in rows if r.category not in UNRUNNABLE]
        say = lambda line: print(line, file=sys.stderr)  # noqa: E731
        say(f"\n{len(rows)} rows written to {self.args.out} in {_duration(hours * 3600)}: "
            f"{sum(r.valid for r in rows)} valid, {len(ran) - sum(r.valid for r in ran)} invalid or failed, "
            f"{len(rows) - len(ran)} not runnable here"
            + (f"; {len(ran) / hours:.1f} rows/hour ran (--jobs {self.args.jobs})" if ran and hours else ""))
        per_repo: dict[str, Counter[str]] = {}
        for r in rows:
            per_repo.setdefault(r.repo, Counter())["valid" if r.valid else r.category] += 1
        for repo, counts in sorted(per_repo.items()):
            say(f"  {repo}: " + ", ".join(f"{n} {name}" for name, n in counts.most_common()))
        built = [r for r in ran if r.built not in ("none", "")]
        say(f"images built by this run: {len(built)} of {len(ran)} rows "
            f"(env {sum('env' in r.built for r in built)}, inst {sum('inst' in r.built for r in built)})"
            + ("; nothing rebuilt" if ran and not built else ""))
        for repository in ("agentbench/swe-env", "agentbench/swe-inst"):
            try:
                sizes = sorted((img.attrs.get("Size", 0) for img in self.client.images.list(name=repository)),
                               reverse=True)
            except Exception as exc:  # the engine went away: say so, the csv is written
                say(f"{repository}: cannot list ({exc})")
                continue
            if sizes:
                say(f"{repository}: {len(sizes)} images, {sum(sizes) / 1e9:.1f} GB (largest {sizes[0] / 1e9:.2f} GB, "
                    f"median {sizes[len(sizes) // 2] / 1e9:.2f} GB; layers are shared, so disk use is less)")
        self._log.close()
        errors = sum(r.category in NOT_FINAL for r in rows)
        if errors:
            say(f"{errors} rows hit a harness error (reason error: ...): run again to retry them")


def run_campaign(args: argparse.Namespace, queue: list[tuple[Candidate, SweRow]], started: float) -> int:
    """Run `queue`; 0, or 1 when a row hit a harness error (those rows are retried by the next run)."""
    from agentbench.sandbox.provider import SandboxUnavailable

    try:
        campaign = Campaign(args, len(queue), started)
    except SandboxUnavailable as exc:
        raise CampaignError(str(exc)) from None
    try:
        asyncio.run(campaign.run(queue))
    finally:
        campaign.summary()
    return 1 if any(r.category in NOT_FINAL for r in campaign.written) else 0
