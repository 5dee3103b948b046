PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANAGE := cd example_project && ../$(BIN)/python manage.py

.PHONY: venv test test-postgres lint typecheck migrations-check package-check demo bench clean docs matrix

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,demo]"
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

## What a release would upload: the wheel (all of django_invoices/, nothing else), the
## sdist (tests, docs, example, notes), both passing twine check --strict.
package-check: $(STAMP)
	rm -rf build dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/python .ci/check_wheel.py dist/django_invoices-*.whl dist/django_invoices-*.tar.gz

## The example shop on http://127.0.0.1:8000 (SQLite, built-in sandbox).
demo: $(STAMP)
	$(MANAGE) migrate --noinput
	$(MANAGE) migrate --noinput --database sandbox
	$(MANAGE) demo_setup
	$(MANAGE) runserver 127.0.0.1:8000

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build docs/_generated .nox example_project/db.sqlite3 example_project/sandbox.sqlite3

## The documentation site in docs/_build/html (Sphinx, furo); warnings are errors.
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

## The suite on every supported Python and Django (noxfile.py; pyenv's interpreters).
matrix: $(STAMP)
	$(BIN)/nox
