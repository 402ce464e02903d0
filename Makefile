# brightline: the two front-door commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest test-ray bench bench-install clean

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

test-ray: install  ## Only the Ray scale-out tests (a local Ray instance and a simulated two-node cluster).
	$(BIN)/python -m pytest -m ray

bench-install: install
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	-$(BIN)/python -m pip install --quiet -e ".[bench-video]" || echo "vpdq did not build (needs FFmpeg dev headers): the video bench runs without its baseline"

bench: bench-install  ## Benchmarks against pdqhash, faiss and vpdq, plus the service load test (see bench/README.md).
	$(BIN)/python bench/bench_hashing.py
	$(BIN)/python bench/bench_matching.py
	$(BIN)/python bench/bench_video.py
	$(BIN)/python bench/bench_service.py

clean:
	rm -rf build .mypy_cache .pytest_cache .ruff_cache
