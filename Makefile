# make run   - serve the embedded stack with demo data on http://127.0.0.1:8000
# make test  - run the whole suite (real Redis processes, database, gunicorn, Chromium)
# make test-pg - the suite against PostgreSQL (a fresh database on the local server)
# make migration - regenerate the initial migration from the models (before the first release)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test test-fast test-pg migration migration-add lint format bench bench-pages bench-instructions clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python -m cardshop.serve

test: install
	$(BIN)/python -m pytest

# Skip the slow race/fault drills and browser tests while working locally.
test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser"

# PostgreSQL at CARDSHOP_TEST_PG (default postgres@127.0.0.1:5432, trust auth); each run
# creates its own database and drops it afterwards. Browser tests add nothing here.
test-pg: install
	CARDSHOP_TEST_DB=postgresql $(BIN)/python -m pytest -m "not browser" $(PYTEST_ARGS)

# Rewrite migrations/versions from scratch so one initial migration creates the models'
# schema. Only while no deployed database depends on the old revision; after that use
# `make migration-add MSG="what changed"`.
MIGRATION_DB := $(shell mktemp -u /tmp/cardshop-migration-XXXXXX).db
migration: install
	rm -f migrations/versions/*.py
	DATABASE_URL=sqlite:///$(MIGRATION_DB) $(BIN)/flask --app wsgi db migrate -m "initial schema"
	rm -f $(MIGRATION_DB)*

migration-add: install
	DATABASE_URL=sqlite:///$(MIGRATION_DB) $(BIN)/flask --app wsgi db upgrade
	DATABASE_URL=sqlite:///$(MIGRATION_DB) $(BIN)/flask --app wsgi db migrate -m "$(MSG)"
	rm -f $(MIGRATION_DB)*

lint: install
	$(BIN)/ruff check cardshop tests wsgi.py gunicorn.conf.py
	$(BIN)/ruff format --check cardshop tests wsgi.py gunicorn.conf.py
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix cardshop tests wsgi.py gunicorn.conf.py
	$(BIN)/ruff format cardshop tests wsgi.py gunicorn.conf.py

clean:
	rm -rf $(VENV) instance/cardshop.db* instance/redis tests/artifacts

# Benchmark: own nodes, database and gunicorn; prints a table, writes bench-results/*.json.
bench: install
	$(BIN)/python -m tests.perf.bench $(BENCH_ARGS)

# Instructions per request under callgrind, which do not drift with the machine's speed
# (needs valgrind): make bench-instructions INSTRUCTIONS_ARGS="--tree /tmp/old-checkout"
bench-instructions: install
	$(BIN)/python -m tests.perf.instructions $(INSTRUCTIONS_ARGS)

# The pages that grow with the data, on a seeded database (flask --app wsgi cardshop seed-large):
#   make bench-pages DATABASE_URL=sqlite:///instance/cardshop.db
bench-pages: install
	$(BIN)/python -m tests.perf.pages $(PAGES_ARGS)
