# agentbench: `make demo` runs the demo on the embedded model, `make test` runs the tests.
# Both go through `make setup`, which is idempotent and leaves .venv/bin/agentbench.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test test-unit bench clean-runs compose-build

# constraints.txt: the dev set's versions, resolved once (pip's resolver gives up on it unconstrained)
$(BIN)/agentbench: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

setup: $(BIN)/agentbench
	bash sandboxes/ensure_engine.sh
	$(BIN)/agentbench sandbox build --all
	$(BIN)/agentbench model setup

demo: setup
	$(BIN)/agentbench run experiments/demo.yaml

# the fast lane: pure tests only (no engine, no model server, no browser), under a minute
test-unit: $(BIN)/agentbench
	$(BIN)/python -m pytest -q tests/unit examples

test: setup
	bash tests/ensure_tools.sh
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/report.py

clean-runs:
	rm -rf runs

# compose.yaml's `agentbench` image, FROM the local debootstrap rootfs (no registry): BASE is its tag; the
# host's CA bundle goes into the build context for pip (the builder stage only, never the image).
COMPOSE ?= $(shell command -v docker-compose >/dev/null 2>&1 && echo docker-compose || echo docker compose)

compose-build:
	test -x $(BIN)/agentbench || $(MAKE) $(BIN)/agentbench
	bash sandboxes/ensure_engine.sh
	$(BIN)/agentbench sandbox build rootfs
	mkdir -p build/compose
	$(BIN)/python -c "from agentbench.sandbox.swe_images import host_ca_bundle; print(host_ca_bundle() or '')" \
	  | xargs -r -I{} cp {} build/compose/build-ca.crt
	AGENTBENCH_BASE=$$($(BIN)/python -c "from agentbench.sandbox.images import image_tag; print(image_tag('rootfs'))") \
	  $(COMPOSE) build agentbench
