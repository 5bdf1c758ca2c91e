"""Sweeps: every cell of a grid of config factors run on the same tasks and seeds, then attribution.

A grid is factors (`--grid KEY=V1,V2`), each a dotted config key and its levels; the cells are their
cartesian product, each a normal run folder under the sweep folder (so an unfinished cell resumes like any
run). The plan is fixed when the sweep starts (`analysis.io.claim_sweep_dir` writes `plan.json`): the same
command finds the same folders and resumes them.

Attribution on completion rate, tokens per success and wall-clock per attempt:
- main effect of a factor's level = the mean of that metric over the cells with that level, minus
  the mean over the cells with the factor's first (baseline) level;
- two-way interaction of levels (i of F, j of G) = the difference of differences
  y(Fi, Gj) − y(F0, Gj) − y(Fi, G0) + y(F0, G0), y averaged over the other factors' cells:
  how much the effect of F changes when G moves off its baseline;
- each with a paired bootstrap interval: resampling tasks (each with all its epochs; with one epoch, the
  (task, epoch) keys), the same draw in every cell; and a two-sided bootstrap p-value from the same draws,
  Holm-adjusted over every effect of the sweep (all metrics, main effects and interactions);
- the Pareto fronts of completion rate (higher is better) against tokens per success and against
  wall-clock per attempt (lower is better).

With `--design half` (4+ two-level factors) the cells are the grid's half fraction (`analysis.design`) and
the same contrasts, over those cells, estimate each effect plus the interaction it is aliased with
(`Effect.aliased_with`); on 4 factors one interaction of each aliased pair is reported.

Planning and analysis are pure; reading cells and the plan file is `analysis.io`, running the cells is
`runner.sweep_cells.run_cells` (called by `cli_compare.sweep`), which gives the cells of one `server_key`
one model server, or with `--eliminate` `runner.sweep_elimination` (successive elimination:
`analysis.elimination`). A cell is named by its values with shortened keys (`cell_label`: `temperature=0.7 ·
graph=react`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agentbench.analysis.design import aliasing, alias_of, half_fraction, kept_interactions
from agentbench.analysis.results import (Cell, CellData, CellSummary, Design, Effect, EliminationPlan,
                                         EliminationSummary, Factor, Metric, SweepError, SweepPlan, SweepResult)
from agentbench.config.schema import ExperimentConfig
from agentbench.metrics import completion_ci, completion_ci_method
from agentbench.stats import bootstrap_p_value, holm, pareto_front, percentile_interval
from agentbench.stats_cluster import cluster_bootstrap_draws, cluster_codes

METRICS: tuple[Metric, ...] = ("completion_rate", "tokens_per_success", "wall_clock_per_attempt_s")
FEW_KEYS = 20  # below this many (task, epoch) keys (tasks, with epochs > 1), percentile intervals run narrow


# ---- planning ------------------------------------------------------------------------------------

def split_levels(text: str) -> list[str]:
    """Split on commas outside brackets and quotes: `a,[1, 2],'x,y'` -> ['a', '[1, 2]', "'x,y'"]."""
    parts: list[str] = []
    depth, quote, current = 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return parts


def parse_grid(specs: Sequence[str], sets: Sequence[str] = ()) -> list[Factor]:
    """`--grid KEY=V1,V2` texts -> factors. SweepError on a malformed spec, a repeated key or level, or a
    key also given with --set."""
    if not specs:
        raise SweepError("give at least one --grid KEY=V1,V2 (e.g. --grid graph=planning,react)")
    set_keys = {s.partition("=")[0].strip() for s in sets}
    factors: list[Factor] = []
    for spec in specs:
        key, sep, raw = spec.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise SweepError(f"--grid {spec!r}: expected KEY=V1,V2,..., e.g. model.name=a,b")
        levels = split_levels(raw)
        if any(not level for level in levels):
            raise SweepError(f"--grid {spec!r}: empty level")
        if len(set(levels)) != len(levels):
            raise SweepError(f"--grid {spec!r}: a level is repeated")
        if any(f.key == key for f in factors):
            raise SweepError(f"--grid {key}: given twice; list all its levels in one --grid")
        if key in set_keys:
            raise SweepError(f"--grid {key}: also given with --set; a factor's levels come from --grid only")
        factors.append(Factor(key=key, levels=levels))
    return factors


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-.")[:40] or "x"


def cell_name(assignments: dict[str, str]) -> str:
    """A readable folder name: `graph-oracle__model.name-a`."""
    return "__".join(f"{_slug(k)}-{_slug(v)}" for k, v in assignments.items())


def plan_cells(factors: list[Factor]) -> list[Cell]:
    """The cartesian product of the factors' levels, the last factor varying fastest."""
    cells = [dict(zip([f.key for f in factors], combo)) for combo in itertools.product(*(f.levels for f in factors))]
    names = [cell_name(a) for a in cells]
    for i, a in enumerate(cells):  # two levels that slug alike: disambiguate both by a hash of the texts
        if names.count(cell_name(a)) > 1:
            names[i] += "-" + hashlib.sha256(json.dumps(a).encode()).hexdigest()[:6]
    return [Cell(name=n, assignments=a) for n, a in zip(names, cells)]


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each dotted key by its shortest tail of parts that no other key ends with: `model.temperature` and
    `graph` -> `temperature`, `graph`; `model.name` and `suite.name` stay whole."""
    out = {}
    for key in keys:
        parts = key.split(".")
        others = [k.split(".") for k in keys if k != key]
        out[key] = next((".".join(parts[-n:]) for n in range(1, len(parts))
                         if all(o[-n:] != parts[-n:] for o in others)), key)
    return out


def cell_label(assignments: dict[str, str], short: dict[str, str] | None = None) -> str:
    """A cell named by its values, keys shortened by `short` (`short_keys`): `temperature=0.7 · graph=react`."""
    short = short or short_keys(list(assignments))
    return " · ".join(f"{short.get(k, k)}={v}" for k, v in assignments.items())


def server_key(cfg: ExperimentConfig) -> str:
    """What of a config decides the model server a run opens (`models.endpoint.open_endpoint`'s inputs), as
    canonical JSON: provider, name, base_url and the key's variable; for a managed server (`embedded`,
    `vllm`) all of `model.server`, the tracing collector vLLM exports to and, placed on Ray, the cluster.
    Runs with equal keys can share one server; sampling, graph, limits, suite and run settings are
    client-side and not in it. Kept in memory only (model.server.env may hold a secret)."""
    m = cfg.model
    key: dict[str, Any] = {"provider": m.provider, "name": m.name, "base_url": m.base_url,
                           "api_key_env": m.api_key_env}
    if m.provider != "openai":
        key["server"] = m.server.model_dump(mode="json")
        key["otlp"] = [cfg.tracing.otlp_endpoint, cfg.tracing.service_name] if cfg.tracing.otlp_endpoint else None
        if m.server.placement == "ray":
            key["ray"] = [cfg.run.ray.address, cfg.run.ray.runtime_env]
    return json.dumps(key, sort_keys=True)


def server_groups(configs: Sequence[ExperimentConfig]) -> list[list[int]]:
    """The configs' indices grouped by `server_key`, groups in order of first appearance, each in the
    given order: the cells that can run one after another on one server."""
    groups: dict[str, list[int]] = {}
    for i, cfg in enumerate(configs):
        groups.setdefault(server_key(cfg), []).append(i)
    return list(groups.values())


def make_plan(experiment: Path | None, sets: Sequence[str], factors: list[Factor], base_config: dict[str, Any],
              design: Design = "full", elimination: EliminationPlan | None = None) -> SweepPlan:
    """The sweep's plan: every cell of the grid, or with design `half` its half fraction (`analysis.design`;
    SweepError unless 4+ two-level factors) and what that fraction aliases."""
    if design not in ("full", "half"):
        raise SweepError(f"--design {design!r}: expected full or half")
    cells = plan_cells(factors)
    half = design == "half"
    return SweepPlan(experiment=None if experiment is None else str(experiment), sets=list(sets), factors=factors,
                     cells=half_fraction(cells, factors) if half else cells, base_config=base_config, design=design,
                     aliasing=aliasing(factors, short_keys([f.key for f in factors])) if half else None,
                     elimination=elimination)


def default_sweep_dir(name: str, plan: SweepPlan) -> Path:
    """runs/sweep-NAME-DIGEST: the digest comes from the resolved experiment and the grid, so running the
    same command again finds (and resumes) the same folder."""
    return Path("runs") / f"sweep-{name}-{plan.digest()}"


# ---- analysis ------------------------------------------------------------------------------------

def cell_arrays(cells: list[CellData]) -> tuple[list[tuple[str, int]], np.ndarray, np.ndarray, np.ndarray]:
    """Keys (task, epoch) over all cells, and per cell × key: solved (1/0), tokens, wall-clock — NaN where
    the cell has no finished attempt for the key (missing or `error`)."""
    keys = sorted({(a.task_id, a.epoch) for c in cells for a in c.attempts})
    pos = {k: i for i, k in enumerate(keys)}
    shape = (len(cells), len(keys))
    solved, tokens, wall = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for i, c in enumerate(cells):
        for a in c.attempts:
            if a.status != "error":
                j = pos[(a.task_id, a.epoch)]
                solved[i, j] = a.status == "solved"
                tokens[i, j] = a.totals.usage.total_tokens
                wall[i, j] = a.totals.wall_clock_s
    return keys, solved, tokens, wall


def cell_metric(metric: Metric, solved: np.ndarray, tokens: np.ndarray, wall: np.ndarray) -> np.ndarray:
    """A metric per cell, reducing the last axis (NaN entries are not there); NaN/inf where undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        scored = np.sum(~np.isnan(solved), axis=-1)
        if metric == "completion_rate":
            return np.nansum(solved, axis=-1) / scored
        if metric == "tokens_per_success":
            return np.nansum(tokens, axis=-1) / np.nansum(solved, axis=-1)
        return np.nansum(wall, axis=-1) / np.sum(~np.isnan(wall), axis=-1)


def metric_of_totals(metric: Metric, scored: np.ndarray, solved: np.ndarray, tokens: np.ndarray,
                     walled: np.ndarray, wall: np.ndarray) -> np.ndarray:
    """`cell_metric` from totals (per task, or per key): reduces the last axis of each; ``scored`` and
    ``walled`` count the entries of ``solved`` and ``wall`` that are there. NaN/inf where undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "completion_rate":
            return solved.sum(axis=-1) / scored.sum(axis=-1)
        if metric == "tokens_per_success":
            return tokens.sum(axis=-1) / solved.sum(axis=-1)
        return wall.sum(axis=-1) / walled.sum(axis=-1)


def _mean_of(cells: list[Cell], where: dict[str, str]) -> np.ndarray:
    """Weights that average the cells matching every `key: level` in `where`."""
    mask = np.array([all(c.assignments[k] == v for k, v in where.items()) for c in cells], dtype=float)
    return mask / mask.sum() if mask.sum() else mask


def main_effect_weights(cells: list[Cell], factor: Factor, level: str) -> np.ndarray:
    """Contrast over cells: mean(cells with factor=level) − mean(cells with factor=baseline)."""
    return _mean_of(cells, {factor.key: level}) - _mean_of(cells, {factor.key: factor.levels[0]})


def interaction_weights(cells: list[Cell], f: Factor, level_f: str, g: Factor, level_g: str) -> np.ndarray:
    """Contrast over cells: y(fi, gj) − y(f0, gj) − y(fi, g0) + y(f0, g0), y the mean over matching cells."""
    f0, g0 = f.levels[0], g.levels[0]
    return (_mean_of(cells, {f.key: level_f, g.key: level_g}) - _mean_of(cells, {f.key: f0, g.key: level_g})
            - _mean_of(cells, {f.key: level_f, g.key: g0}) + _mean_of(cells, {f.key: f0, g.key: g0}))


def contrast(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """weights · values over the cells (axis 0), using only the cells with a non-zero weight (so an
    undefined metric in a cell that does not enter the contrast cannot spoil it)."""
    used = weights != 0
    with np.errstate(invalid="ignore"):  # inf − inf (two cells without a success) is NaN: undefined
        return np.tensordot(weights[used], values[used], axes=(0, 0))


EffectKind = Literal["main", "interaction"]


def effect_contrasts(factors: list[Factor], cells: list[Cell],
                     design: Design = "full") -> list[tuple[EffectKind, list[str], list[str], np.ndarray]]:
    """(kind, factor keys, levels, weights) of every main effect and two-way interaction; on a half fraction
    of 4 factors, one interaction of each aliased pair (`design.kept_interactions`)."""
    out: list[tuple[EffectKind, list[str], list[str], np.ndarray]] = []
    for f in factors:
        for level in f.levels[1:]:
            out.append(("main", [f.key], [level], main_effect_weights(cells, f, level)))
    kept = kept_interactions(factors, design)
    for f, g in ((f, g) for f, g in itertools.combinations(factors, 2) if (f.key, g.key) in kept):
        for lf in f.levels[1:]:
            for lg in g.levels[1:]:
                out.append(("interaction", [f.key, g.key], [lf, lg], interaction_weights(cells, f, lf, g, lg)))
    return out


def _finite(x: float | np.ndarray) -> float | None:
    return float(x) if np.isfinite(x) else None


def analyze(factors: list[Factor], cells: list[CellData], sweep_dir: str = "", *, confidence: float = 0.95,
            n_resamples: int = 2000, seed: int = 0, design: Design = "full",
            elimination: EliminationSummary | None = None) -> SweepResult:
    """Cell summaries, main effects and two-way interactions with cluster (task) bootstrap intervals and
    Holm-adjusted bootstrap p-values, Pareto fronts. With design `half` the cells are the half fraction and
    each effect names the interaction it is aliased with; `elimination` (an eliminating sweep's record)
    goes into the result, with a warning on the dropped arms' figures."""
    keys, solved, tokens, wall = cell_arrays(cells)
    point = {m: cell_metric(m, solved, tokens, wall) for m in METRICS}
    columns = (~np.isnan(solved) * 1.0, solved, tokens, ~np.isnan(wall) * 1.0, wall)
    codes = cluster_codes([task for task, _ in keys])[1]
    draws = {m: (cluster_bootstrap_draws(columns, codes, lambda *t, m=m: metric_of_totals(m, *t),
                                         n_resamples=n_resamples, seed=seed) if keys else None) for m in METRICS}
    summaries = []
    short = short_keys([f.key for f in factors])
    for i, c in enumerate(cells):
        summaries.append(CellSummary(
            name=c.cell.name, label=cell_label(c.cell.assignments, short), path=c.path, assignments=c.cell.assignments, attempts=len(c.attempts),
            errors=sum(a.status == "error" for a in c.attempts),
            completion_rate=_finite(point["completion_rate"][i]) if keys else None,
            completion_ci95=completion_ci(c.attempts), completion_ci95_method=completion_ci_method(c.attempts),
            tokens_per_success=_finite(point["tokens_per_success"][i]) if keys else None,
            wall_clock_per_attempt_s=_finite(point["wall_clock_per_attempt_s"][i]) if keys else None,
            run_wall_clock_s=c.run_wall_clock_s))
    effects = []
    plain = [c.cell for c in cells]
    for kind, keys_, levels, weights in effect_contrasts(factors, plain, design):
        baselines = [next(f.levels[0] for f in factors if f.key == k) for k in keys_]
        aliased = alias_of(keys_, factors) if design == "half" else []
        for m in METRICS:
            estimate = _finite(contrast(weights, point[m])) if keys and weights.any() else None
            ci, p_value = None, None
            drawn = draws[m]
            if estimate is not None and drawn is not None:
                effect_draws = contrast(weights, drawn)
                got = percentile_interval(effect_draws, confidence)
                if got is not None:
                    ci, p_value = (got.low, got.high), bootstrap_p_value(effect_draws)
            effects.append(Effect(kind=kind, factors=keys_, levels=levels, baselines=baselines, metric=m,
                                  estimate=estimate, ci95=ci, p_value=p_value, aliased_with=aliased,
                                  significant=None if ci is None else not (ci[0] <= 0.0 <= ci[1])))
    alpha = round(1.0 - confidence, 12)
    tested = [e for e in effects if e.p_value is not None]
    for e, adjusted in zip(tested, holm([e.p_value for e in tested if e.p_value is not None])):
        e.p_holm, e.significant_holm = adjusted, adjusted < alpha
    pareto = {}
    for cost in ("tokens_per_success", "wall_clock_per_attempt_s"):
        points = [(np.nan if s.completion_rate is None else s.completion_rate,
                   np.nan if getattr(s, cost) is None else getattr(s, cost)) for s in summaries]
        pareto[cost] = [summaries[i].name for i in pareto_front(points, (True, False))] if points else []
    warnings = []
    clustered = len({epoch for _, epoch in keys}) > 1
    tasks = int(codes.max()) + 1 if keys else 0
    if clustered and tasks < FEW_KEYS:
        warnings.append(f"only {tasks} tasks: bootstrap intervals and p-values over so few tasks run narrow "
                        "(small p-values included); read the effects as descriptive")
    elif not clustered and len(keys) < FEW_KEYS:
        warnings.append(f"only {len(keys)} (task, epoch) keys: bootstrap intervals and p-values run narrow on so "
                        "few (small p-values included); read the effects as descriptive")
    incomplete = [s.name for s in summaries if s.attempts < len(keys) or s.errors]
    if incomplete:
        warnings.append(f"cells with missing or `error` attempts (left out of their figures): {', '.join(incomplete)}")
    dropped = [a.label or a.name for a in (elimination.arms if elimination else []) if a.dropped_after is not None]
    if dropped:
        warnings.append(f"arms dropped by --eliminate ({', '.join(dropped)}): their figures cover the tasks they ran, "
                        "stopped when they looked worst (biased low), so effects involving them are descriptive; "
                        "the elimination's decisions carry its guarantee")
    if design == "half":
        warnings.append("half fraction: every effect also contains the interaction it is aliased with "
                        "(`aliased_with`; plan.json's `aliasing`)")
    return SweepResult(sweep_dir=sweep_dir, factors=factors, cells=summaries, effects=effects, pareto=pareto,
                       confidence=confidence, alpha=alpha, clustered=clustered, n_resamples=n_resamples, seed=seed,
                       warnings=warnings, design=design,
                       aliasing=aliasing(factors, short) if design == "half" else None, elimination=elimination)
