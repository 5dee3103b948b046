"""The support matrix: the test suite on every Python and Django the classifiers name.

Django 5.2 on Python 3.10-3.13, Django 6.0 and 6.1 on Python 3.12 and 3.13, with the
interpreters pyenv installed (``$(pyenv root)/versions/X.Y.Z/bin/python``). Lint, types
and migrations run once, in ``make test``; these sessions run pytest only.

    nox                                        # the whole matrix
    nox -s "tests(python='3.13', django='6.1')"  # one session
    nox -l                                     # the list

The newest pair (Python 3.13, Django 6.1) also runs the browser tests (skipped without
Chromium unless REQUIRE_BROWSER=1) and, when NOX_POSTGRES_URL names a PostgreSQL
database, the suite again on it.

``payments(...)`` runs the django-payments provider's tests (tests/contrib/payments, on
their own settings) with django-payments on each Django it supports (5.2, 6.0, 6.1),
on Python 3.13; the Django 6.1 session also on PostgreSQL when NOX_POSTGRES_URL is set.

``oscar(...)`` runs the Oscar integration's tests (tests/contrib/oscar, on their own
settings) with django-oscar 4.2 on Django 5.2 (Python 3.12), 6.0 and 6.1 (Python 3.13);
the newest also runs the Oscar how-to in a new project (``make test`` does on the
development venv's Django) and, with NOX_POSTGRES_URL, the tests on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

MATRIX = {
    "5.2": ["3.10", "3.11", "3.12", "3.13"],
    "6.0": ["3.12", "3.13"],
    "6.1": ["3.12", "3.13"],
}
PYTHONS = sorted({python for pythons in MATRIX.values() for python in pythons})
NEWEST = ("3.13", "6.1")
# django-payments 4.1 supports Django 5.2 to 6.1.
PAYMENTS_MATRIX = [("3.13", "5.2"), ("3.13", "6.0"), ("3.13", "6.1")]
# django-oscar 4.2 supports Django 4.2 to 6.1; this app, 5.2 and newer.
OSCAR_MATRIX = [("3.12", "5.2"), ("3.13", "6.0"), ("3.13", "6.1")]


def pyenv_root() -> Path:
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    return Path(out.stdout.strip())


def pyenv_bin(version: str) -> Path | None:
    """The bin/ of pyenv's newest X.Y.Z for ``version``, or None."""
    found = sorted(
        (
            path
            for path in (pyenv_root() / "versions").glob(f"{version}.*")
            if (path / "bin" / f"python{version}").exists()
        ),
        key=lambda path: [int(part) for part in path.name.split(".") if part.isdigit()],
    )
    return found[-1] / "bin" if found else None


# nox finds "pythonX.Y" on PATH: put pyenv's interpreters first, and say clearly which
# are missing (their sessions then fail: error_on_missing_interpreters).
MISSING = [version for version in PYTHONS if pyenv_bin(version) is None]
os.environ["PATH"] = os.pathsep.join(
    [str(pyenv_bin(version)) for version in PYTHONS if version not in MISSING]
    + [os.environ.get("PATH", "")]
)
if MISSING:
    print(
        f"noxfile: Python {', '.join(MISSING)} not installed by pyenv in "
        f"{pyenv_root() / 'versions'}; their sessions fail. Install: pyenv install "
        + " ".join(MISSING)
    )


@nox.session(name="tests")
@nox.parametrize(
    ("python", "django"),
    [(python, django) for django, pythons in MATRIX.items() for python in pythons],
)
def tests(session: nox.Session, django: str) -> None:
    """pytest on SQLite; the newest pair adds the browser tests and PostgreSQL."""
    if session.python in MISSING:
        session.error(f"Python {session.python} is missing: pyenv install {session.python}")
    newest = (session.python, django) == NEWEST
    deps = [
        f"Django~={django}.0",
        ".[testing,demo,openapi,celery,tasks,metrics,otel,healthcheck]",
        "opentelemetry-sdk>=1.20",  # the monitoring tests catch spans in memory
        "docutils",
    ]
    if newest:
        deps += ["playwright>=1.40", "psycopg[binary]>=3.1"]
    session.install(*deps)
    session.run("python", "--version")
    session.run("python", "-m", "django", "--version")
    if not newest:
        # The browser tests run once, in the newest pair's session.
        session.run("python", "-m", "pytest", "-q", "-m", "not browser", *session.posargs)
        return
    session.run("python", "-m", "pytest", "-q", *session.posargs)
    postgres = os.environ.get("NOX_POSTGRES_URL")
    if postgres:
        # The browser tests drive the example shop, which uses SQLite: not again here.
        session.run(
            "python",
            "-m",
            "pytest",
            "-q",
            "-m",
            "not browser",
            *session.posargs,
            env={"DATABASE_URL": postgres},
        )


@nox.session(name="payments")
@nox.parametrize(("python", "django"), PAYMENTS_MATRIX)
def payments(session: nox.Session, django: str) -> None:
    """The django-payments provider's tests on its settings; the newest Django also on
    PostgreSQL, in a database of its own (a tests session may use the usual one)."""
    if session.python in MISSING:
        session.error(f"Python {session.python} is missing: pyenv install {session.python}")
    newest = (session.python, django) == PAYMENTS_MATRIX[-1]
    deps = [f"Django~={django}.0", ".[testing,demo,payments]"]
    if newest:
        deps += ["psycopg[binary]>=3.1"]
    session.install(*deps)
    session.run("python", "-m", "django", "--version")
    session.run("python", "-m", "pip", "show", "django-payments")
    command = [
        "python",
        "-m",
        "pytest",
        "-q",
        "--ds=tests.contrib.payments.settings",
        "tests/contrib/payments",
        *session.posargs,
    ]
    session.run(*command)
    postgres = os.environ.get("NOX_POSTGRES_URL")
    if newest and postgres:
        own = urlsplit(postgres)._replace(path="/invoices_payments").geturl()
        session.run(*command, env={"DATABASE_URL": own})


# Warnings are errors; django-oscar 4.2's own call of an API Django 6.1 deprecates (at
# import, before any test's filter applies) is not ours to fix. The Makefile passes it too.
OSCAR_WARNINGS = [
    "-W",
    "ignore:Calling select_related() with no arguments is deprecated:PendingDeprecationWarning",
]
# Runs a new project's migrations and runserver: once per matrix, and in `make test`.
OSCAR_HOWTO = (
    "tests/contrib/oscar/test_howto.py::test_the_oscar_howto_runs_verbatim_in_a_new_project"
)


@nox.session(name="oscar")
@nox.parametrize(("python", "django"), OSCAR_MATRIX)
def oscar(session: nox.Session, django: str) -> None:
    """The Oscar integration's tests on its settings (tables from the models: Oscar's
    migrations take minutes); the newest pair adds the how-to in a new project and
    PostgreSQL, in a database of its own. The browser test runs in ``make test``."""
    if session.python in MISSING:
        session.error(f"Python {session.python} is missing: pyenv install {session.python}")
    newest = (session.python, django) == OSCAR_MATRIX[-1]
    # sorl-thumbnail and pycountry: what Oscar's own setup installs (see the how-to).
    deps = [f"Django~={django}.0", ".[testing,demo,oscar]", "sorl-thumbnail>=12.10", "pycountry"]
    if newest:
        deps += ["psycopg[binary]>=3.1"]
    session.install(*deps)
    session.run("python", "-m", "django", "--version")
    session.run("python", "-m", "pip", "show", "django-oscar")
    command = [
        "python",
        "-m",
        "pytest",
        "-q",
        "--no-migrations",
        "--ds=tests.contrib.oscar.settings",
        *OSCAR_WARNINGS,
        "-m",
        "not browser",
        "tests/contrib/oscar",
    ]
    if not newest:
        session.run(*command, "--deselect", OSCAR_HOWTO, *session.posargs)
        return
    session.run(*command, *session.posargs)
    postgres = os.environ.get("NOX_POSTGRES_URL")
    if postgres:
        own = urlsplit(postgres)._replace(path="/invoices_oscar").geturl()
        session.run(
            *command, "--deselect", OSCAR_HOWTO, *session.posargs, env={"DATABASE_URL": own}
        )
