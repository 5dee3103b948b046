PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANAGE := cd example_project && ../$(BIN)/python manage.py
MUTATION_CHILDREN ?= 2
MUTATION_TIMEOUT ?= 5400

.PHONY: venv test test-postgres lint typecheck migrations-check package-check schemathesis mutation demo bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,demo]"
	touch $(STAMP)

venv: $(STAMP)

## Whole suite: lint, type check, migrations in step, tests (SQLite, or DATABASE_URL).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy django_invoices
	$(MANAGE) makemigrations --check --dry-run django_invoices invoices_sandbox shop
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy django_invoices

migrations-check: $(STAMP)
	$(MANAGE) makemigrations --check --dry-run django_invoices invoices_sandbox shop

## The wheel a release would upload holds the app, all of it, and nothing else.
package-check: $(STAMP)
	rm -rf build dist
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	$(BIN)/python .ci/check_wheel.py dist/django_invoices-*.whl

## schemathesis against the REST API's own OpenAPI schema, in process (Django's WSGI
## handler, KUNA Pay played by responses): no server error, documented status codes,
## response bodies and content types. Bounded: SCHEMATHESIS_MAX_EXAMPLES (60) examples
## per operation and caller, derandomised, and 15 minutes at most.
schemathesis: $(STAMP)
	timeout 900 $(BIN)/python -m pytest -q contract_tests

## Mutation testing (mutmut, settings in setup.cfg [mutmut]) of the modules that decide
## what a payment means; prints the score. Slow (see docs/mutation.rst): not in CI.
mutation: $(STAMP)
	rm -rf mutants
	timeout $(MUTATION_TIMEOUT) $(BIN)/mutmut run --max-children $(MUTATION_CHILDREN) >/dev/null
	$(BIN)/python .ci/mutation_score.py

## The example shop on http://127.0.0.1:8000 (SQLite, built-in sandbox).
demo: $(STAMP)
	$(MANAGE) migrate --noinput
	$(MANAGE) migrate --noinput --database sandbox
	$(MANAGE) demo_setup
	$(MANAGE) runserver 127.0.0.1:8000

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist mutants *.egg-info example_project/db.sqlite3 example_project/sandbox.sqlite3
