# Quick start: `make run` (the demo on the embedded default) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck clean install translations bench fuzz screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## translations: compile the web UI's message catalogs (Finnish, Swedish)
translations: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d exchange/translations >/dev/null

## run: set up, create keys and the SQLite database, load the demo registry, serve on
## 127.0.0.1:$(PORT) (make run PORT=8080; default 5000); the issuer follows the port
## unless EXCHANGE_ISSUER is set
# The demo prints passwords and serves generated keys' clients: loopback only, whatever the
# command line says.
override HOST := 127.0.0.1
PORT ?= 5000
RUN_ENV := EXCHANGE_ISSUER="$${EXCHANGE_ISSUER:-http://$(HOST):$(PORT)}"
run: translations
	$(RUN_ENV) $(BIN)/exchange demo
	$(RUN_ENV) $(BIN)/exchange serve --host $(HOST) --port $(PORT)

## test: set up and run the whole suite (embedded default unless EXCHANGE_TEST_* URLs are set)
test: translations
	$(BIN)/python -m pytest

## screenshots: the browser tests, then the screenshots the README shows (docs/screenshots/)
## replaced by the fresh ones; the tests save every screenshot into the ignored .cache/screenshots/
screenshots: translations
	EXCHANGE_SCREENSHOTS=$(CURDIR)/.cache/screenshots $(BIN)/python -m pytest -q -n 0 tests/browser
	for shot in docs/screenshots/*.png; do cp ".cache/screenshots/$$(basename $$shot)" "$$shot"; done

## fuzz: the API against its OpenAPI document, 1,000 schemathesis cases per operation
## (make test runs 50); FUZZ_EXAMPLES overrides the count
fuzz: translations
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-1000} $(BIN)/python -m pytest -q tests/test_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .hypothesis

## bench: HTTP load against a Flask echo app, 10k vs 1M stored packets, the audit log at 1M events
## (needs wrk, PostgreSQL and Redis on 127.0.0.1; about 15 minutes); writes bench/RESULTS.md
bench: $(STAMP)
	$(BIN)/python -m pip show py-spy >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet py-spy
	$(BIN)/python bench/http_load.py
	$(BIN)/python bench/stored_packets.py
	$(BIN)/python bench/audit_scale.py --results bench/RESULTS.md
