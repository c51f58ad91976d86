# Hubao — every target sets itself up (virtualenv, pip, npm ci) and is idempotent.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HUBAO  := $(VENV)/bin/hubao
PYSTAMP   := $(VENV)/.installed
NODESTAMP := node_modules/.installed

.DEFAULT_GOAL := help
.PHONY: help setup run test lint bench compile clean

help: ## show this help
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-8s %s\n", $$1, $$2}'

$(PYSTAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(NODESTAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

setup: $(PYSTAMP) $(NODESTAMP) ## create the virtualenv and install python + node toolchains

compile: setup ## compile the Solidity contracts into contracts/artifacts (only when sources changed)
	$(HUBAO) compile

run: setup ## start anvil, deploy, migrate, seed the demo and serve on http://127.0.0.1:8000
	$(HUBAO) run

lint: setup ## ruff (lint + format check), mypy --strict, slither
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/slither_gate.py

test: setup lint ## lint, then the full test suite (real anvil, SQLite and PostgreSQL)
	$(VENV)/bin/pytest -n 2 --dist loadgroup -q

bench: setup ## benchmarks with same-run baselines (see benchmarks/)
	$(PY) -m benchmarks

clean: ## remove local state (chain, database, evidence) but keep the toolchains
	rm -rf .data
