# The README names these targets. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format typecheck imports check bench bench-production bench-scaling bench-streams bench-quality clean

NEWMAN := tests/postman/node_modules/.bin/newman

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# newman, pinned by tests/postman/package-lock.json, runs postman_collection.json in the
# tests (tests/e2e/test_postman_e2e.py). Without npm that test skips (CI_REQUIRE_SERVICES=1
# makes it fail), so a missing npm only says so here.
$(NEWMAN): tests/postman/package.json tests/postman/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/postman --no-audit --no-fund --loglevel=error && touch $(NEWMAN); \
	else echo "npm not found: the Postman collection test will skip"; fi

install: $(STAMP) $(NEWMAN)

run: $(STAMP)  ## install and start the engine (embedded: SQLite + in-process queue)
	$(BIN)/order-engine serve

# pytest-xdist: 3 worker processes, each test file one unit of work (the files
# tests/conftest.py names as serial are one unit together); `make test PYTEST_N=0` runs serially
PYTEST_N ?= 3
test: $(STAMP) $(NEWMAN)  ## install and run the whole test suite
	$(BIN)/pytest -n $(PYTEST_N) --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck imports test  ## everything CI cares about

bench: $(STAMP)  ## embedded-mode benchmark over real HTTP + WebSocket
	$(BIN)/python -m bench.bench_embedded

bench-production: $(STAMP)  ## 1 api + 1 worker on PostgreSQL + Redis + a localnet (chain venues)
	$(BIN)/python -m bench.bench_production --chain

bench-scaling: $(STAMP)  ## production layouts 1x1, 1x2, 2x1 (APIs x workers), chain venues
	$(BIN)/python -m bench.bench_scaling --chain

bench-streams: $(STAMP)  ## 10,000 idle order streams: idle CPU, memory per stream, latency
	$(BIN)/python -m bench.bench_streams

bench-quality: $(STAMP)  ## the router's output vs the best single venue and a brute-force split
	$(BIN)/python -m bench.bench_execution_quality

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache tests/postman/node_modules
