# make chat: set up and open the REPL on corpus/.  make test: set up and run every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-pyproject

.PHONY: chat test lint setup clean

setup: $(STAMP)

# Re-install only when pyproject.toml changed. torch comes first, pinned: on this machine pip
# finds a CPU build of 2.13.0, while a bare `torch` requirement would pull GBs of CUDA packages.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

chat: $(STAMP)
	$(BIN)/citebot chat

lint: $(STAMP)
	$(BIN)/ruff check bot retrieval tests benchmarks
	$(BIN)/mypy

test: $(STAMP)
	$(BIN)/ruff check bot retrieval tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .citebot .pytest_cache .mypy_cache
