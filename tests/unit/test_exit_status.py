"""`agentbench run`'s exit verdict and the outcome counts behind it (pure)."""

from agentbench.metrics import count_answer_sources, count_reasons, summarize
from agentbench.protocols import AttemptRecord
from agentbench.report.exit_status import run_failure


def rec(status: str, reason: str | None = None, source: str | None = None) -> AttemptRecord:
    return AttemptRecord(task_id="t", epoch=0, status=status, reason=reason, answer_source=source)


def test_counts_by_reason_and_answer_source():
    records = [rec("solved", source="state"), rec("failed", source="last_message"), rec("failed", "agent_error"),
               rec("limit", "steps"), rec("error", "model"), rec("error", "model")]
    assert count_reasons(records) == {"failed": {"wrong": 1, "agent_error": 1}, "limit": {"steps": 1},
                                      "error": {"model": 2}}
    assert count_answer_sources(records) == {"state": 1, "last_message": 1}
    metrics = summarize(records, run_wall_clock_s=1.0)
    assert metrics.agent_error == 1 and metrics.failed == 2


def summary(records):
    return summarize(records, run_wall_clock_s=1.0).model_dump()


def test_all_error_fails_whatever_the_flags():
    why = run_failure(summary([rec("error", "model"), rec("error", "sandbox")]), [])
    assert why is not None and "all 2 ended as `error`" in why and "model 1, sandbox 1" in why


def test_fail_on_names_the_outcomes_that_fail_the_run():
    mixed = summary([rec("solved"), rec("failed", "agent_error"), rec("error", "model")])
    assert run_failure(mixed, []) is None
    assert "agent_error" in run_failure(mixed, ["agent_error"])
    assert "1 attempt(s) ended as `error`" in run_failure(mixed, ["error"])
    assert run_failure(summary([rec("solved")]), ["agent_error", "error"]) is None
    assert run_failure(summary([]), []) is None  # nothing to run (all finished before a resume)


def test_a_run_where_every_attempt_crashed_fails():
    why = run_failure(summary([rec("failed", "agent_error"), rec("error", "model")]), [])
    assert why is not None and "1 of 2 crashed" in why and "1 ended as `error`" in why
    assert run_failure(summary([rec("failed", "agent_error"), rec("failed")]), []) is None  # one ran to its end
