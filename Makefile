# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Dependencies install from requirements/*.lock (hashes checked); bounds live in pyproject.toml.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TOOLS  := .venv-tools
TSTAMP := $(TOOLS)/.installed
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28

.PHONY: demo test lint lint-deploy typecheck bench bench-scale lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml requirements/test.lock | $(BIN)/python
	$(BIN)/python -m pip install -q --require-hashes -r requirements/test.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

$(TSTAMP): requirements/tools.lock
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --require-hashes -r requirements/tools.lock
	touch $(TSTAMP)

demo: $(STAMP)
	$(BIN)/auditor demo --out demo-out

test: $(STAMP)
	$(BIN)/ruff check auditor tests bench
	$(BIN)/mypy --no-incremental
	$(BIN)/lint-imports
	rm -f .coverage .coverage.* coverage.json
	$(BIN)/python -m pytest -n 2 -q --cov=auditor --cov-report= --cov-report=json:coverage.json \
	  | tee .pytest-output
	$(BIN)/python .ci/coverage_floor.py coverage.json
	@tail -n 1 .pytest-output

lint: $(STAMP)
	$(BIN)/ruff check auditor tests bench
	$(BIN)/ruff format --check auditor tests bench

# hadolint, kubectl kustomize | kubernetes-validate, checkov, parliament, terraform fmt
lint-deploy: $(TSTAMP)
	PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" bash deploy/check.sh

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/collect.py
	$(BIN)/python bench/evaluate.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/secrets.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/cycle.py

# distributed collection: 200 accounts x 4 regions on 1, 2, 4 workers (needs PostgreSQL and
# Redis on 127.0.0.1; about half an hour on 2 cores, most of it seeding moto)
bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py --concurrency 4,1

# re-resolve the locks after changing dependencies in pyproject.toml
lock: $(TSTAMP)
	$(TOOLS)/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements/runtime.lock
	$(TOOLS)/bin/uv pip compile pyproject.toml --extra demo --extra test $(LOCK_FLAGS) -o requirements/test.lock
	$(TOOLS)/bin/uv pip compile requirements/tools.in $(LOCK_FLAGS) -o requirements/tools.lock

clean:
	rm -rf $(VENV) $(TOOLS) demo-out .pytest_cache .mypy_cache .ruff_cache
