"""The built-in SWE-bench recipe table: coverage, exact facts from SWE-bench harness v4.1.0, the offline
verdicts, the docs table, and suite overrides."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

from agentbench.suites.recipe_table import markdown_table, offline_counts, offline_status, version_key
from agentbench.suites.swe_recipes import RECIPES_PACKAGE, builtin_specs, find_spec, parse_specs
from agentbench.suites.swebench import load_specs
from agentbench.swe_spec import EnvSpec

DOC = Path(__file__).resolve().parents[2] / "README.md"
# repo -> number of versions in the harness's table (v4.1.0)
VERSIONS = {"astropy/astropy": 17, "django/django": 20, "pallets/flask": 6, "matplotlib/matplotlib": 19,
            "pylint-dev/pylint": 14, "pytest-dev/pytest": 20, "psf/requests": 28, "scikit-learn/scikit-learn": 7,
            "mwaskom/seaborn": 4, "sphinx-doc/sphinx": 34, "sympy/sympy": 15, "pydata/xarray": 9,
            # the six repos of SWE-bench's dev split (tests/unit/test_dev_recipes.py)
            "marshmallow-code/marshmallow": 16, "sqlfluff/sqlfluff": 17, "pvlib/pvlib-python": 9,
            "pydicom/pydicom": 11, "pylint-dev/astroid": 12, "pyvista/pyvista": 24}
PARSERS = {"astropy/astropy": "parse_log_astropy", "django/django": "parse_log_django",
           "pallets/flask": "parse_log_flask", "matplotlib/matplotlib": "parse_log_matplotlib",
           "pylint-dev/pylint": "parse_log_pylint", "pytest-dev/pytest": "parse_log_pytest",
           "psf/requests": "parse_log_requests", "scikit-learn/scikit-learn": "parse_log_scikit",
           "mwaskom/seaborn": "parse_log_seaborn", "sphinx-doc/sphinx": "parse_log_sphinx",
           "sympy/sympy": "parse_log_sympy", "pydata/xarray": "parse_log_xarray",
           "marshmallow-code/marshmallow": "parse_log_marshmallow", "sqlfluff/sqlfluff": "parse_log_sqlfluff",
           "pvlib/pvlib-python": "parse_log_pvlib", "pydicom/pydicom": "parse_log_pydicom",
           "pylint-dev/astroid": "parse_log_astroid", "pyvista/pyvista": "parse_log_pyvista"}
SYMPY_CMD = "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose"
DJANGO_CMD = "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1"


def spec(repo: str, version: str) -> EnvSpec:
    found = find_spec(repo, version)
    assert found is not None, (repo, version)
    return found


def raw_files() -> dict[str, dict]:
    files = {}
    for entry in resources.files(RECIPES_PACKAGE).iterdir():
        if entry.name.endswith(".yaml"):
            files[entry.name] = yaml.safe_load(entry.read_text(encoding="utf-8"))
    return files


def test_all_eighteen_repos_and_every_version():
    table = builtin_specs()
    assert set(table) == set(VERSIONS)
    assert {repo: len(versions) for repo, versions in table.items()} == VERSIONS
    assert sum(VERSIONS.values()) == 282


def test_files_are_named_and_sourced():
    files = raw_files()
    assert sorted(files) == sorted(repo.replace("/", "__") + ".yaml" for repo in VERSIONS)
    for name, data in files.items():
        assert set(data) == {"source", "versions"}, name
        assert "v4.1.0" in data["source"] and "constants/python.py" in data["source"], name


def test_every_entry_validates_and_is_complete():
    for name, data in raw_files().items():
        for version, entry in data["versions"].items():
            parsed = EnvSpec.model_validate(entry)  # extra="forbid": no invented fields
            assert parsed.python and parsed.install and parsed.test_cmd, (name, version)
            assert not (parsed.environment_yml and (parsed.packages or parsed.requirements)), (name, version)


def test_version_keys_are_strings_that_look_like_versions():
    for name, data in raw_files().items():
        for version, entry in data["versions"].items():
            assert isinstance(version, str), (name, version)  # 1.10 unquoted would load as 1.1
            assert re.fullmatch(r"v?\d+(\.\d+)+", version), (name, version)
            assert isinstance(entry["python"], str), (name, version)
    assert {"1.1", "1.10", "1.11", "1.12"} <= set(builtin_specs()["sympy/sympy"])
    assert {"1.10", "1.11"} <= set(builtin_specs()["django/django"]) and "1.1" not in builtin_specs()["django/django"]
    assert {"0.20", "2022.03"} <= set(builtin_specs()["pydata/xarray"])
    assert "v5.3" in builtin_specs()["astropy/astropy"]  # the harness's key, 'v' and all


def test_every_log_parser_is_swebenchs_own_for_that_repo():
    from swebench.harness.log_parsers import PARSER_REGISTRY
    from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY

    for repo, versions in builtin_specs().items():
        for version, entry in versions.items():
            assert entry.log_parser == PARSERS[repo], (repo, version)
            assert PARSER_REGISTRY[entry.log_parser] is MAP_REPO_TO_PARSER_PY[repo], (repo, version)


def test_sympy_facts():
    s = spec("sympy/sympy", "1.1")
    assert s.python == "3.9" and s.packages == ["mpmath", "flake8"]
    assert s.pip_packages == ["mpmath==1.3.0", "flake8-comprehensions"]
    assert s.install == ["python -m pip install -e ."] and s.test_cmd == SYMPY_CMD
    assert s.log_parser == "parse_log_sympy"
    late = spec("sympy/sympy", "1.13")
    assert late.requirements == ["requirements-dev.txt", "requirements-test.txt"] and not late.packages
    assert late.pip_packages == ["mpmath==1.3.0"]


def test_pylint_facts():
    s = spec("pylint-dev/pylint", "2.15")
    assert s.python == "3.9" and s.requirements == ["requirements_test.txt"]
    # the official entry has no pins; agentbench's three are a measured, documented departure
    assert s.pip_packages == ["pip==23.1.2", "setuptools~=62.6", "tomlkit==0.11.6"] and "import-hook" in s.notes
    assert s.pre_install == [] and s.install == ["python -m pip install -e ."]
    assert s.test_cmd == "pytest -rA" and "nano_cpus" in s.notes
    assert spec("pylint-dev/pylint", "2.8").pip_packages == ["pyenchant==3.2"]
    assert spec("pylint-dev/pylint", "2.8").pre_install == [
        "apt-get update && apt-get install -y libenchant-2-dev hunspell-en-us"]
    assert spec("pylint-dev/pylint", "3.0").pip_packages == ["astroid==3.0.0a6", "setuptools"]
    assert "nano_cpus" not in spec("pylint-dev/pylint", "2.16").notes


def test_django_facts():
    s = spec("django/django", "3.0")
    assert s.python == "3.6" and s.requirements == ["tests/requirements/py3.txt"]
    assert s.eval_commands == ["sed -i '/en_US.UTF-8/s/^# //g' /etc/locale.gen && locale-gen",
                               "export LANG=en_US.UTF-8", "export LANGUAGE=en_US:en", "export LC_ALL=en_US.UTF-8"]
    assert s.install == ["python -m pip install -e ."] and s.test_cmd == DJANGO_CMD
    assert spec("django/django", "1.9").test_cmd == "./tests/runtests.py --verbosity 2"
    old = spec("django/django", "2.2")
    assert old.python == "3.5" and old.install == ["python setup.py install"] and old.pip_packages == ["setuptools"]
    assert old.pre_install[1] == "echo 'en_US UTF-8' > /etc/locale.gen"
    assert spec("django/django", "1.4").requirements == [] and spec("django/django", "5.2").python == "3.11"


def test_other_repos_facts():
    astropy = spec("astropy/astropy", "v5.3")
    assert astropy.python == "3.10" and astropy.pre_install == [
        "sed -i 's/requires = \\[\"setuptools\",/requires = \\[\"setuptools==68.0.0\",/' pyproject.toml"]
    old = spec("astropy/astropy", "1.3")
    assert old.python == "3.6" and old.packages == ["setuptools==38.2.4"] and "pytest==3.3.1" in old.pip_packages
    assert old.test_cmd == "pytest -rA -vv -o console_output_style=classic --tb=no"
    assert spec("astropy/astropy", "3.0").pre_install == [] and spec("astropy/astropy", "4.1").pre_install
    sphinx = spec("sphinx-doc/sphinx", "4.1")
    assert len(sphinx.pre_install) == 9 and sphinx.pre_install[-1].startswith(
        "grep -q 'sphinxcontrib-serializinghtml>=1.1.5' setup.py && ")
    assert sphinx.test_cmd == "tox --current-env -epy39 -v --"
    assert spec("sphinx-doc/sphinx", "7.2").pre_install[-1] == "apt-get update && apt-get install -y graphviz"
    assert spec("sphinx-doc/sphinx", "8.1").python == "3.10"
    assert spec("matplotlib/matplotlib", "3.8").install == ['python -m pip install --no-build-isolation -e ".[dev]"']
    assert spec("matplotlib/matplotlib", "3.5").environment_yml == "environment.yml"
    assert spec("matplotlib/matplotlib", "3.4").requirements == [
        "requirements/dev/dev-requirements.txt", "requirements/testing/travis_all.txt"]
    xarray = spec("pydata/xarray", "2022.06")
    assert xarray.python == "3.10" and xarray.environment_yml == "ci/requirements/environment.yml"
    assert "dask==2022.8.1" in xarray.pip_packages and "no_use_env" in xarray.notes
    sklearn = spec("scikit-learn/scikit-learn", "1.3")
    assert sklearn.packages[:3] == ["numpy==1.19.2", "scipy==1.5.2", "cython==3.0.10"]
    assert sklearn.install == ["python -m pip install -v --no-use-pep517 --no-build-isolation -e ."]
    assert spec("scikit-learn/scikit-learn", "0.22").python == "3.6"
    assert spec("mwaskom/seaborn", "0.11").test_cmd == "pytest --no-header -rA"
    assert "pandas==1.3.5" in spec("mwaskom/seaborn", "0.11").pip_packages
    assert spec("mwaskom/seaborn", "0.12").install == ["python -m pip install -e .[dev]"]
    assert spec("psf/requests", "2.31").packages == ["pytest"]
    assert spec("psf/requests", "2.31").install == ["python -m pip install ."]
    assert spec("pallets/flask", "2.1").python == "3.10" and "click==8.1.3" in spec("pallets/flask", "2.1").pip_packages
    assert spec("pytest-dev/pytest", "6.3").pre_install == ["sed -i 's/>=>=/>=/' setup.cfg"]
    assert spec("pytest-dev/pytest", "8.4").pip_packages[2] == "pluggy==1.3.0"


def test_offline_status_of_official_entries():
    assert offline_status(spec("pylint-dev/pylint", "2.15")) == (True, "Debian bullseye python3.9, pip")
    assert offline_status(spec("django/django", "5.0")) == (True, "Debian bookworm python3.11, pip")
    assert offline_status(spec("sphinx-doc/sphinx", "7.2")) == (True, "Debian bullseye python3.9, pip, apt")
    assert offline_status(spec("django/django", "3.0")) == (
        False, "Python 3.6 is in no Debian release: needs sandbox.swe_python: conda")
    ok, how = offline_status(spec("matplotlib/matplotlib", "3.5"))
    assert not ok and how == ("conda environment.yml: needs sandbox.swe_python: conda; "
                              "pre_install downloads from www.qhull.org")
    assert offline_status(spec("pydata/xarray", "0.12"))[0] is False


def test_offline_status_of_made_up_entries():
    assert offline_status(EnvSpec()) == (True, "Debian bookworm python3.11, pip")
    assert offline_status(EnvSpec(python="3.13")) == (True, "Debian trixie python3.13, pip")
    assert offline_status(EnvSpec(python="3.11", pre_install=["curl -sSL https://get.example.org/x.sh | sh"])) == (
        False, "pre_install downloads from get.example.org")
    assert offline_status(EnvSpec(python="3.9", install=["wget -q $URL"])) == (False, "install downloads with wget")
    assert offline_status(EnvSpec(python="3.9", pip_packages=["git+https://github.com/a/b"])) == (
        False, "pip_packages downloads from github.com")
    assert offline_status(EnvSpec(python="3.10", debian="bookworm"))[0] is False


def test_counts_and_table_shape():
    assert offline_counts() == (218, 64)
    table = markdown_table()
    assert ("| pylint-dev/pylint | 2.9, 2.10, 2.11, 2.13, 2.14, 2.15, 2.16, 2.17, 3.0, 3.1, 3.2, 3.3, 4.0 | yes | "
            "Debian bullseye python3.9, pip |") in table
    assert "| django/django | 3.0, 3.1, 3.2 | no | Python 3.6 is in no Debian release" in table
    assert table.rstrip().endswith("218 of 282 (repo, version) entries build offline; 64 do not.")
    assert sorted(["1.10", "1.9", "v5.3", "1.2"], key=version_key) == ["1.2", "1.9", "1.10", "v5.3"]


def test_docs_table_is_generated_from_the_validation_csv():
    """README.md's table is bench/swe_validate.py's, from docs/swebench-validation.csv: markdown_table's
    rows with a `validated` column (regenerate: python bench/swe_validate.py --summarize)."""
    from bench.swe_campaign import read_csv
    from bench.swe_campaign_md import readme_table

    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- swebench-validation:start -->\n(.*)<!-- swebench-validation:end -->", text, re.DOTALL)
    assert match, "README.md lost its swebench-validation markers"
    assert match.group(1) == readme_table(read_csv(DOC.parent / "docs" / "swebench-validation.csv").values()), (
        "regenerate the table in README.md: python bench/swe_validate.py --summarize")

    def offline(table: str) -> dict[tuple[str, str], str]:  # (repo, version) -> the offline column
        rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ")][2:]
        return {(cells[0][2:], version): cells[2] for cells in rows for version in cells[1].split(", ")}

    assert offline(match.group(1)) == offline(markdown_table()), "the offline column differs from markdown_table"


def test_suite_specs_yaml_overrides_the_builtin_entry(tmp_path):
    (tmp_path / "specs.yaml").write_text("pylint-dev/pylint:\n  '2.15':\n    python: '3.11'\n"
                                         "    pip_packages: [astroid==2.15.0]\n    test_cmd: pytest -x\n")
    overrides = load_specs(tmp_path / "specs.yaml")
    mine = find_spec("pylint-dev/pylint", "2.15", overrides)
    assert mine is not None and mine.python == "3.11" and mine.test_cmd == "pytest -x"
    assert mine.requirements == [] and mine.log_parser == "parse_log_pytest"  # whole entry replaced, not merged
    assert find_spec("pylint-dev/pylint", "2.14", overrides) == spec("pylint-dev/pylint", "2.14")
    assert find_spec("pylint-dev/pylint", "9.9", overrides) is None
    assert builtin_specs()["pylint-dev/pylint"]["2.15"].python == "3.9"  # the built-in table is untouched


@pytest.mark.parametrize("bad", ["python: 3.10.1", "pythn: '3.9'", "install: {a: b}"])
def test_a_bad_override_names_the_field(bad):
    from agentbench.suites.errors import SuiteError

    with pytest.raises(SuiteError, match=r"specs.yaml: field 'psf/requests.2.31"):
        parse_specs(yaml.safe_load(f"psf/requests:\n  '2.31':\n    {bad}\n"), "specs.yaml")
