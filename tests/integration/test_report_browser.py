"""report.html in a real browser (headless Chromium through selenium), made from a real run.

The run goes through the CLI as a user's would: our planning graph in the local sandbox, against an
OpenAI-compatible stub on loopback that answers per task so the run ends with every status: solved,
failed (a wrong answer), limit (never answers) and error (the connection drops). Its first reply carries
hostile HTML, which must show up as text and never run. Screenshots go to the test's tmp_path.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from agentbench.events import AttemptStart, Patch, ScoreEvent
from agentbench.protocols import AttemptRecord, AttemptTotals, Score
from agentbench.report.html import write_html_report
from agentbench.store import RunStore
from agentbench.suites.loader import load_suite
from agentbench.testing.openai_stub import OpenAIStub, ThreadedStub

from .conftest import ROOT, run_cli

HOSTILE = "</script><img src=x onerror=alert(1)><!-- -->"
PLAN = {"gm-l1-001": "solved", "gm-l1-002": "failed", "gm-l1-003": "limit", "gm-l1-004": "error"}
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def scripted_reply():
    """Per task: first a command (with hostile text around it), then the right answer, a wrong one, more
    commands forever (limit), or a dropped connection (error)."""
    _, tasks = load_suite("gaia-mini")
    by_prompt = {t.prompt: t for t in tasks if t.id in PLAN}

    def reply(messages: list[dict]) -> str:
        at, task = next((i, by_prompt[m["content"]]) for i, m in enumerate(messages)
                        if m["role"] == "user" and m["content"] in by_prompt)
        turns = sum(1 for m in messages[at:] if m["role"] == "assistant")
        plan = PLAN[task.id]
        if plan == "error":
            raise ConnectionResetError("the stub drops this connection")
        if turns == 0 or plan == "limit":
            return f"I will list the files. {HOSTILE}\n```bash\nls\n```"
        return f"FINAL ANSWER: {task.expected.answer if plan == 'solved' else 'wrong'}"

    return reply


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-run") / "run"
    with ThreadedStub(OpenAIStub(reply=scripted_reply())) as stub:
        run_cli("run", str(ROOT / "experiments" / "demo.yaml"), "--out", str(out), "--quiet",
                "--set", "graph=planning", "--set", "graph_params={plan: false}", "--set", "model.provider=openai",
                "--set", f"model.base_url={stub.base_url}", "--set", "model.retries=1",
                "--set", "model.backoff_max_s=0.05", "--set", f"suite.ids=[{', '.join(PLAN)}]",
                "--set", "limits.max_steps=3", "--set", "run.epochs=2", "--set", "sandbox.backend=local")
    store = RunStore.in_dir(out)
    try:
        write_html_report(out, store)
    finally:
        store.close()
    return out


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()) or shutil.which("chromium") is None:
        pytest.fail("headless Chromium is needed: apt-get install -y chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1200",
                "--disable-gpu"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def open_page(driver, path: Path):
    driver.get(path.as_uri())
    deadline = time.time() + 30
    while driver.execute_script("return document.documentElement.dataset.ready || null") is None:
        assert time.time() < deadline, "the page never became ready"
        time.sleep(0.05)
    return driver


def visible_rows(driver) -> list[dict]:
    return driver.execute_script("""
        return Array.from(document.querySelectorAll('#attempt-table tbody tr')).filter(r => !r.hidden)
          .map(r => ({id: r.dataset.id, status: r.dataset.status, task: r.cells[0].textContent,
                      tokens: Number(r.cells[5].dataset.v)}));""")


def test_report_of_a_real_run_in_chromium(run_dir, browser, tmp_path):
    from selenium.webdriver.common.by import By

    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["solved"], summary["failed"], summary["limit"], summary["error"]) == (2, 2, 2, 2), summary
    d = open_page(browser, run_dir / "report.html")
    d.save_screenshot(str(tmp_path / "report.png"))

    # the summary's numbers, exactly, and formatted for people
    for key in ("completion_rate", "completion_ci95", "tokens_per_success", "steps_per_solved", "tokens_total",
                "wall_clock_s", "completion_tokens_per_s", "solved", "failed", "limit", "error"):
        node = d.find_element(By.CSS_SELECTOR, f'[data-metric="{key}"]')
        assert json.loads(node.get_attribute("data-value")) == summary[key], key
    rate = d.find_element(By.CSS_SELECTOR, '[data-metric="completion_rate"]')
    assert rate.text == f"{summary['completion_rate']:.1%}"
    lo, hi = summary["completion_ci95"]
    assert d.find_element(By.CSS_SELECTOR, '[data-metric="completion_ci95"]').text == f"{lo:.1%} – {hi:.1%}"
    assert d.find_element(By.CSS_SELECTOR, '[data-metric="tokens_per_success"]').text == \
        f"{summary['tokens_per_success']:,.0f}"
    assert len(d.find_elements(By.CSS_SELECTOR, ".plot svg")) == 4  # tokens, wall-clock, steps, pass@k
    d.find_element(By.CSS_SELECTOR, "#meta-config summary").click()
    assert '"graph": "planning"' in d.find_element(By.CSS_SELECTOR, "#meta-config pre").text

    # filter by status, then by text
    assert len(visible_rows(d)) == summary["attempts"] == 8
    for status in ("solved", "limit", "error"):
        d.find_element(By.CSS_SELECTOR, f'input[data-status-filter="{status}"]').click()
    rows = visible_rows(d)
    assert [r["status"] for r in rows] == ["failed"] * summary["failed"]
    assert d.find_element(By.ID, "shown-count").text == f"{summary['failed']} of 8"
    for status in ("solved", "limit", "error"):
        d.find_element(By.CSS_SELECTOR, f'input[data-status-filter="{status}"]').click()
    d.find_element(By.ID, "filter-text").send_keys("gm-l1-003")
    assert {(r["task"], r["status"]) for r in visible_rows(d)} == {("gm-l1-003", "limit")}
    d.find_element(By.ID, "filter-text").clear()
    d.find_element(By.ID, "filter-text").send_keys("connection")  # the error's message
    assert {r["status"] for r in visible_rows(d)} == {"error"}
    d.save_screenshot(str(tmp_path / "filtered.png"))
    d.find_element(By.ID, "filter-text").clear()
    d.find_element(By.ID, "filter-text").send_keys(" ")  # an input event with no words: everything again
    assert len(visible_rows(d)) == 8

    # sort by tokens, both ways
    header = d.find_element(By.CSS_SELECTOR, 'th[data-col="5"]')
    header.click()
    tokens = [r["tokens"] for r in visible_rows(d)]
    assert tokens == sorted(tokens) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert [r["tokens"] for r in visible_rows(d)] == sorted(tokens, reverse=True)

    # open a solved attempt's trace: its steps, the model's (hostile) text as text, the command
    assert d.find_element(By.ID, "trace").get_attribute("hidden") is not None  # built only on demand
    solved = next(r for r in visible_rows(d) if r["status"] == "solved")
    d.find_element(By.CSS_SELECTOR, f'tr[data-id="{solved["id"]}"] td:nth-child(4)').click()
    trace = d.find_element(By.ID, "trace")
    assert trace.is_displayed() and trace.get_attribute("data-attempt") == solved["id"]
    steps = trace.find_elements(By.CSS_SELECTOR, ".step")
    assert [s.find_element(By.CSS_SELECTOR, ".step-head").text.split(" · ")[1].split()[0] for s in steps] == \
        ["act", "observe", "act", "answer"]
    replies = [p.get_attribute("textContent") for p in trace.find_elements(By.CSS_SELECTOR, ".ev.model details pre")]
    assert any(HOSTILE in r for r in replies) and any(r.startswith("FINAL ANSWER:") for r in replies)
    assert "$ ls" in trace.find_element(By.CSS_SELECTOR, ".ev.sandbox pre.cmd").text
    assert trace.find_elements(By.CSS_SELECTOR, ".timeline span.model") and \
        trace.find_elements(By.CSS_SELECTOR, ".timeline span.sandbox")
    trace.find_elements(By.CSS_SELECTOR, ".ev.model details summary")[2].click()  # the second call's prompt
    trace.find_element(By.XPATH, ".//button[text()='show the full prompt']").click()
    second_prompt = trace.find_elements(By.CSS_SELECTOR, ".ev.model details")[2]
    summary_text = second_prompt.find_element(By.CSS_SELECTOR, "summary").text  # "prompt: all N messages"
    roles = [r.text.lower() for r in second_prompt.find_elements(By.CSS_SELECTOR, ".msg-role")]
    assert len(roles) == int(summary_text.split()[2]) and roles[0] == "system" and "ai" in roles
    assert HOSTILE in second_prompt.get_attribute("textContent")  # the first reply, rebuilt into the prompt
    assert d.execute_script("return document.querySelectorAll('img').length") == 0  # nothing escaped into HTML
    d.execute_script("document.getElementById('trace').scrollIntoView()")
    d.save_screenshot(str(tmp_path / "trace.png"))

    # the error attempt shows its error; no script error and no network request were ever logged
    error_row = next(r for r in visible_rows(d) if r["status"] == "error")
    d.execute_script(f"location.hash = 'attempt-{error_row['id']}'")
    assert d.find_element(By.ID, "trace").get_attribute("data-attempt") == error_row["id"]
    assert "Connection" in d.find_element(By.CSS_SELECTOR, "#trace pre.error").text
    logs = [entry for entry in d.get_log("browser") if entry["level"] == "SEVERE"]
    assert logs == []


def swe_store(run_dir: Path) -> RunStore:
    """A coding attempt as the SWE-bench scorer records it (no Docker needed to check the view)."""
    patch = "diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    details = {"report": {"patch_successfully_applied": True, "resolved": False, "tests_status": {
        "FAIL_TO_PASS": {"success": ["tests/test_m.py::test_two"], "failure": []},
        "PASS_TO_PASS": {"success": ["tests/test_m.py::test_one"], "failure": ["tests/test_m.py::test_flaky"]}}},
        "applied_with": "git apply", "test_log": ">>>>> Start Test Output\nPASSED tests/test_m.py::test_two"}
    store = RunStore.in_dir(run_dir)
    store.set_meta("run_id", "swe")
    t = 1_800_000_000.0
    events = [AttemptStart(seq=0, t_start=t, t_end=t),
              Patch(seq=1, t_start=t + 1, t_end=t + 1.2, chars=len(patch), files=1),
              ScoreEvent(seq=2, t_start=t + 1.2, t_end=t + 3, passed=False, value=0.0, details=details)]
    store.add_attempt(AttemptRecord(task_id="pkg__pkg-1", epoch=0, status="failed", patch=patch,
                                    score=Score(passed=False, details=details),
                                    totals=AttemptTotals(wall_clock_s=3.0)), events, t, t + 3)
    return store


def test_coding_trace_shows_diff_and_tests(tmp_path, browser):
    from selenium.webdriver.common.by import By

    store = swe_store(tmp_path)
    path = write_html_report(tmp_path, store)
    (attempt_id,) = [r["id"] for r in store.attempt_rows()]
    d = open_page(browser, path)
    d.find_element(By.LINK_TEXT, "pkg__pkg-1").click()
    trace = d.find_element(By.ID, "trace")
    assert trace.get_attribute("data-attempt") == str(attempt_id)
    assert [s.text for s in trace.find_elements(By.CSS_SELECTOR, "pre.diff span.add")] == ["+x = 2"]
    assert [s.text for s in trace.find_elements(By.CSS_SELECTOR, "pre.diff span.del")] == ["-x = 1"]
    rows = [r.text for r in trace.find_elements(By.CSS_SELECTOR, "table.tests tr")]
    assert rows[0].startswith("FAIL_TO_PASS 1 / 1 pass") and rows[1].startswith("PASS_TO_PASS 1 / 2 pass")
    assert "tests/test_m.py::test_flaky" in rows[1]
    d.save_screenshot(str(tmp_path / "swe-trace.png"))
    assert [e for e in d.get_log("browser") if e["level"] == "SEVERE"] == []


def test_a_500_by_100_run_opens_in_under_3_s(tmp_path, browser):
    """Issue #6's budget, on bench/report.py's synthetic store: 500 attempts × 100 events."""
    from bench.report import load_ms, make_store

    store = make_store(tmp_path, attempts=500, steps=25)
    try:
        path = write_html_report(tmp_path, store)
        biggest = max(store.attempt_rows(), key=lambda r: r["id"])["id"]
    finally:
        store.close()
    first, again = load_ms(browser, path), load_ms(browser, path)
    assert first < 3000 and again < 3000, (first, again)
    browser.execute_script(f"location.hash = 'attempt-{biggest}'")
    assert len(browser.find_elements("css selector", "#trace .step")) == 25
    assert float(browser.find_element("id", "trace").get_attribute("data-render-ms")) < 1000
