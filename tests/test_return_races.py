"""The return view racing a callback: PostgreSQL only (real row locks)."""

import json
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from django_invoices import signals
from django_invoices.models import Invoice, Order
from django_invoices.statuses import InvoiceStatus, OrderStatus

from .conftest import API, INVOICE_ID, apply_status, invoice_payload
from .test_races import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL; run with DATABASE_URL=postgres://...")


@pytest.mark.parametrize("callback_delay", [0.0, 0.05, 0.15])
def test_return_view_refresh_and_callback_send_one_order_paid(api, callback_delay):
    order = Order.objects.create(external_order_id="R-3", amount=Decimal("5"), asset="EUR")
    invoice = Invoice.objects.create(
        provider_id=INVOICE_ID, order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )

    applied = threading.Event()
    answered_after_callback = []

    def slow_detail(request):
        # KUNA Pay answers the page only once the callback was applied. Had the page
        # held a lock the callback needs meanwhile, the callback could not finish and
        # this wait would run out (no timing is measured: the order of events is).
        answered_after_callback.append(applied.wait(10))
        body = {"data": invoice_payload("PAID", externalOrderId="R-3", invoiceAmount="5")}
        return 200, {}, json.dumps(body)

    api.add_callback("GET", f"{API}/v1/invoice/{INVOICE_ID}", callback=slow_detail)
    paid = []

    def receiver(sender, **kwargs):
        paid.append(kwargs["order"].pk)

    pages = []
    transitions = []

    def work(index):
        if index == 0:
            url = reverse("django_invoices:return")
            response = Client().get(url, {"invoiceId": INVOICE_ID, "orderId": "R-3"})
            pages.append(response.status_code)
        else:
            time.sleep(callback_delay)
            transitions.append(apply_status(invoice, "PAID").changed)
            applied.set()

    signals.order_paid.connect(receiver, weak=False)
    try:
        errors = run_threads(2, work)
    finally:
        signals.order_paid.disconnect(receiver)
    assert errors == []
    assert pages == [200]
    assert paid == [order.pk]
    order.refresh_from_db()
    invoice.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert invoice.status == InvoiceStatus.PAID
    if callback_delay >= 0.05:
        # The page was still waiting for KUNA Pay: the callback did not wait behind it,
        # applied PAID itself, and the page's late answer changed nothing.
        assert len(api.calls) == 1
        assert transitions == [True]
        assert answered_after_callback == [True]
