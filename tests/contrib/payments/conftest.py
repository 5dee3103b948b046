"""Only under ``tests.contrib.payments.settings``: the main settings install no
django-payments, so a run on them (``pytest``, nox's ``tests`` sessions, mutmut) leaves
this folder out. A run here that found no test fails (pytest's exit code 5)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

INSTALLED = "django_invoices.contrib.payments"


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    from django.conf import settings

    if INSTALLED not in settings.INSTALLED_APPS:
        return True
    return None


# Fixtures import django-payments when they run: this module is imported on the main
# settings too, where it may not be installed.


@pytest.fixture
def payment(db):
    """A shop's Payment of 42.50 EUR on the ``kunapay`` variant, waiting."""
    from .shop.models import Payment

    return Payment.objects.create(
        variant="kunapay", currency="EUR", total=Decimal("42.50"), description="A pot of tea"
    )


@pytest.fixture
def moves():
    """``(payment pk, status)`` of every ``change_status`` (django-payments'
    ``status_changed``), in order, while the test runs."""
    from payments.signals import status_changed

    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append((instance.pk, instance.status))

    status_changed.connect(receiver, weak=False)
    yield seen
    status_changed.disconnect(receiver)


def send_to_pay(payment):
    """What the shop's view does: ``get_form``, which always redirects; the URL."""
    from payments import RedirectNeeded

    with pytest.raises(RedirectNeeded) as raised:
        payment.get_form()
    return str(raised.value)
