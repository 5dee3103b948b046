"""Concurrency under real row locks: PostgreSQL only (SQLite locks the whole file)."""

import json
import threading
import time
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection

from django_invoices import services, signals
from django_invoices.models import Invoice, Order
from django_invoices.statuses import OrderStatus

from .conftest import API, INVOICE_ID

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
        errors = run_threads(
            20, lambda i: changed.append(services.apply_status(invoice, "PAID").changed)
        )
    finally:
        signals.order_paid.disconnect(receiver)
    assert errors == []
    assert changed.count(True) == 1
    assert paid == [order.pk]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
