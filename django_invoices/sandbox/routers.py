"""Keeps the sandbox's tables in a database of their own, when one is configured.

The sandbox plays another company: with SQLite in particular, sharing the shop's database
file means the shop's open transaction (held while it waits for the API) blocks the
sandbox's writes. Set ``DJANGO_INVOICES_SANDBOX["DATABASE"]`` to another alias and add
``"django_invoices.sandbox.routers.SandboxRouter"`` to ``DATABASE_ROUTERS``.
"""

from __future__ import annotations

from typing import Any

from . import conf

APP_LABEL = "invoices_sandbox"


class SandboxRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return conf.database() if model._meta.app_label == APP_LABEL else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return conf.database() if model._meta.app_label == APP_LABEL else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        alias = conf.database()
        if app_label == APP_LABEL:
            return db == alias
        if alias != "default" and db == alias:
            return False  # the sandbox's own database holds nothing else
        return None
