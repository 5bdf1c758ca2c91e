"""Shell command classification: `is_test_command`, the one owner of "does this command run tests?".

A leaf: imports nothing from agentbench; graphs may use it. The tracer (`first_test_step`), the metrics
and the coding graph (`n_test_runs`) all ask this module, so they count the same commands.

A command runs tests when the *program* of one of its simple commands (split on newlines, `;`, `&&`,
`||`, `|` and parentheses) is a test runner, once wrappers are peeled off: variable assignments, `env`,
`time`, `timeout N`, `nice`, `sudo`, `exec`, `xvfb-run`..., and `bash -c '...'` (its script is classified
in turn). Test runners: pytest / py.test, tox, nox, nosetests, `python -m pytest|unittest|tox|nox`,
`coverage run [-m] ...`, Django's `runtests.py` and `manage.py test`, SymPy's `bin/test`, `make test` /
`make check`. A runner's name that is only an argument (`grep pytest`, `pip install pytest`, `cat tox.ini`,
`which pytest`, `echo pytest`) does not count, nor does `python -c '...'`.
"""

from __future__ import annotations

import re
import shlex

_TEST_PROGRAMS = frozenset({"pytest", "py.test", "tox", "nox", "nosetests", "runtests.py"})
_TEST_MODULES = frozenset({"pytest", "py.test", "unittest", "tox", "nox"})
_DJANGO = frozenset({"manage.py", "django-admin"})
_MAKE_TARGETS = frozenset({"test", "tests", "check"})
_MAKE_VALUE_OPTIONS = frozenset({"-C", "-f", "-I", "-o", "-W", "--directory", "--file", "--makefile"})
_SHELLS = frozenset({"bash", "sh", "zsh", "dash"})
_SYSTEM_TEST = ("/bin/", "/usr/")  # /usr/bin/test is coreutils' `test`, not SymPy's bin/test
#: Wrapper programs that run the rest of the line, with their options that take a separate value.
_WRAPPERS: dict[str, frozenset[str]] = {
    "env": frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}),
    "time": frozenset({"-f", "--format", "-o", "--output"}),
    "timeout": frozenset({"-s", "--signal", "-k", "--kill-after"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "sudo": frozenset({"-u", "--user", "-g", "--group"}),
    "command": frozenset(), "exec": frozenset({"-a"}), "nohup": frozenset(), "xvfb-run": frozenset(),
    "xargs": frozenset({"-n", "-I", "-L", "-P", "-d", "-a", "-E", "-s"}),
}
_LOOKUPS = frozenset({"-v", "-V"})  # `command -v pytest` only says where pytest is
_OPERATORS = re.compile(r"^[;&|()<>]+$")
_PYTHON = re.compile(r"^python(?:\d+(?:\.\d+)?)?$")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _words(line: str) -> list[str]:
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:  # unbalanced quotes: a rough split is enough to find the program
        return re.split(r"\s+|(?=[;&|])|(?<=[;&|])", line)


def _simple_commands(cmd: str) -> list[list[str]]:
    """The words of each simple command in a shell line (split on newlines, ;, &&, ||, | and parens)."""
    commands: list[list[str]] = []
    for line in cmd.replace("\\\n", " ").split("\n"):
        current: list[str] = []
        for word in _words(line):
            if not word:
                continue
            if _OPERATORS.match(word):
                commands.append(current)
                current = []
            else:
                current.append(word)
        commands.append(current)
    return [c for c in commands if c]


def _unwrap(words: list[str]) -> list[str]:
    """The words from the real program on: assignments and wrappers (with their options) skipped."""
    i = 0
    while i < len(words):
        if _ASSIGN.match(words[i]):
            i += 1
            continue
        takes_value = _WRAPPERS.get(words[i].rsplit("/", 1)[-1])
        if takes_value is None:
            break
        wrapper = words[i].rsplit("/", 1)[-1]
        i += 1
        while i < len(words) and words[i].startswith("-") and len(words[i]) > 1:
            if wrapper == "command" and words[i] in _LOOKUPS:
                return []
            i += 2 if words[i] in takes_value else 1
        if wrapper == "timeout" and i < len(words):
            i += 1  # the duration
    return words[i:]


def _python_runs_tests(args: list[str]) -> bool:
    """Whether `python ARGS` (or `coverage run ARGS`) runs tests: -m a test module, or a test script."""
    skip = False
    for j, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg in ("-c", "-V", "--version", "-h", "--help"):  # inline code or no script: not a test run
            return False
        if arg in ("-W", "-X"):  # python options that take a value
            skip = True
            continue
        if arg == "-m" and j + 1 < len(args):
            return args[j + 1] in _TEST_MODULES
        if arg.startswith("-m") and len(arg) > 2:
            return arg[2:] in _TEST_MODULES
        if not arg.startswith("-"):  # the script python runs
            script = arg.rsplit("/", 1)[-1]
            return (script in _TEST_PROGRAMS or _is_bin_test(arg)
                    or (script in _DJANGO and args[j + 1:j + 2] == ["test"]))
    return False


def _is_bin_test(path: str) -> bool:
    """SymPy's test runner, `bin/test` (relative, or under a checkout such as /testbed)."""
    return (path == "bin/test" or path.endswith("/bin/test")) and not path.startswith(_SYSTEM_TEST)


def _make_runs_tests(args: list[str]) -> bool:
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _MAKE_VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-") and "=" not in arg and arg in _MAKE_TARGETS:
            return True
    return False


def _shell_runs_tests(args: list[str]) -> bool:
    """`bash [-opts] -c SCRIPT`: whether SCRIPT runs tests (a script file is not looked into)."""
    for j, arg in enumerate(args):
        if arg in ("-o", "+o"):
            continue
        if j > 0 and args[j - 1] in ("-o", "+o"):
            continue
        if not arg.startswith(("-", "+")):
            return False
        if not arg.startswith("--") and "c" in arg[1:]:
            return j + 1 < len(args) and is_test_command(args[j + 1])
    return False


def _runs_tests(words: list[str]) -> bool:
    words = _unwrap(words)
    if not words:
        return False
    path, args = words[0], words[1:]
    program = path.rsplit("/", 1)[-1]
    if program in _TEST_PROGRAMS or _is_bin_test(path):
        return True
    if program in _DJANGO:
        return next((a for a in args if not a.startswith("-")), None) == "test"
    if program == "make":
        return _make_runs_tests(args)
    if program in _SHELLS:
        return _shell_runs_tests(args)
    if program == "coverage":  # coverage run [-m] pytest ...
        return args[:1] == ["run"] and _python_runs_tests(args[1:])
    return bool(_PYTHON.match(program)) and _python_runs_tests(args)


#: Every test run has a word holding one of these (a runner's name, `manage.py test`, `make test|check`). A
#: word's letters stand in the command in order, with only quotes and escaping backslashes dropped between
#: them, so a command without any, once those are removed, runs no tests: most commands skip the parse.
_NEEDLES = ("test", "tox", "nox", "check")
_QUOTING = str.maketrans("", "", "'\"\\")


def is_test_command(cmd: str) -> bool:
    """Whether a shell command runs tests, anywhere in a pipeline or command list (see the module
    docstring). Mentioning a runner (grep pytest, pip install pytest, cat tox.ini) does not count."""
    plain = cmd.translate(_QUOTING)
    if not any(needle in plain for needle in _NEEDLES):
        return False
    return any(_runs_tests(words) for words in _simple_commands(cmd))
