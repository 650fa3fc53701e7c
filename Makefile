# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[demo,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/auditor demo --out demo-out

test: $(STAMP)
	$(BIN)/ruff check auditor tests bench
	$(BIN)/mypy --no-incremental
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check auditor tests bench
	$(BIN)/ruff format --check auditor tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/collect.py
	$(BIN)/python bench/evaluate.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/cycle.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache .ruff_cache
