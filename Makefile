# agentbench: `make demo` runs the demo on the embedded model, `make test` runs the tests.
# Both go through `make setup`, which is idempotent and leaves .venv/bin/agentbench.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test bench clean-runs

$(BIN)/agentbench: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(BIN)/agentbench
	bash sandboxes/ensure_engine.sh
	$(BIN)/agentbench sandbox build --all
	$(BIN)/agentbench model setup

demo: setup
	$(BIN)/agentbench run experiments/demo.yaml

test: setup
	bash tests/ensure_tools.sh
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/report.py

clean-runs:
	rm -rf runs
