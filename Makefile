# Quorum: `make run` starts the whole platform, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(VENV)/bin/pip
STAMP   = $(VENV)/.installed
PROTOS  = $(shell find protos -name '*.proto')

.PHONY: all install proto run test test-unit test-integration lint bench clean chromium

all: install

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Code generation needs grpcio-tools before the package itself is installed.
gen/python/.stamp: $(PROTOS) $(VENV)/bin/python
	$(PIP) install -q "grpcio-tools==1.85.1"
	$(PY) scripts/gen_protos.py
	touch $@

proto: gen/python/.stamp

$(STAMP): pyproject.toml gen/python/.stamp
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(STAMP)

run: install
	$(VENV)/bin/quorum up

# The browser tests (tests/browser) drive Debian's chromium through Playwright's system-executable launch.
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "chromium is not installed: the browser tests will be skipped (they fail under CI=true)"

test: install chromium
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -ra

test-unit: install
	$(PY) -m pytest -q -ra tests/unit

test-integration: install
	$(PY) -m pytest -q -ra tests/integration

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PIP) install -q -e ".[dev,bench]"
	$(PY) bench/platform.py

clean:
	rm -rf $(VENV) gen/python build *.egg-info
