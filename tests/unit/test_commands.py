"""agentbench.commands.is_test_command: the one test-run classifier (the tracer's first_test_step, the coding graph)."""

import pytest

from agentbench.commands import is_test_command
from agentbench.protocols import ExecResult
from agentbench.tracing.tracer import Tracer


@pytest.mark.parametrize("cmd", [
    # runners, plain and by path
    "pytest", "pytest -q tests/test_calc.py", "py.test tests", ".venv/bin/pytest -q", "tox -e py311", "nox -s tests",
    "nosetests tests", "/testbed/.venv/bin/pytest",
    # python -m, coverage
    "python -m pytest -x", "python3 -m pytest tests", "python3.11 -m unittest tests.test_calc", "python -mpytest",
    "python -W ignore -m pytest", "python -m tox", "python -m nox", "coverage run -m pytest", "coverage run tests/runtests.py",
    # project runners: django, sympy, make
    "./tests/runtests.py admin_views", "python tests/runtests.py queries", "python manage.py test", "./manage.py test app",
    "django-admin test", "bin/test sympy/core", "./bin/test -k add", "python bin/test sympy/core", "/testbed/bin/test",
    "make test", "make -C docs check", "make -j4 tests",
    # wrappers: cd &&, assignments, env, timeout N, time, nice, bash -c
    "cd /testbed && python -m pytest -q 2>&1 | tail -20", "cd /testbed && pytest", "timeout 300 pytest -q",
    "timeout -s KILL 300 pytest", "PYTHONPATH=. pytest", "env -i PYTHONPATH=. DJANGO_SETTINGS_MODULE=x pytest",
    "time pytest", "nice -n 10 tox", "sudo -u nobody pytest", "bash -c 'cd /testbed && pytest -q'",
    "bash -lc \"python -m pytest tests\"", "sh -c 'timeout 60 python -m unittest'", "bash -o pipefail -c 'pytest | tee log'",
    # anywhere in a list or pipeline
    "ls; pytest tests/a.py", "git stash && (pytest -q)", "echo start\npython -m pytest tests\n", "git diff || tox",
])
def test_test_runs(cmd: str) -> None:
    assert is_test_command(cmd)


@pytest.mark.parametrize("cmd", [
    "", "ls tests", "git diff", "find . -name 'test_*.py'", "python setup.py build", "python -m pip install -e .",
    "sed -n 1,20p tests/test_calc.py", "python script.py 'unbalanced",
    # a runner's name only as an argument (the false positives of the old regex)
    "grep pytest", "grep -rn pytest .", "pip install pytest", "pip3 install -U pytest tox", "cat tox.ini",
    "cat pytest.ini | grep addopts", "which pytest", "echo pytest", "less tox.ini", "head -5 tox.ini",
    "tail noxfile.py", "command -v pytest", "type pytest", "grep -n 'make test' Makefile", "cat bin/test",
    "echo 'python -m pytest'", "vim tests/runtests.py", "ls bin/test",
    # not a test run
    "python -c 'import pytest'", "python -m pytest_plugin_thing", "make", "make install", "make -C test",
    "test -f setup.py", "/usr/bin/test -d tests", "[ -f tox.ini ] && echo yes", "bash run.sh", "bash -c 'ls tests'",
    "python manage.py migrate", "timeout 5 cat tox.ini",
])
def test_not_test_runs(cmd: str) -> None:
    assert not is_test_command(cmd)


def test_the_tracer_counts_the_first_test_run_with_the_classifier() -> None:
    tracer = Tracer()
    tracer.totals.model_calls = 3
    for cmd in ("grep pytest setup.cfg", "pip install pytest", "cat tox.ini"):  # counted before: no more
        tracer.record_exec(cmd, ExecResult(exit_code=0, duration_s=0.1), 0.0)
    assert tracer.totals.first_test_step is None
    tracer.record_exec("cd /testbed && python -m pytest -q", ExecResult(exit_code=0, duration_s=0.1), 0.0)
    assert tracer.totals.first_test_step == 3


@pytest.mark.parametrize("cmd", [
    "py'te'st -q", "p\"y\"test", "py\\test", "t'o'x -e py311", "make 'che'ck", "python -m 'unit''test'",
    "bash -c \"py\\\"\\\"test\"", "./manage.py te\\st", "bin/te''st",
])
def test_quoting_inside_a_runner_name_still_counts(cmd: str) -> None:
    """The quick look for a runner's name (most commands skip the parse) sees through quotes and escapes."""
    assert is_test_command(cmd)


def test_the_quick_look_agrees_with_the_parse() -> None:
    from agentbench.commands import _runs_tests, _simple_commands

    marks = [m for f in (test_test_runs, test_not_test_runs, test_quoting_inside_a_runner_name_still_counts)
             for m in f.pytestmark if m.name == "parametrize"]
    for cmd in (c for m in marks for c in m.args[1]):
        assert is_test_command(cmd) == any(_runs_tests(w) for w in _simple_commands(cmd)), cmd
