"""Whether a finished run failed, for `agentbench run`'s exit code (pure, over summary.json).

A run whose every attempt is `error` measured nothing, and one whose every attempt crashed in the graph's
own code (or errored) measured a broken graph: both exit 1 whatever the flags. `--fail-on
agent_error` (the graph's own code raised: `failed`, reason agent_error) and `--fail-on error`
(infrastructure) make such outcomes fail the run too, for CI that gates on an agent.
"""

from __future__ import annotations

from typing import Any

FAIL_ON = ("agent_error", "error")


def run_failure(summary: dict[str, Any], fail_on: list[str]) -> str | None:
    """Why the run exits 1, or None (exit 0)."""
    attempts, errors = summary.get("attempts", 0), summary.get("error", 0)
    if attempts and errors == attempts:
        by = ", ".join(f"{k} {v}" for k, v in sorted(((summary.get("reasons") or {}).get("error") or {}).items()))
        return (f"no attempt could be scored: all {attempts} ended as `error`" + (f" ({by})" if by else "")
                + "; see summary.json `errors`")
    crashed = summary.get("agent_error", 0)
    if attempts and crashed and crashed + errors == attempts:  # a broken graph, not a weak agent
        return (f"no attempt ran to an end: {crashed} of {attempts} crashed in the graph's own code (agent_error)"
                + (f" and {errors} ended as `error`" if errors else "") + "; see summary.json `agent_errors` "
                "and `agentbench show RUN TASK`")
    if "agent_error" in fail_on and crashed:
        return (f"{summary['agent_error']} attempt(s) failed with agent_error (the graph's own code raised; "
                "see summary.json `agent_errors`) and --fail-on agent_error was given")
    if "error" in fail_on and errors:
        return f"{errors} attempt(s) ended as `error` (see summary.json `errors`) and --fail-on error was given"
    return None
