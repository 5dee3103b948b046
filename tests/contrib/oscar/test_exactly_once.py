"""Exactly once through the Oscar integration: a repeated, reordered or forged callback
moves the Oscar order once at most, and so does the same signal seen twice.

What the app guarantees (a callback is a hint, the invoice is read back and applied
once) is tested in tests/test_callback_*.py; here the Oscar order is what is counted:
its status changes (Oscar's ``OrderStatusChange`` rows), payment events, sources and
source transactions.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from django_invoices import signals
from django_invoices.contrib.oscar import outcomes
from django_invoices.models import CallbackEvent
from django_invoices.testing import deliver_callback, invoice_event

from .conftest import app_invoice, events, oscar_order, status_changes

PENDING = "Pending payment"


def ledger(order):
    """Everything the integration writes on an Oscar order, as stored."""
    order.refresh_from_db()
    return {
        "status": order.status,
        "changes": status_changes(order),
        "events": events(order),
        "sources": list(order.sources.values_list("amount_allocated", "amount_debited")),
        "transactions": sorted(
            order.sources.values_list("transactions__txn_type", "transactions__amount")
        ),
    }


def paid_once(order, invoice):
    reference = str(invoice.provider_id)
    return {
        "status": "Paid",
        "changes": [(PENDING, "Paid")],
        "events": [("Settled", Decimal("24.90"), reference)],
        "sources": [(Decimal("24.90"), Decimal("24.90"))],
        "transactions": [("Debit", Decimal("24.90"))],
    }


def untouched():
    return {"status": PENDING, "changes": [], "events": [], "sources": [], "transactions": []}


@pytest.fixture
def placed(kunapay, place_order):
    place_order()
    order = oscar_order()
    return order, app_invoice(order)


def test_repeated_callbacks_move_the_order_once(kunapay, placed, client):
    order, invoice = placed
    kunapay.fail("callback_twice", invoice=invoice)  # the sandbox sends each one twice
    kunapay.pay(invoice)
    sent = kunapay.deliveries(invoice)
    assert len(sent) == 2 * len({delivery.body for delivery in sent}) >= 4

    # And every one of them once more, correctly signed, after the fact.
    for delivery in sent:
        assert deliver_callback(client, delivery.body).status_code == 200

    assert ledger(order) == paid_once(order, invoice)
    assert outcomes.apply_invoice(invoice.pk) == outcomes.ALREADY


def test_reordered_callbacks_move_the_order_once(kunapay, placed, client):
    order, invoice = placed
    # "PAID" arrives first, the stale "PAYMENT_AWAITING" after it.
    kunapay.fail("callback_out_of_order", invoice=invoice)
    kunapay.pay(invoice)
    statuses = [callback["data"]["status"] for callback in kunapay.callbacks(invoice)]
    assert statuses.index("PAID") < statuses.index("PAYMENT_AWAITING")
    assert ledger(order) == paid_once(order, invoice)

    # Older news still: the invoice as it was created.
    created = invoice_event({**kunapay.data(invoice), "status": "CREATED", "transactions": []})
    assert deliver_callback(client, created).status_code == 200

    assert ledger(order) == paid_once(order, invoice)


def test_forged_callbacks_move_nothing(kunapay, placed, client):
    order, invoice = placed
    claim = invoice_event({**kunapay.data(invoice), "status": "PAID"})

    refused = [
        deliver_callback(client, claim, signature="f" * 96),
        deliver_callback(client, claim, private_key="someone-elses-key"),
    ]

    assert [response.status_code for response in refused] == [401, 401]
    assert CallbackEvent.objects.filter(verified=False).count() == 2
    assert ledger(order) == untouched()
    # The real payment still moves it, once.
    kunapay.pay(invoice)
    assert ledger(order) == paid_once(order, invoice)


def test_a_signed_claim_the_api_does_not_confirm_moves_nothing(kunapay, placed, client):
    order, invoice = placed
    claim = invoice_event({**kunapay.data(invoice), "status": "PAID"})

    # Signed with the account's key, so only a hint: the invoice is read back, and
    # KUNA Pay (the sandbox) says it is still waiting for the buyer.
    assert deliver_callback(client, claim).status_code == 200

    assert kunapay.get(invoice).status == "CREATED"
    assert ledger(order) == untouched()


def test_the_same_signals_again_move_nothing(kunapay, placed, django_capture_on_commit_callbacks):
    order, invoice = placed
    kunapay.pay(invoice)
    assert ledger(order) == paid_once(order, invoice)
    invoice.refresh_from_db()

    # Delivery at least once: every signal the integration listens to, sent again.
    with django_capture_on_commit_callbacks(execute=True):
        signals.invoice_status_changed.send(
            sender=type(invoice), invoice=invoice, old_status="awaiting_payment", new_status="paid"
        )
        signals.invoice_overpaid.send(
            sender=type(invoice), invoice=invoice, expected=Decimal(1), received=Decimal(2)
        )
        signals.deposit_received.send(
            sender=type(invoice.deposits.get()), deposit=invoice.deposits.get(), invoice=invoice
        )
    call_command("invoices_oscar_sync", stdout=StringIO())

    assert ledger(order) == paid_once(order, invoice)


def test_an_order_staff_moved_on_is_not_moved_back(kunapay, placed):
    order, invoice = placed
    kunapay.pay(invoice)
    order.refresh_from_db()
    outcomes.event_handler().handle_order_status_change(order, "Being processed")

    assert outcomes.apply_invoice(invoice.pk) == outcomes.ALREADY
    order.refresh_from_db()
    assert order.status == "Being processed"
    assert status_changes(order) == [(PENDING, "Paid"), ("Paid", "Being processed")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_applying_at_once_move_the_order_once(kunapay, place_order, monkeypatch):
    """Two receivers at the same moment (two workers, a callback and the sweep): the
    Oscar order's row lock lets one record the payment; the other finds it recorded."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL; run with DATABASE_URL=postgres://...")
    place_order()
    order = oscar_order()
    invoice = app_invoice(order)
    # Paid at KUNA Pay and in the app, but not yet on the Oscar order.
    monkeypatch.setattr(outcomes, "apply_invoice", lambda pk: outcomes.OPEN)
    from django_invoices.contrib.oscar import receivers

    monkeypatch.setattr(receivers, "apply_invoice", lambda pk: outcomes.OPEN)
    kunapay.pay(invoice)
    monkeypatch.undo()
    assert ledger(order) == untouched()

    barrier = threading.Barrier(2)
    results = []

    def apply() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(outcomes.apply_invoice(invoice.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=apply) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == sorted([outcomes.APPLIED, outcomes.ALREADY])
    assert ledger(order) == paid_once(order, invoice)
