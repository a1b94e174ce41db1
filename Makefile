# Clout: the README's commands. `make test` and `make run` set everything up from nothing.
# Every install goes through uv.lock (exact versions and hashes); uv itself comes pinned with
# hashes from scripts/uv-requirements.txt into .tools/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# rustup's cargo builds the kernel (README "The two commands"), also in a shell that has not
# sourced ~/.cargo/env.
export PATH := $(HOME)/.cargo/bin:$(PATH)
export UV_PYTHON := $(PYTHON)
export UV_PROJECT_ENVIRONMENT := $(VENV)
NOW = $(shell date -u +%Y-%m-%dT%H:%M:%SZ)

.PHONY: run test lint lint-tools lock lock-upgrade lock-check deps-latest browser prometheus stack-up stack-status stack-down bench clean

$(UV): scripts/uv-requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --require-hashes --no-deps -r scripts/uv-requirements.txt
	touch $(UV)

# The kernel's sources: `uv sync` rebuilds it when they change (kernel/pyproject.toml cache-keys).
KERNEL_SOURCES := kernel/pyproject.toml kernel/Cargo.toml kernel/Cargo.lock $(wildcard kernel/src/*.rs)

# The runtime, dev and bench sets exactly as locked, once the lock is shown to be exactly what
# `make lock` would write (a lock that drifted or lost a line stops here with "run `make lock`").
$(STAMP): pyproject.toml uv.lock $(UV) $(KERNEL_SOURCES)
	$(PYTHON) scripts/check_lock.py
	$(UV) sync --locked --extra dev
	touch $(STAMP)

# Re-lock after editing pyproject.toml: new requirements are resolved, every other pin is kept.
# `make lock-upgrade` moves every package to the newest version pyproject.toml allows.
lock: $(UV)
	$(UV) lock
	$(UV) pip compile -q --generate-hashes scripts/uv-requirements.in -o scripts/uv-requirements.txt

lock-upgrade: $(UV)
	sed -i 's/^exclude-newer = .*/exclude-newer = "$(NOW)"/' pyproject.toml
	$(UV) lock --upgrade

lock-check: $(UV)
	$(PYTHON) scripts/check_lock.py

# Tomorrow's breakage today: the newest allowed versions in a throwaway venv (the lock stays as
# it is), then lint and the unit tests there. Not part of `make test`.
deps-latest: $(UV)
	$(UV) lock --upgrade --dry-run --exclude-newer $(NOW)
	$(UV) venv -q --clear .venv-latest
	$(UV) pip install -q --python .venv-latest --upgrade --exclude-newer $(NOW) -e '.[dev]'
	$(MAKE) --no-print-directory lint-tools BIN=.venv-latest/bin
	.venv-latest/bin/pytest -q -p no:cacheprovider tests/unit

stack-up: $(STAMP)
	$(BIN)/python scripts/stack.py up

stack-status: $(STAMP)
	$(BIN)/python scripts/stack.py status

stack-down: $(STAMP)
	$(BIN)/python scripts/stack.py down

lint: $(STAMP) lint-tools

lint-tools:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_docstrings.py app streams

browser:
	bash scripts/install_browser.sh

# Debian's Prometheus (promtool) and Alertmanager for the alert rules' tests (docs/ops.md "Alerts").
prometheus:
	bash scripts/install_prometheus.sh

test: lint prometheus stack-up browser
	cd kernel && PYO3_PYTHON=$(abspath $(BIN)/python) cargo test --quiet
	$(BIN)/pytest

run: stack-up
	$(BIN)/python scripts/run.py

bench: stack-up
	$(BIN)/clout bench

clean: stack-down
	rm -rf $(VENV) $(TOOLS) .venv-latest .stack data
