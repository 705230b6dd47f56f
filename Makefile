# Qpeapay developer commands. `make run` starts the whole product; `make test` runs the suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
NODE_STAMP := node_modules/.installed-$(shell cksum < package.json | cut -d' ' -f1)
TEST_WORKERS ?= 2

.PHONY: install prereqs static run test bench lint typecheck migrate seed-keys keys contracts clean

install: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	rm -f node_modules/.installed-* && touch $@

static: $(NODE_STAMP)
	mkdir -p static/js/vendor static/css
	cp node_modules/htmx.org/dist/htmx.min.js static/js/vendor/htmx.min.js
	cp node_modules/htmx-ext-sse/dist/sse.min.js static/js/vendor/sse.min.js
	node_modules/.bin/tailwindcss -i web/styles/app.css -o static/css/app.css --minify

run: install static
	$(PY) -m backend.dev.stack

# What the machine must have before anything is installed (Python, Node/npm, Chromium): one
# message naming the install command instead of a failure per test.
prereqs:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make test needs Python 3.11+ ($(PYTHON) \
	was not found). Install with: sudo apt-get install -y python3 python3-venv" >&2; exit 1; }
	@$(PYTHON) backend/dev/prereqs.py

test: prereqs install static
	$(PY) -m pytest -n $(TEST_WORKERS) -p no:cacheprovider

bench: install static
	$(PY) -m tests.perf

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy contract backend web workers

migrate: install
	$(VENV)/bin/alembic upgrade head

# The deployment's master seed, once (sealed under KEYS_SECRET; see .env.example).
keys: install
	$(PY) -m backend.keys init

# Recompile the TestUSDT fixture (committed, so tests need no node) with npm solc.
contracts: $(NODE_STAMP)
	node backend/sandbox/contracts/compile.js

clean:
	rm -rf var/test static/css static/js/vendor
