# Every target sets itself up: a fresh clone needs only python3 (>= 3.11) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench clean

include deploy.mk

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(BIN)/collection-gateway demo

test: install
	$(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory deploy-check

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check canonical adapters gateway tests collection_gateway examples clients
	$(BIN)/mypy canonical adapters gateway collection_gateway
	$(BIN)/mypy --strict clients/python/src clients/python/examples

bench: install
	$(BIN)/python -m bench.proxy_read
	$(BIN)/python -m bench.accepted_write
	$(BIN)/python -m bench.observability

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache .hypothesis
