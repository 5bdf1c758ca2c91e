# agentbench: `make demo` runs the demo on the embedded model, `make test` runs the tests.
# Both go through `make setup`, which is idempotent and leaves .venv/bin/agentbench.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Let Python cache bytecode (some images set PYTHONDONTWRITEBYTECODE): without it every interpreter, each test
# worker and each CLI a test starts recompiles agentbench and pytest rewrites every test module again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup demo test test-unit bench clean-runs compose-build validate-swebench

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

# the fast lane: pure tests only (no engine, no model server, no browser), under a minute; one pytest-xdist
# worker per core (the full suite stays serial: its Docker and Ray tests share one engine and cluster)
test-unit: $(BIN)/agentbench
	$(BIN)/python -m pytest -q -n auto tests/unit examples

test: setup
	bash tests/ensure_tools.sh
	$(BIN)/python -m pytest -q --durations=40

bench: setup
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/report.py

clean-runs:
	rm -rf runs

# The SWE-bench validation campaign (usage: .venv/bin/python bench/swe_validate.py --help). SWE_DATA: one or
# more NAME=PATH data files; SWE_MIRRORS: a folder of OWNER__NAME.git mirrors; SWE_ARGS: more options
# (--per-pair, --jobs, --budget-min, --only, --prune-instances). Resumable: rows already in
# docs/swebench-validation.csv are skipped. Then docs/swebench-validation.md and README's table from the csv.
validate-swebench: $(BIN)/agentbench
	@test -n "$(SWE_DATA)" -a -n "$(SWE_MIRRORS)" || { echo "usage: make validate-swebench \
	  SWE_DATA='lite_test=PATH verified_test=PATH' SWE_MIRRORS=DIR [SWE_ARGS='--jobs 2 --budget-min 600']"; exit 2; }
	bash sandboxes/ensure_engine.sh
	$(BIN)/python bench/swe_validate.py $(addprefix --data ,$(SWE_DATA)) --mirrors $(SWE_MIRRORS) $(SWE_ARGS); \
	  rc=$$?; $(BIN)/python bench/swe_validate.py --summarize $(addprefix --data ,$(SWE_DATA)) && exit $$rc

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
