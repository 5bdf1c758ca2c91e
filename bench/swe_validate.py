"""SWE-bench validation campaign: validate real SWE-bench rows at dataset scale, results as data.

Each row gets `agentbench tasks validate`'s checks (the test patch applies, the gold patch resolves, the
empty patch fails) in the environment agentbench builds from its recipe (sandbox.swe_images: build, offline:
Debian's python3 and PyPI). One csv line per row, appended as each finishes (a crash loses nothing):

    split,instance,repo,version,python,valid,reason,build_s,grade_s,network,built,detail

`valid` is true only when all three checks were observed to pass. `reason` is `CHECK: cause` (the first
line), e.g. `gold_fails: ...`, `empty_passes`, `test_patch_does_not_apply`, `env_broken: ...`,
`env_build_failed: ...` (the last two are environment faults, not the row's); rows that cannot run here
are recorded without building: `no_recipe`, `python_unavailable_offline`, `conda_unavailable_offline`,
`repo_unavailable` (no mirror). `error: ...` is a harness fault: the next run retries it. `network` flags a
failed test whose gold-run log shows a network error. `build_s` is the image preparation (about 0 when
cached), `grade_s` the validation; `built` names the images this row built (`none` when cached).

Rows: the first --per-pair rows of every (repo, version), each pair's first row before any pair's second,
pairs round-robin across repos (a campaign cut short by --budget-min has touched every repo). Rows already
in --out with a result are skipped (resume); --rerun REASON runs those rows again.

Usage:
  python bench/swe_validate.py --data lite_test=PATH [--data verified_test=PATH ...] --mirrors DIR \\
      [--out docs/swebench-validation.csv] [--per-pair 1] [--jobs 1] [--only OWNER/NAME[@VERSION] ...] \\
      [--budget-min M] [--prune-instances] [--rerun REASON ...] [--log build/swebench-validation.log]
  python bench/swe_validate.py --summarize [--out docs/swebench-validation.csv] [--data NAME=PATH ...] \\
      [--md docs/swebench-validation.md] [--readme README.md]

--mirrors holds `OWNER__NAME.git` bare repos or `OWNER__NAME.bundle` files (as a suite's repo_mirror).
--summarize writes the Markdown from the csv: the summary page and the README's table between
`<!-- swebench-validation:start -->` and `<!-- swebench-validation:end -->`; with --data it lists the data's
(repo, version) pairs not run yet (else the built-in recipe table's). `make validate-swebench` runs a
campaign (DATA=..., MIRRORS=..., ARGS=...) and then --summarize.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.swe_campaign import CampaignError, Candidate, campaign_order, matches, parse_only, read_csv, to_run  # noqa: E402,E501
from bench.swe_campaign_md import pending_pairs, readme_table, replace_block, summary_markdown  # noqa: E402

DEFAULT_OUT = ROOT / "docs" / "swebench-validation.csv"
DEFAULT_MD = ROOT / "docs" / "swebench-validation.md"
DEFAULT_README = ROOT / "README.md"
DEFAULT_LOG = ROOT / "build" / "swebench-validation.log"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/swe_validate.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                    help="a SWE-bench data file (.parquet, .jsonl, .json) and its split name; repeatable")
    ap.add_argument("--mirrors", type=Path, help="folder of OWNER__NAME.git bare repos / OWNER__NAME.bundle")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the results csv, appended (default: docs/swebench-validation.csv)")
    ap.add_argument("--per-pair", type=int, default=1, help="rows per (repo, version) (default 1)")
    ap.add_argument("--jobs", type=int, default=1, help="rows validated at once, at most (default 1)")
    ap.add_argument("--only", action="append", default=[], metavar="OWNER/NAME[@VERSION]",
                    help="only these repos / pairs; repeatable")
    ap.add_argument("--budget-min", type=float, default=None, help="start no new row after this many minutes")
    ap.add_argument("--prune-instances", action="store_true",
                    help="remove a row's instance image after validating it (environment images stay)")
    ap.add_argument("--rerun", action="append", default=[], metavar="REASON",
                    help="run rows whose csv reason is REASON (e.g. env_build_failed) again; repeatable")
    ap.add_argument("--eval-timeout-s", type=float, default=1800.0, help="one test run's limit (default 1800)")
    ap.add_argument("--log", type=Path, default=DEFAULT_LOG, help="image build output (default: build/swebench-validation.log)")
    ap.add_argument("--summarize", action="store_true", help="write --md and --readme from --out, run nothing")
    ap.add_argument("--md", type=Path, default=DEFAULT_MD, help="the summary page (default: docs/swebench-validation.md)")
    ap.add_argument("--readme", type=Path, default=DEFAULT_README,
                    help="the README whose swebench-validation table --summarize rewrites (default: README.md)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs {args.jobs}: expected 1 or more")
    if not args.summarize and not args.data:
        ap.error("--data NAME=PATH is needed (or --summarize)")
    if not args.summarize and args.mirrors is None:
        ap.error("--mirrors DIR is needed: the campaign runs offline, from local mirrors")
    return args


def data_files(values: list[str]) -> list[tuple[str, Path]]:
    out = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise CampaignError(f"--data {value!r}: expected NAME=PATH, e.g. lite_test=lite_test.parquet")
        out.append((name, Path(path)))
    return out


def load_rows(values: list[str]) -> list[tuple[Candidate, object]]:
    """(candidate, SweRow) of every data file, in order."""
    from agentbench.suites.swebench import parse_rows

    out = []
    for split, path in data_files(values):
        out += [(Candidate(split=split, instance=r.instance_id, repo=r.repo, version=r.version), r)
                for r in parse_rows(path)]
    return out


def summarize(args: argparse.Namespace) -> None:
    done = read_csv(args.out)
    rows = list(done.values())
    if args.data:
        pairs = [c.pair for c, _ in load_rows(args.data)]
    else:
        from agentbench.suites.swe_recipes import builtin_specs

        pairs = [(repo, v) for repo, versions in builtin_specs().items() for v in versions]
    csv_name = Path(args.out).name if args.md.parent.resolve() == args.out.parent.resolve() else str(args.out)
    args.md.write_text(summary_markdown(rows, pending_pairs(pairs, rows), csv_name), encoding="utf-8")
    text = args.readme.read_text(encoding="utf-8")
    args.readme.write_text(replace_block(text, readme_table(rows), str(args.readme)), encoding="utf-8")
    print(f"wrote {args.md} and the table in {args.readme} from {len(rows)} rows of {args.out}", file=sys.stderr)


def campaign(args: argparse.Namespace) -> int:
    from bench.swe_campaign_run import run_campaign

    only = parse_only(args.only)
    loaded = [(c, r) for c, r in load_rows(args.data) if matches(c, only)]
    if not loaded:
        raise CampaignError("no rows: the data files have none" + (" that --only selects" if only else ""))
    if not args.mirrors.is_dir():
        raise CampaignError(f"--mirrors {args.mirrors}: not a folder")
    done = read_csv(args.out)
    ordered = campaign_order([c for c, _ in loaded], args.per_pair)
    queue = to_run(ordered, done, args.rerun)
    rows = {c.instance: r for c, r in loaded}
    print(f"{len(ordered)} rows chosen ({len({c.pair for c in ordered})} (repo, version) pairs), "
          f"{len(ordered) - len(queue)} already in {args.out}, {len(queue)} to run", file=sys.stderr)
    return run_campaign(args, [(c, rows[c.instance]) for c in queue], started=time.monotonic())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from agentbench.suites.errors import SuiteError

    try:
        if args.summarize:
            summarize(args)
            return 0
        return campaign(args)
    except (CampaignError, SuiteError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
