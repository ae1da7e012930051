# edgetwin — the two commands of the quick start are `make up` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv pip install --quiet --python $(BIN)/python

.PHONY: up test lint typecheck unit chaos install install-dev chromium lock clean help

help:
	@echo "make up       install into .venv and start edgetwin (broker, cloud, edge, simulators)"
	@echo "make test     install test tools, then lint, type-check and run the whole suite"
	@echo "make lint     ruff;  make typecheck  mypy;  make unit  fast tests only"
	@echo "make chaos    the long fault-injection run (20 kills per part, 60 s outages) and its table"
	@echo "make lock     re-pin requirements*.lock from pyproject.toml"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "edgetwin needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8

$(VENV)/.runtime: requirements.lock pyproject.toml | $(BIN)/python
	$(UV) -r requirements.lock
	$(UV) --no-deps -e .
	@touch $@

$(VENV)/.dev: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(UV) -r requirements-dev.lock
	$(UV) --no-deps -e .
	@touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

up: $(VENV)/.runtime
	$(BIN)/edgetwin up

chromium:
	@scripts/ensure-chromium.sh

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(VENV)/.dev
	$(BIN)/mypy

unit: $(VENV)/.dev
	$(BIN)/pytest tests/unit -q

test: $(VENV)/.dev chromium lint typecheck
	$(BIN)/pytest -q

lock: | $(BIN)/python
	$(BIN)/uv pip compile --quiet pyproject.toml --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --python-version 3.11 -o requirements-dev.lock

chaos: $(VENV)/.dev
	EDGETWIN_CHAOS_LONG=1 EDGETWIN_CHAOS_REPORT=test-artifacts/chaos-report.md \
		$(BIN)/pytest tests/chaos -m chaos -p no:cacheprovider -q

clean:
	rm -rf $(VENV) .edgetwin .pytest_cache .mypy_cache .ruff_cache test-artifacts
