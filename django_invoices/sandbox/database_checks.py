"""System checks of where the sandbox keeps its tables.

The sandbox plays another company inside the shop's own server. When the shop creates an
invoice it holds a transaction open on its order while it waits for the API's answer;
with SQLite that transaction holds a lock on the whole file, so a sandbox writing to the
same file waits for the shop, which waits for the sandbox, until SQLite gives up with
"database is locked". These checks say what to add before that first request fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.db import router

from . import conf

ROUTER = "django_invoices.sandbox.routers.SandboxRouter"

SEPARATE_DATABASE_HINT = (
    'Give the sandbox a SQLite file of its own: DATABASES["sandbox"] = {"ENGINE": '
    '"django.db.backends.sqlite3", "NAME": BASE_DIR / "sandbox.sqlite3"}, '
    f'DATABASE_ROUTERS = ["{ROUTER}"], DJANGO_INVOICES_SANDBOX = {{"DATABASE": "sandbox"}}, '
    "then run: python manage.py migrate --database sandbox"
)


def configured_databases() -> dict[str, Any]:
    return dict(settings.DATABASES)


def _sqlite_file(databases: dict[str, Any], alias: str) -> str | None:
    """The file behind a SQLite alias; None for other engines and in-memory databases."""
    database = databases.get(alias) or {}
    if "sqlite3" not in str(database.get("ENGINE", "")):
        return None
    name = str(database.get("NAME") or "")
    if not name or name == ":memory:" or "mode=memory" in name:
        # One process only: the pytest plugin answers the API without a second request.
        return None
    return str(Path(name).resolve())


def check_database(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from ..models import Order

    databases = configured_databases()
    alias = conf.database()
    if alias not in databases:
        return [
            Error(
                f'DJANGO_INVOICES_SANDBOX["DATABASE"] names the database "{alias}", which '
                "is not in DATABASES.",
                hint=SEPARATE_DATABASE_HINT,
                id="django_invoices.E102",
            )
        ]
    if alias != "default" and ROUTER not in [str(r) for r in settings.DATABASE_ROUTERS]:
        return [
            Error(
                f'DJANGO_INVOICES_SANDBOX["DATABASE"] is "{alias}" but the sandbox\'s router '
                "is not installed, so its tables would stay in the shop's database.",
                hint=f'Add "{ROUTER}" to DATABASE_ROUTERS.',
                id="django_invoices.E102",
            )
        ]
    shop_file = _sqlite_file(databases, router.db_for_write(Order))
    if shop_file is not None and shop_file == _sqlite_file(databases, alias):
        return [
            Error(
                "The KUNA Pay sandbox shares the shop's SQLite database file: the first "
                'invoice would fail with "database is locked" while the shop\'s '
                "transaction waits for the sandbox's answer.",
                hint=SEPARATE_DATABASE_HINT,
                id="django_invoices.E101",
            )
        ]
    return []


# Registered here rather than by decorators, so the mutation run reaches the functions
# (mutmut leaves decorated functions alone; docs/mutation.rst).
register(check_database)
