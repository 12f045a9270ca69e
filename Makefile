# batteryloop: `make demo` and `make test` set up a fresh machine by themselves (a .venv in this folder).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: demo test lint typecheck pytest bench-passport bench-health bench-fleet bench-energy clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || (echo "batteryloop needs Python 3.11 or newer (set PYTHON=...)"; exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,scale]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/batteryloop demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

bench-passport: $(VENV)/.installed-dev
	$(BIN)/python bench/passport_api.py

# ingest + Annex VII on a year of 1 Hz data of one battery vs a DuckDB scan and battdat (PEER_PYTHON: its venv)
PEER_PYTHON ?= /tmp/peers/bin/python
bench-health: $(VENV)/.installed-dev
	flock /tmp/bench.lock $(BIN)/python bench/health_throughput.py --peer-python $(PEER_PYTHON)

bench-fleet: $(VENV)/.installed-dev
	flock /tmp/bench.lock $(BIN)/python bench/health_fleet.py

# dispatch against EMHASS and PyPSA, each in its own venv under $(DISPATCH_PEERS) (created by bench/peers/setup.sh)
DISPATCH_PEERS ?= /tmp/dispatch-peers
bench-energy: $(VENV)/.installed-dev
	bench/peers/setup.sh $(DISPATCH_PEERS) || true
	flock /tmp/bench.lock $(BIN)/python bench/energy_peers.py --peers-dir $(DISPATCH_PEERS) --daily-days pypsa=61 --full-timeout 300

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
