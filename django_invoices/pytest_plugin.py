"""pytest fixtures for shops that use django-invoices (registered as a ``pytest11`` plugin).

Nothing Django-related is imported before a fixture runs, so the plugin costs nothing in
projects that do not use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import KunaPaySandbox


def _sandbox_database() -> str | None:
    """The sandbox's own database alias, when the settings give it one."""
    try:
        from django.conf import settings

        if not settings.configured or "django_invoices.sandbox" not in settings.INSTALLED_APPS:
            return None
        from .sandbox import conf

        database = conf.database()
    except Exception:  # settings that cannot be read: pytest-django will say why
        return None
    return None if database == "default" else database


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "kunapay_strict",
        type="bool",
        default=True,
        help="django-invoices: the kunapay fixture re-raises exceptions of signal "
        "receivers (default true; false only logs them, as production does)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests using ``kunapay`` may also use the sandbox's own database.

    A shop that gives the sandbox a database of its own (``DJANGO_INVOICES_SANDBOX =
    {"DATABASE": "sandbox"}``) would otherwise have to repeat it in every test's
    ``django_db`` mark. The test's own mark (transaction, other databases) is kept.
    """
    database = None
    for item in items:
        if "kunapay" not in getattr(item, "fixturenames", ()):
            continue
        database = database or _sandbox_database()
        if database is None:
            return
        mark = item.get_closest_marker("django_db")
        kwargs = dict(mark.kwargs) if mark else {}
        databases = kwargs.get("databases")
        if databases == "__all__":
            continue
        kwargs["databases"] = sorted({*(databases or ["default"]), database})
        item.add_marker(pytest.mark.django_db(*(mark.args if mark else ()), **kwargs), False)


@pytest.fixture
def kunapay(db: Any, request: pytest.FixtureRequest) -> Iterator[KunaPaySandbox]:
    """KUNA Pay played by the embedded sandbox, for the length of one test.

    Invoices the shop creates can be read back (``kunapay.get(invoice)``) and paid
    (``kunapay.pay(invoice_or_order)``, ``pay_part``, ``overpay``, ``expire``,
    ``decline``); the callbacks reach the shop's callback view through Django's test
    client. An exception raised by one of the shop's signal receivers is raised again in
    the test (strict mode): set ``kunapay.strict = False``, or ``kunapay_strict = false``
    in the pytest configuration, to have it only logged, as in production.
    """
    from .testing import KunaPaySandbox

    strict = bool(request.config.getini("kunapay_strict"))
    with KunaPaySandbox(strict=strict) as sandbox:
        yield sandbox
