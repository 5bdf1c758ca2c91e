"""What a built SWE-bench environment adds so that it behaves like an official (conda) image.

- `ACTIVATE_SHIM`: /opt/miniconda3/bin/activate without conda: `conda activate NAME` sources the venv
  /opt/miniconda3/envs/NAME, so eval scripts run unchanged.
- `python_wrapper(env, real)`: the venv's `python` and `python3` (Debian's python3 only). The venv is made
  with `--copies`, and these two run the venv's own `python3.X` under the venv's path (`exec -a`). A conda
  env is a real prefix, so a symlink to its python anywhere still runs in it; a venv is found only through
  the path python was started by (site.py looks for pyvenv.cfg beside it). tox-current-env (sphinx's
  `tox --current-env`) links `.tox/py39/bin/python` to the venv's python: started through that link, a
  plain venv python runs as the system's, with no venv packages (`No module named pytest`). Through the
  wrapper, python always starts under the venv's path. `python3.X` itself stays a normal venv python.
- `RECORD_ENV`: run in /testbed as the agent's uid at the end of every build (ours and the layer over an
  official image): the working tree becomes the commit ENV_REF, the state every sandbox resets to.
"""

from __future__ import annotations

from agentbench.swebench_layout import ENV_REF

ACTIVATE_SHIM = """\
# agentbench: conda's layout without conda. `conda activate NAME` sources the venv
# /opt/miniconda3/envs/NAME, so SWE-bench eval scripts run unchanged.
conda() {
    case "${1:-}" in
        activate) . "/opt/miniconda3/envs/${2:-testbed}/bin/activate" ;;
        deactivate) deactivate ;;
        *) echo "agentbench conda shim: only 'conda activate NAME' and 'conda deactivate' exist here" >&2
           return 1 ;;
    esac
}
"""

RECORD_ENV = ("git add -A && git -c user.name=agentbench -c user.email=agentbench@agentbench.invalid "
              "-c commit.gpgsign=false commit -q --no-verify --allow-empty -m 'agentbench: environment build' "
              f"&& git update-ref {ENV_REF} HEAD")


def python_wrapper(env: str, real: str) -> str:
    """The script that stands for `python` / `python3` in the venv `env`, running `env/bin/real`."""
    return (f"#!/bin/bash\n# agentbench: the venv's python, always started under the venv's path so that it\n"
            f"# finds the venv even through a symlink elsewhere (see agentbench/sandbox/swe_shims.py).\n"
            f"exec -a {env}/bin/python {env}/bin/{real} \"$@\"\n")
