# Hubao — every target sets itself up (virtualenv, pip, npm ci) and is idempotent.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HUBAO  := $(VENV)/bin/hubao
PYSTAMP   := $(VENV)/.installed
NODESTAMP := node_modules/.installed

.DEFAULT_GOAL := help
.PHONY: help setup browser nginx run test lint bench bench-apportionment-large compile clean

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

# Debian's chromium for the browser tests (tests/web): installed when missing and we are root;
# otherwise those tests skip, saying why. Quiet and idempotent.
CHROMIUM := /usr/bin/chromium
browser: ## install Debian's chromium for the browser tests (root only; skipped tests say why otherwise)
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium (Debian package) for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null) \
			|| echo "chromium could not be installed: the browser tests will be skipped"; \
	else echo "chromium is missing and we are not root: the browser tests will be skipped"; fi

# Debian's nginx-light, for `nginx -t` of the compose proxy's configuration (tests/foundation/test_compose.py);
# installed when missing and we are root, otherwise that check skips saying why. Never started: a
# temporary policy-rc.d keeps Debian from starting it on port 80 (nothing here listens beyond loopback).
NGINX := /usr/sbin/nginx
nginx: ## install Debian's nginx-light for the proxy configuration check (root only)
	@if [ -x $(NGINX) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing nginx-light (Debian package) to check the compose proxy's configuration"; \
		policy=; if [ ! -e /usr/sbin/policy-rc.d ]; then policy=/usr/sbin/policy-rc.d; \
			printf '#!/bin/sh\nexit 101\n' > $$policy; chmod +x $$policy; fi; \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null \
			|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null)) \
			|| echo "nginx could not be installed: the proxy configuration check will be skipped"; \
		[ -z "$$policy" ] || rm -f $$policy; pkill -x nginx || true; \
	else echo "nginx is missing and we are not root: the proxy configuration check will be skipped"; fi

compile: setup ## compile the Solidity contracts into contracts/artifacts (only when sources changed)
	$(HUBAO) compile

run: setup ## start anvil, deploy, migrate, seed the demo and serve on http://127.0.0.1:8000
	$(HUBAO) run

lint: setup ## ruff (lint + format check), mypy --strict, slither
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/slither_gate.py

test: setup browser nginx lint ## lint, then the full test suite (real anvil, SQLite and PostgreSQL)
	$(VENV)/bin/pytest -n 2 --dist loadgroup -q

bench: setup ## benchmarks with same-run baselines (see benchmarks/); apportionment at 1 M members
	$(PY) -m benchmarks

bench-apportionment-large: setup ## apportionment from PostgreSQL at 10 M and 30 M members (~45 min, ~10 GB of disk)
	$(PY) -m benchmarks apportionment --sizes 10000000,30000000

clean: ## remove local state (chain, database, evidence) but keep the toolchains
	rm -rf .data
