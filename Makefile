# ordermesh — `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB_VENDOR := src/ordermesh/entrypoints/web/static/vendor
WEB_STAMP := $(WEB_VENDOR)/.installed
PYTEST_ARGS ?=

.PHONY: run test lint bench install services web-assets chromium wrk clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The dashboard's JavaScript (htmx, Chart.js) comes from the npm registry, pinned by the lock
# file, copied into an ignored folder: never vendored in git, never loaded from a CDN.
$(WEB_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p $(WEB_VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/chart.js/dist/chart.umd.js $(WEB_VENDOR)/
	touch $(WEB_STAMP)

web-assets: $(WEB_STAMP)

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# The API benchmark's load generator: a C client, so that the load does not compete with the
# server for the same two cores as a Python one would.
wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)

run: $(STAMP) web-assets
	$(BIN)/ordermesh demo

services:
	@scripts/ensure-services.sh

test: $(STAMP) web-assets chromium services
	$(BIN)/python -m pytest -q -p no:cacheprovider -n auto $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: $(STAMP) web-assets services wrk
	$(BIN)/python -m bench --only all

clean:
	rm -rf $(VENV) var node_modules $(WEB_VENDOR) .pytest_cache .mypy_cache .ruff_cache
