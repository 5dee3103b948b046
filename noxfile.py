"""The support matrix: the test suite on every Python and Django the classifiers name.

Django 5.2 on Python 3.10-3.13, Django 6.0 and 6.1 on Python 3.12 and 3.13, with the
interpreters pyenv installed (``$(pyenv root)/versions/X.Y.Z/bin/python``). Lint, types
and migrations run once, in ``make test``; these sessions run pytest only.

    nox                                        # the whole matrix
    nox -s "tests(python='3.13', django='6.1')"  # one session
    nox -l                                     # the list

The newest pair (Python 3.13, Django 6.1) also runs the browser tests (skipped without
Chromium unless REQUIRE_BROWSER=1) and, when NOX_POSTGRES_URL names a PostgreSQL
database, the suite again on it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

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
    deps = [f"Django~={django}.0", ".[testing,demo,openapi,celery,tasks]", "docutils"]
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
