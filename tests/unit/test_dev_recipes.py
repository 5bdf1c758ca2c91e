"""Built-in recipes for the six repositories of SWE-bench's dev split (Lite dev and full dev): every
(repo, version) of those splits has one, and its facts are SWE-bench harness v4.1.0's
(constants/python.py SPECS_MARSHMALLOW, SPECS_SQLFLUFF, SPECS_PVLIB, SPECS_PYDICOM, SPECS_ASTROID,
SPECS_PYVISTA). The (repo, version) pairs are written here, read once from the published parquet files."""

from __future__ import annotations

import pytest

from agentbench.suites.recipe_table import offline_status
from agentbench.scoring.swebench_spec import make_test_spec
from agentbench.suites.swe_recipes import builtin_specs, find_spec
from agentbench.swe_spec import EnvSpec
from agentbench.suites.swebench import SweRow, task_from_row

# SWE-bench Lite, dev split: its 17 (repo, version) pairs.
LITE_DEV = [
    ("marshmallow-code/marshmallow", "2.20"), ("marshmallow-code/marshmallow", "3.0"),
    ("pvlib/pvlib-python", "0.7"), ("pvlib/pvlib-python", "0.8"), ("pvlib/pvlib-python", "0.9"),
    ("pydicom/pydicom", "1.3"), ("pydicom/pydicom", "2.0"), ("pydicom/pydicom", "2.1"), ("pydicom/pydicom", "2.3"),
    ("pylint-dev/astroid", "2.9"), ("pylint-dev/astroid", "2.10"), ("pylint-dev/astroid", "2.12"),
    ("pylint-dev/astroid", "2.13"), ("pylint-dev/astroid", "2.14"),
    ("pyvista/pyvista", "0.39"), ("sqlfluff/sqlfluff", "0.6"), ("sqlfluff/sqlfluff", "0.8"),
]
# SWE-bench (full), dev split: its 51 (repo, version) pairs, per repo.
FULL_DEV = {
    "marshmallow-code/marshmallow": ["2.18", "2.19", "2.20", "3.0", "3.9", "3.12", "3.19"],
    "pvlib/pvlib-python": ["0.5", "0.6", "0.7", "0.8", "0.9"],
    "pydicom/pydicom": ["1.2", "1.3", "1.4", "2.0", "2.1", "2.2", "2.3"],
    "pylint-dev/astroid": ["2.5", "2.6", "2.7", "2.9", "2.10", "2.12", "2.13", "2.14", "2.15", "3.0"],
    "pyvista/pyvista": ["0.22", "0.38", "0.39", "0.40", "0.41", "0.42", "0.43"],
    "sqlfluff/sqlfluff": ["0.4", "0.6", "0.8", "0.9", "0.10", "0.11", "0.12", "0.13", "1.1", "1.2", "1.3", "1.4",
                          "2.0", "2.1", "2.2"],
}
# repo -> (versions in the harness's table, the log_parser every dev row names, its install command)
HARNESS = {
    "marshmallow-code/marshmallow": (16, "parse_log_marshmallow", "python -m pip install -e '.[dev]'"),
    "sqlfluff/sqlfluff": (17, "parse_log_sqlfluff", "python -m pip install -e ."),
    "pvlib/pvlib-python": (9, "parse_log_pvlib", "python -m pip install -e .[all]"),
    "pydicom/pydicom": (11, "parse_log_pydicom", "python -m pip install -e ."),
    "pylint-dev/astroid": (12, "parse_log_astroid", "python -m pip install -e ."),
    "pyvista/pyvista": (24, "parse_log_pyvista", "python -m pip install -e ."),
}


def spec(repo: str, version: str) -> EnvSpec:
    found = find_spec(repo, version)
    assert found is not None, f"no built-in recipe for {repo} {version}"
    return found


def test_the_pair_lists_agree():
    assert len(LITE_DEV) == 17 and len(set(LITE_DEV)) == 17
    assert sum(len(v) for v in FULL_DEV.values()) == 51
    assert set(LITE_DEV) <= {(repo, v) for repo, versions in FULL_DEV.items() for v in versions}


@pytest.mark.parametrize(("repo", "version"), LITE_DEV)
def test_every_lite_dev_pair_has_a_recipe(repo, version):
    found = spec(repo, version)
    assert found.python and found.install and found.test_cmd == "pytest -rA"


def test_every_full_dev_pair_has_a_recipe():
    missing = [(repo, v) for repo, versions in FULL_DEV.items() for v in versions if find_spec(repo, v) is None]
    assert missing == []


def test_whole_harness_tables_with_the_rows_parser_and_install():
    from swebench.harness.log_parsers import PARSER_REGISTRY
    from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY

    table = builtin_specs()
    for repo, (count, parser, install) in HARNESS.items():
        assert len(table[repo]) == count, repo
        for version, entry in table[repo].items():
            assert entry.log_parser == parser and PARSER_REGISTRY[parser] is MAP_REPO_TO_PARSER_PY[repo]
            assert entry.install == [install], (repo, version)
            assert "v4.1.0" in entry.source and "SPECS_" in entry.source, (repo, version)


def test_pydicom_python_per_version():
    pythons = {v: spec("pydicom/pydicom", v).python for v in builtin_specs()["pydicom/pydicom"]}
    assert pythons == {"1.0": "3.6", "1.1": "3.6", "1.2": "3.6", "1.3": "3.6", "1.4": "3.8", "2.0": "3.8",
                       "2.1": "3.9", "2.2": "3.9", "2.3": "3.10", "2.4": "3.11", "3.0": "3.11"}
    s = spec("pydicom/pydicom", "2.3")
    assert s.packages == ["numpy"] and s.pip_packages == ["pytest"] and s.requirements == []


def test_other_dev_repo_facts():
    assert spec("sqlfluff/sqlfluff", "0.6").requirements == ["requirements_dev.txt"]
    assert spec("sqlfluff/sqlfluff", "0.6").pip_packages == [] and spec("sqlfluff/sqlfluff", "2.2").python == "3.9"
    pvlib = spec("pvlib/pvlib-python", "0.9")
    # the official packages are "pandas scipy"; numpy<2 is agentbench's measured, documented addition
    assert pvlib.packages == ["pandas", "scipy", "numpy<2"] and "np.Inf" in pvlib.notes
    # 0.5-0.8 take their version from versioneer (git tags): the depth-1 clone gets the version's tag first
    old = spec("pvlib/pvlib-python", "0.5")
    assert old.model_copy(update={"pre_install": [], "notes": pvlib.notes}) == pvlib
    assert spec("pvlib/pvlib-python", "0.7").pre_install == ["git tag v0.7.0"] and pvlib.pre_install == []
    assert pvlib.pip_packages == ["jupyter", "ipython", "matplotlib", "pytest", "flake8"]
    astroid = spec("pylint-dev/astroid", "2.10")
    assert astroid.pip_packages == ["pytest"] and astroid.packages == [] and astroid.requirements == []
    # official: [pytest]; pip<25.3 is agentbench's measured addition where pyproject pins setuptools~=62.6
    assert [spec("pylint-dev/astroid", v).pip_packages for v in ("2.12", "2.13", "2.14")] == [
        ["pytest", "pip<25.3"]] * 3 and "build_editable" in spec("pylint-dev/astroid", "2.14").notes
    assert spec("pylint-dev/astroid", "2.15").pip_packages == ["pytest"]
    assert spec("pylint-dev/astroid", "3.0").pip_packages == ["pytest"]
    assert spec("marshmallow-code/marshmallow", "3.19").pip_packages == []
    early, late = spec("pyvista/pyvista", "0.23"), spec("pyvista/pyvista", "0.24")
    assert early.requirements == [] and early.pre_install == [] and early.pip_packages == ["pytest"]
    assert late.requirements == ["requirements_test.txt", "requirements.txt"]
    assert late.pre_install == ["apt-get update && apt-get install -y ffmpeg libsm6 libxext6 libxrender1"]
    assert spec("pyvista/pyvista", "0.43") == late


def test_offline_verdicts_of_dev_repos():
    assert offline_status(spec("sqlfluff/sqlfluff", "0.6")) == (True, "Debian bullseye python3.9, pip")
    assert offline_status(spec("pyvista/pyvista", "0.39")) == (True, "Debian bullseye python3.9, pip, apt")
    assert offline_status(spec("pydicom/pydicom", "2.4")) == (True, "Debian bookworm python3.11, pip")
    assert offline_status(spec("pydicom/pydicom", "2.3")) == (
        False, "Python 3.10 is in no Debian release: needs sandbox.swe_python: conda")
    assert offline_status(spec("pydicom/pydicom", "1.3"))[0] is False


def test_a_dev_row_loads_with_its_recipe():
    row = SweRow(repo="sqlfluff/sqlfluff", instance_id="sqlfluff__sqlfluff-1", base_commit="a" * 40, patch="",
                 test_patch="diff --git a/test/x_test.py b/test/x_test.py\n--- a/test/x_test.py\n"
                            "+++ b/test/x_test.py\n@@ -1 +1 @@\n-a\n+b\n",
                 problem_statement="p", version="0.6", FAIL_TO_PASS=[], PASS_TO_PASS=[],
                 environment_setup_commit="b" * 40)
    task = task_from_row(row, find_spec(row.repo, row.version), "/mirrors/x.git", "rows.jsonl")
    env = task.swe.env
    assert env.python == "3.9" and env.release() == "bullseye"
    assert env.requirements == ["requirements_dev.txt"] and env.install == ["python -m pip install -e ."]
    spec = make_test_spec(task.swe)
    assert spec.log_parser == "parse_log_sqlfluff" and spec.test_directives == ["test/x_test.py"]
