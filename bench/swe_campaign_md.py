"""Markdown from the SWE-bench validation csv (pure): docs/swebench-validation.md and the README's table of
which (repo, version) pairs build offline and validate (between the swebench-validation markers)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from agentbench.suites.recipe_table import offline_counts, offline_status, version_key
from agentbench.suites.swe_recipes import Specs, builtin_specs
from bench.swe_campaign import NOT_FINAL, UNRUNNABLE, CampaignError, CampaignRow

START, END = "<!-- swebench-validation:start -->", "<!-- swebench-validation:end -->"
BIG_REPOS = ("django/django", "matplotlib/matplotlib", "scikit-learn/scikit-learn", "pyvista/pyvista")


def pair_state(rows: list[CampaignRow]) -> str:
    """One (repo, version)'s verdict over its rows: valid, invalid: REASON, mixed, not run (REASON)."""
    if not rows:
        return "not run"
    cats = Counter(r.category for r in rows)
    if set(cats) <= set(UNRUNNABLE) | set(NOT_FINAL):
        return f"not run ({cats.most_common(1)[0][0]})"
    ran = [r for r in rows if r.category not in UNRUNNABLE and r.category not in NOT_FINAL]
    if all(r.valid for r in ran):
        return "valid"
    if not any(r.valid for r in ran):
        return f"invalid: {Counter(r.category for r in ran).most_common(1)[0][0]}"
    return "mixed"


def by_pair(rows: Iterable[CampaignRow]) -> dict[tuple[str, str], list[CampaignRow]]:
    out: dict[tuple[str, str], list[CampaignRow]] = {}
    for row in rows:
        out.setdefault((row.repo, row.version), []).append(row)
    return out


def readme_table(rows: Iterable[CampaignRow], specs: Specs | None = None) -> str:
    """The README's table: every built-in (repo, version) grouped by (offline, validated, how), versions
    in version order; then the offline totals and the validation totals."""
    table = builtin_specs() if specs is None else specs
    pairs = by_pair(rows)
    lines = ["| repo | versions | offline | validated | how |", "| --- | --- | --- | --- | --- |"]
    states: Counter[str] = Counter()
    for repo in sorted(table):
        groups: dict[tuple[bool, str, str], list[str]] = {}
        for version in sorted(table[repo], key=version_key):
            ok, how = offline_status(table[repo][version])
            state = pair_state(pairs.get((repo, version), []))
            states[state.split(":")[0].split(" (")[0]] += 1
            groups.setdefault((ok, state, how), []).append(version)
        for (ok, state, how), versions in groups.items():
            lines.append(f"| {repo} | {', '.join(versions)} | {'yes' if ok else 'no'} | {state} | "
                         f"{how.replace('|', chr(92) + '|')} |")
    yes, no = offline_counts(table)
    lines += ["", f"{yes} of {yes + no} (repo, version) entries build offline; {no} do not. Validated on real "
                  f"SWE-bench rows ([docs/swebench-validation.md](docs/swebench-validation.md)): "
                  f"{states['valid']} valid, {states['invalid']} invalid, {states['mixed']} mixed, "
                  f"{states['not run']} not run."]
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str, where: str) -> str:
    """`text` with what lies between the swebench-validation markers replaced by `block`."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise CampaignError(f"{where}: no {START} ... {END} markers to write the table between")
    return text[:start + len(START)] + "\n" + block + text[end:]


def marked_block(text: str) -> str | None:
    start, end = text.find(START), text.find(END)
    return text[start + len(START) + 1:end] if 0 <= start < end else None


def rows_per_hour(rows: Iterable[CampaignRow]) -> float | None:
    """Rows validated per hour of one job: the rows that ran over their build + grade seconds."""
    ran = [r for r in rows if r.category not in UNRUNNABLE and r.category not in NOT_FINAL]
    seconds = sum((r.build_s or 0.0) + (r.grade_s or 0.0) for r in ran)
    return 3600 * len(ran) / seconds if ran and seconds > 0 else None


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(rows: list[CampaignRow], pending: list[tuple[str, str]], csv_name: str) -> str:
    """docs/swebench-validation.md: totals, reasons, per (repo, version) verdicts, the pairs not run yet."""
    cats = Counter(r.category for r in rows)
    unrunnable = sum(cats[c] for c in UNRUNNABLE)
    errors = sum(cats[c] for c in NOT_FINAL)
    invalid = len(rows) - cats["valid"] - unrunnable - errors
    rate = rows_per_hour(rows)
    out = ["# SWE-bench validation campaign", "",
           f"Generated from [{csv_name}]({csv_name}) by `python bench/swe_validate.py --summarize` (see its "
           f"`--help`); do not edit by hand.", "",
           "A row is **valid** when, in the environment agentbench builds from its recipe (offline: Debian's "
           "python3, PyPI), the test patch applies, the gold patch resolves the row and the empty patch does "
           "not: the checks of `agentbench tasks validate`. `reason` names the first failed check and its "
           "cause; `env_build_failed` and `env_broken` are faults of the environment, not of the row. "
           "`network` flags a failed test whose log shows a network error: a verdict that depends on whether "
           "the grading sandbox has network (`sandbox.grading_network`).", "",
           f"**{len(rows)} row{'' if len(rows) == 1 else 's'}**: {cats['valid']} valid, {invalid} invalid, {unrunnable} not runnable here, "
           f"{errors} harness errors (retried by the next run)."
           + (f" Rate: {rate:.1f} rows/hour at one job (build + grade seconds of the rows that ran)." if rate
              else ""), "", "## Why", "", "| reason | rows |", "| --- | --- |"]
    if not rows:
        out[-2:] = ["nothing run yet"]
    out += [f"| {name} | {n} |" for name, n in sorted(cats.items(), key=lambda kv: (-kv[1], kv[0]))]
    out += ["", "## By repo and version", "",
            "| repo | version | python | rows | valid | verdict | why (first row) | network | build s | grade s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    if not rows:
        out[-2:] = ["nothing run yet"]
    for (repo, version), group in sorted(by_pair(rows).items(), key=lambda kv: (kv[0][0], version_key(kv[0][1]))):
        bad = next((r for r in group if not r.valid), None)
        build = sum(r.build_s or 0.0 for r in group)
        grade = sum(r.grade_s or 0.0 for r in group)
        out.append(f"| {repo} | {version} | {group[0].python} | {len(group)} | {sum(r.valid for r in group)} | "
                   f"{pair_state(group)} | {_esc(bad.reason) if bad else ''} | "
                   f"{'; '.join(_esc(r.network) for r in group if r.network)} | {build:.0f} | {grade:.0f} |")
    out += ["", "## Not run yet", ""]
    waiting: dict[str, list[str]] = {}
    for repo, version in pending:
        waiting.setdefault(repo, []).append(version)
    out += [f"- {repo}: {', '.join(sorted(vs, key=version_key))}" for repo, vs in sorted(waiting.items())] or ["none"]
    out += ["", "## Repos not available here", "",
            f"`repo_unavailable` rows have no mirror in `--mirrors`. {', '.join(BIG_REPOS)} exceed the 500 MB "
            "limit of the fetch tool used to get the mirrors on the machine that ran this campaign; with a "
            "full clone of each (`git clone --mirror`, as `OWNER__NAME.git`) they run like the others.", "",
            "## Causes traced", "",
            "Each invalid row's cause, traced to an upstream fact, and the recipe fixes the campaign led to: "
            "[swebench-recipes.md, \"What the campaign found\"](swebench-recipes.md#what-the-campaign-found).", ""]
    return "\n".join(out)


def pending_pairs(pairs: Iterable[tuple[str, str]], rows: Iterable[CampaignRow]) -> list[tuple[str, str]]:
    """The pairs with no final row yet."""
    have = {(r.repo, r.version) for r in rows if r.final}
    return [p for p in dict.fromkeys(pairs) if p not in have]
