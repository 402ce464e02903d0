# brightline: the two front-door commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest bench bench-install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## Create .venv with brightline installed (editable) and the dev tools.

demo: install  ## Bank the bundled photos, scan edited copies and unrelated photos, show matches.
	$(BIN)/brightline demo --workdir build/demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy src/brightline

pytest: install
	$(BIN)/python -m pytest

test: lint typecheck pytest  ## Everything CI runs: lint, mypy --strict, the test suite.

bench-install: install
	$(BIN)/python -m pip install --quiet -e ".[bench]"

bench: bench-install  ## Hashing and matching benchmarks against pdqhash and faiss (see bench/README.md).
	$(BIN)/python bench/bench_hashing.py
	$(BIN)/python bench/bench_matching.py

clean:
	rm -rf build .mypy_cache .pytest_cache .ruff_cache
