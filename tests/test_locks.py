"""Row locks: what takes ``select_for_update`` on the invoice, and in which order.

SQLite cannot show a lock missing, so these tests watch the locks being taken; on
PostgreSQL, ``tests/test_races.py`` shows what they prevent. Each test pins a lock whose
removal, as a hand-made mutant of the core, once survived the suite (docs/mutation.rst).
"""

from decimal import Decimal

import pytest
from django.db.models import QuerySet
from django.test import override_settings

from django_invoices.models import Deposit, Invoice
from django_invoices.statuses import InvoiceStatus

from .callbacks_kit import deposit_event, invoice_event
from .conftest import API, INVOICE_ID, NEWER_ID, apply_invoice_data, apply_status
from .test_callback_view import UNCONFIRMED

# Callbacks are hints: a KUNA Pay that agrees with what they report answers the reads.
pytestmark = pytest.mark.usefixtures("echo_provider")


@pytest.fixture
def locks(monkeypatch):
    """The models locked with ``select_for_update`` during the test, in order.

    SQLite has no row locks (the whole file is locked), so removing a lock changes no
    outcome there; tests/test_races.py shows the effect on PostgreSQL, where concurrent
    workers really race. This fixture makes the omission visible on SQLite too.
    """
    from django_invoices.services import statements

    taken = []
    original = QuerySet.select_for_update

    def spy(self, *args, **kwargs):
        taken.append(self.model.__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "select_for_update", spy)
    # The callback path's own locking statements (services/statements.py).
    for name, model in (("locked_invoice", "Invoice"), ("waiting_events", "CallbackEvent")):
        real = getattr(statements, name)

        def watched(*args, _real=real, _model=model, **kwargs):
            taken.append(_model)
            return _real(*args, **kwargs)

        monkeypatch.setattr(statements, name, watched)
    return taken


def test_applying_a_status_locks_the_invoice(btc_invoice, locks):
    apply_status(btc_invoice, "PAYMENT_AWAITING")
    assert locks == ["Invoice"]


def test_applying_provider_data_locks_the_invoice(btc_invoice, locks):
    apply_invoice_data(btc_invoice, {"id": INVOICE_ID, "status": "PAYMENT_AWAITING"})
    assert locks == ["Invoice"]


@override_settings(DJANGO_INVOICES=UNCONFIRMED)
def test_a_callback_is_applied_under_the_invoices_lock(deliver, btc_invoice, locks):
    deliver(invoice_event("PAYMENT_AWAITING"))
    deliver(deposit_event("tx-1"))
    # Each callback's read is applied under its invoice's lock, taken before any other
    # (the event rows it settles are locked after it).
    assert locks[0] == "Invoice" and locks.count("Invoice") == 2


def test_a_confirmed_paid_callback_is_applied_under_the_invoices_lock(
    deliver, btc_invoice, api, locks
):
    api.get(
        f"{API}/v1/invoice/{INVOICE_ID}",
        json={"data": {"id": INVOICE_ID, "status": "PAID", "transactions": []}},
    )
    deliver(invoice_event("PAID"))
    assert Invoice.objects.get().status == InvoiceStatus.PAID
    assert locks[0] == "Invoice" and locks.count("Invoice") == 1


@override_settings(DJANGO_INVOICES=UNCONFIRMED)
def test_moving_a_deposit_locks_the_invoice_it_leaves(deliver, btc_invoice, locks):
    order = btc_invoice.order
    deliver(deposit_event("tx-1", amount="0.001"))
    assert Invoice.objects.get(pk=btc_invoice.pk).paid_amount == Decimal("0.001")
    Invoice.objects.filter(pk=btc_invoice.pk).update(status=InvoiceStatus.EXPIRED)
    newer = Invoice.objects.create(
        provider_id=NEWER_ID, order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )
    locks.clear()

    apply_invoice_data(
        newer,
        {
            "id": NEWER_ID,
            "status": "PAID",
            "transactions": [deposit_event("tx-1", amount="0.001")["data"]],
        },
    )

    assert Deposit.objects.get().invoice_id == newer.pk
    assert Invoice.objects.get(pk=btc_invoice.pk).paid_amount == Decimal("0")
    assert locks == ["Invoice", "Invoice"]  # the newer one, then the one it leaves
