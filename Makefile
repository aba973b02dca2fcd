# Tocsin developer and CI entry points. See `make help`.

PYTHON ?= python3
VENV ?= .venv
# Debian packages the test suite needs; extend this list as tests grow.
SYSTEM_PACKAGES ?= postgresql prometheus-alertmanager prometheus chromium
# node and npm for the tests that drive a JavaScript client; a machine that already has
# them (from any source) keeps its own.
NODE_PACKAGES := $(if $(shell command -v npm 2>/dev/null),,nodejs npm)
PYTEST_ARGS ?=
# The tests run in this many processes (each with its own servers and databases), but
# those marked `alone` (they kill processes, or hold a storm or a failover to its
# deadlines) run afterwards, one at a time, with no other test taking the machine.
TEST_PROCESSES ?= 2
# Where `make run` serves: `make run HOST=0.0.0.0 PORT=9000`. Plain assignments, so that
# a HOST or PORT in the environment (a shell's own, say) does not change them.
HOST = 127.0.0.1
PORT = 8080

BIN := $(VENV)/bin
# Touched after a successful install; pip only re-runs when pyproject.toml changes.
INSTALL_STAMP := $(VENV)/.tocsin-installed

.DEFAULT_GOAL := help

.PHONY: help install system-deps test lint run clean

help:
	@echo "make test         venv + package + system deps, then ruff and pytest"
	@echo "make lint         ruff check, ruff format --check, mypy, the import layers"
	@echo "make run          tocsin init (if needed) + tocsin serve on $(HOST):$(PORT) (HOST=, PORT=)"
	@echo "make system-deps  install Debian packages: $(SYSTEM_PACKAGES)"
	@echo "make clean        remove the venv and caches"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALL_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(INSTALL_STAMP)

system-deps:
	bash scripts/install-system-deps.sh $(SYSTEM_PACKAGES) $(NODE_PACKAGES)

test: $(INSTALL_STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	status=0; \
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) tests/unit tests/integration $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) -m 'not alone' tests --ignore=tests/unit --ignore=tests/integration $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/python -m pytest -m alone tests --ignore=tests/unit --ignore=tests/integration $(PYTEST_ARGS) || status=$$?; \
	exit $$status

lint: $(INSTALL_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

run: $(INSTALL_STAMP)
	@if [ ! -f tocsin.yaml ]; then $(BIN)/tocsin init; fi
	$(BIN)/tocsin serve --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .mypy_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name '*.egg-info' -type d -prune -exec rm -rf {} +
