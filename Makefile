# Clout: the README's commands. `make test` and `make run` set everything up from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
# An editable install that puts the checkout itself on the path ("compat"), so bench/ and
# app/devtools/, which the wheel leaves out (pyproject.toml), import in development.
EDITABLE := --config-settings editable_mode=compat -e

.PHONY: run test lint browser stack-up stack-status stack-down bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(EDITABLE) '.[dev]'
	touch $(STAMP)

stack-up: $(STAMP)
	$(BIN)/python scripts/stack.py up

stack-status: $(STAMP)
	$(BIN)/python scripts/stack.py status

stack-down: $(STAMP)
	$(BIN)/python scripts/stack.py down

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

browser:
	bash scripts/install_browser.sh

test: lint stack-up browser
	$(BIN)/pytest

run: stack-up
	$(BIN)/python scripts/run.py

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q $(EDITABLE) '.[bench]'
	touch $(BENCH_STAMP)

bench: stack-up $(BENCH_STAMP)
	$(BIN)/clout bench

clean: stack-down
	rm -rf $(VENV) .stack data
