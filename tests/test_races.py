"""Concurrency under real row locks: PostgreSQL only (SQLite locks the whole file)."""

import json
import threading
import time
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection
from django.test import Client

from django_invoices import services, signals
from django_invoices.models import CallbackEvent, Deposit, Invoice, Order
from django_invoices.signing import sign_callback
from django_invoices.statuses import OrderStatus

from .conftest import API, INVOICE_ID, apply_status, invoice_payload

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL; run with DATABASE_URL=postgres://...")


def run_threads(count, target):
    barrier = threading.Barrier(count)
    errors = []

    def worker(index):
        try:
            barrier.wait()
            target(index)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_concurrent_create_invoice_makes_one_invoice(api):
    order = Order.objects.create(external_order_id="R-1", amount=Decimal("5"), asset="EUR")

    def slow_create(request):
        time.sleep(0.2)  # the provider takes its time; the others must wait, not POST
        return 200, {}, json.dumps({"data": {"id": INVOICE_ID, "paymentLink": "https://p/1"}})

    api.add_callback("POST", f"{API}/v1/invoice", callback=slow_create)
    results = []
    errors = run_threads(10, lambda i: results.append(services.create_invoice(order).pk))
    assert errors == []
    assert len(set(results)) == 1
    assert len(api.calls) == 1
    assert Invoice.objects.filter(order=order).count() == 1


def test_concurrent_paid_transitions_send_one_order_paid():
    order = Order.objects.create(external_order_id="R-2", amount=Decimal("5"), asset="EUR")
    invoice = Invoice.objects.create(
        provider_id=INVOICE_ID, order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )
    paid = []

    def receiver(sender, **kwargs):
        paid.append(kwargs["order"].pk)

    signals.order_paid.connect(receiver, weak=False)
    try:
        changed = []
        errors = run_threads(20, lambda i: changed.append(apply_status(invoice, "PAID").changed))
    finally:
        signals.order_paid.disconnect(receiver)
    assert errors == []
    assert changed.count(True) == 1
    assert paid == [order.pk]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def _signed_post(payload):
    body = json.dumps(payload).encode()
    return Client().generic(
        "POST",
        "/invoices/callback/default/",
        data=body,
        content_type="application/json",
        headers={"kun-signature": sign_callback("test-private-key", body)},
    )


def test_twenty_identical_paid_callbacks_make_one_transition(api):
    order = Order.objects.create(external_order_id="A-1", amount=Decimal("5"), asset="EUR")
    Invoice.objects.create(
        provider_id=INVOICE_ID, order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    lock = threading.Lock()
    seen = []

    def receiver(sender, signal, **kwargs):
        with lock:
            seen.append(signal)

    signals.order_paid.connect(receiver, weak=False)
    signals.invoice_status_changed.connect(receiver, weak=False)
    statuses = []
    payload = {"event": "Invoice", "data": {"id": INVOICE_ID, "status": "PAID"}}
    try:
        errors = run_threads(20, lambda i: statuses.append(_signed_post(payload).status_code))
    finally:
        signals.order_paid.disconnect(receiver)
        signals.invoice_status_changed.disconnect(receiver)
    assert errors == []
    assert statuses == [200] * 20
    assert seen.count(signals.order_paid) == 1
    assert seen.count(signals.invoice_status_changed) == 1
    # The same body twenty times is one row that counts them (a replay adds no row), and
    # it is settled: by its own read, or by one that covered it.
    event = CallbackEvent.objects.get()
    assert event.times_received == 20
    assert event.state in {"applied", "duplicate"}
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_twenty_different_deposits_at_once_lose_no_update(api, echo_provider):
    from django.core.management import call_command

    order = Order.objects.create(external_order_id="A-1", amount=Decimal("5"), asset="EUR")
    invoice = Invoice.objects.create(
        provider_id=INVOICE_ID, order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )

    def deliver(index):
        payload = {
            "event": "InvoiceDeposit",
            "data": {
                "id": f"tx-{index}",
                "invoiceId": INVOICE_ID,
                "asset": "BTC",
                "amount": f"0.00{index + 10}",
                "processedAmount": f"0.00{index + 10}",
                "status": "Processed",
            },
        }
        assert _signed_post(payload).status_code == 200

    errors = run_threads(20, deliver)
    assert errors == []
    # One request reads at a time; a read that came before a deposit's row was
    # committed (the echo provider lags behind our own database as a real one may lag
    # behind its callbacks) leaves that deposit for the next read, which the sweep makes.
    assert len(api.calls) < 20
    call_command("invoices_process_callbacks")
    assert set(CallbackEvent.objects.values_list("state", flat=True)) == {"applied"}
    assert Deposit.objects.filter(invoice=invoice).count() == 20
    invoice.refresh_from_db()
    assert invoice.paid_amount == sum(Decimal(f"0.00{i + 10}") for i in range(20))


def _waiting_on(invoices, per_invoice):
    """Authentic callbacks stored with a task system: pending, each on its invoice."""
    return CallbackEvent.objects.bulk_create(
        CallbackEvent(
            verified=True,
            invoice=invoice,
            body=json.dumps({"event": "Invoice", "data": {"id": str(invoice.provider_id)}}),
            body_sha256=f"{invoice.pk}-{n}",
        )
        for invoice in invoices
        for n in range(per_invoice)
    )


def test_drains_started_at_once_read_each_invoice_once(api, echo_provider):
    """Eight drains start together over 40 callbacks about 20 invoices: each invoice is
    claimed and read by one drain only, and every callback is settled."""
    import uuid

    from django_invoices.services import pipeline

    order = Order.objects.create(external_order_id="A-1", amount=Decimal("5"), asset="EUR")
    invoices = [
        Invoice.objects.create(
            provider_id=uuid.uuid4(),
            order=order,
            status="expired",
            invoice_amount=order.amount,
            invoice_asset="EUR",
        )
        for _ in range(20)
    ]
    _waiting_on(invoices, 2)
    reads = []
    errors = run_threads(8, lambda index: reads.append(pipeline.drain().invoices_read))
    assert errors == []
    assert sum(reads) == 20
    assert len(api.calls) == 20
    assert set(CallbackEvent.objects.values_list("state", flat=True)) == {"applied"}


def test_one_invoice_is_claimed_by_one_reader_of_many(api):
    """Twenty threads claim one invoice at once: one gets it."""
    from django_invoices.services import queue

    order = Order.objects.create(external_order_id="A-1", amount=Decimal("5"), asset="EUR")
    invoice = Invoice.objects.create(
        provider_id=INVOICE_ID, order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )
    won = []
    errors = run_threads(20, lambda index: won.append(queue.claim(invoice, fast=True)))
    assert errors == []
    assert len([until for until in won if until is not None]) == 1
