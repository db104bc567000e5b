# zapgate — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# uv from PATH, else a private copy installed from PyPI into .tools/ (a bare machine has only Python).
UV ?= $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON_PREFERENCE := only-system
RUN := $(UV) run --frozen

.PHONY: help install run test lint typecheck test-unit test-integration test-e2e bench chaos migrate format clean asyncapi nats-auth screenshots

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet --disable-pip-version-check uv

.venv/.synced: pyproject.toml uv.lock libs/*/pyproject.toml services/*/pyproject.toml | $(UV)
	$(UV) sync --frozen --all-packages
	@touch $@

install: .venv/.synced ## Create the environment (uv sync) if anything changed

run: install ## Start the whole system on embedded NATS and PostgreSQL (Ctrl-C stops it)
	$(RUN) python deploy/local/devstack.py

asyncapi: install ## Regenerate docs/asyncapi.json (the NATS contract) from the message models
	$(RUN) python -c "import json; from zapgate.gateway.contract import asyncapi; print(json.dumps(asyncapi(), indent=2, sort_keys=True))" > docs/asyncapi.json

nats-auth: install ## Regenerate deploy/k8s/base/nats-auth.conf (each service's NATS user and subjects)
	$(RUN) python -m zapgate.common.permissions > deploy/k8s/base/nats-auth.conf

migrate: install ## Run every service's migrations against ZAPGATE_DATABASE_URL
	$(RUN) zapgate-gateway migrate
	$(RUN) zapgate-session-worker migrate
	$(RUN) zapgate-scheduler migrate
	$(RUN) zapgate-billing migrate

lint: install ## ruff (lint and format check)
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: install ## mypy, strict
	$(RUN) mypy libs/common/src libs/cli/src services/gateway/src services/session-worker/src services/scheduler/src services/billing/src deploy/local

test-unit: install ## Unit tests only (pure domain, no servers)
	$(RUN) pytest tests/unit -q

test-integration: install ## Integration tests (real nats-server and PostgreSQL)
	$(RUN) pytest tests/integration -q

test-e2e: install ## End-to-end tests (the whole system as processes)
	$(RUN) pytest tests/e2e -q

test: lint typecheck ## ruff, mypy and the whole test suite
	$(RUN) pytest -q

screenshots: install ## Run the dashboard's browser test and keep its screenshots in docs/img (needs chromium)
	ZAPGATE_SCREENSHOT_DIR=docs/img $(RUN) pytest tests/e2e/test_dashboard.py -q

bench: install ## Benchmarks on a real stack; figures go to docs/benchmarks.md (BENCH="failover" for one)
	$(RUN) python -m bench $(BENCH)

chaos: install ## Chaos run: sends while workers, a gateway, NATS and PostgreSQL fail; checks nothing was lost (CHAOS="messages sessions [kill_every fault_every] [--cluster]": on a 3-node NATS cluster)
	$(RUN) python bench/chaos.py $(CHAOS)

format: install ## Apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

clean: ## Remove the environment and caches (keeps .zapgate data)
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache
