"""Survivors of ``services.bulk`` (third pass), pinned by what staff and operators see of
a refresh from the admin:

- an invoice whose read failed, or whose account is not configured, is reported with
  the status it had on both sides;
- staff's refresh reads with the patient client (retries), not the callback's fast one;
- the reads run in threads named ``django-invoices-refresh_N`` (the name in the logs),
  and their requests to KUNA Pay are recorded by the calling thread;
- after an unexpected error nothing of the refresh is still running, and the requests
  already made are recorded;
- an order's current invoice is its open one, even when a newer one has ended.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from django_invoices.models import Invoice, Order, ProviderRequest
from django_invoices.services import Outcome, bulk
from django_invoices.statuses import InvoiceStatus

from .conftest import API, invoice_payload

DETAIL_URL = re.compile(rf"{re.escape(API)}/v1/invoice/[0-9a-f-]{{36}}$")
POOL_PREFIX = "django-invoices-refresh_"


def make_invoice(ref, status=InvoiceStatus.AWAITING_PAYMENT, **fields):
    order = Order.objects.create(external_order_id=ref, amount=Decimal("1"), asset="EUR")
    return Invoice.objects.create(
        provider_id=uuid.uuid4(),
        order=order,
        status=status,
        invoice_amount=Decimal("1"),
        invoice_asset="EUR",
        **fields,
    )


def url_of(invoice):
    return f"{API}/v1/invoice/{invoice.provider_id}"


def answer_awaiting(request):
    invoice_id = request.url.rsplit("/", 1)[1]
    return 200, {}, json.dumps({"data": invoice_payload("PAYMENT_AWAITING", invoice_id)})


def live_pool_threads():
    return [t for t in threading.enumerate() if t.name.startswith(POOL_PREFIX)]


# -- the outcome of an invoice that could not be refreshed --------------------------------


def test_a_read_the_provider_refused_keeps_the_status_on_both_sides(api, db):
    invoice = make_invoice("BM3-refused", status=InvoiceStatus.CONFIRMING)
    api.get(url_of(invoice), status=404, json={"errors": [{"code": "NOT_FOUND"}]})

    [outcome] = bulk.refresh_invoices([invoice], max_workers=1)

    assert outcome.outcome == Outcome.FAILED
    assert outcome.error is not None
    # Staff read "confirming -> confirming": the refresh changed nothing.
    assert (outcome.old_status, outcome.new_status) == ("confirming", "confirming")
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.CONFIRMING


def test_an_invoice_of_an_unconfigured_account_keeps_the_status_on_both_sides(api, db):
    invoice = make_invoice("BM3-gone", status=InvoiceStatus.PARTIALLY_PAID, account="bm3-gone")

    [outcome] = bulk.refresh_invoices([invoice], max_workers=1)

    assert (outcome.outcome, outcome.old_status, outcome.new_status) == (
        Outcome.FAILED,
        "partially_paid",
        "partially_paid",
    )
    assert outcome.reason == "its merchant account bm3-gone is not configured"
    assert not api.calls


# -- how staff's refresh reads ------------------------------------------------------------


def test_staffs_refresh_retries_a_read_the_provider_could_not_answer_at_once(api, db):
    invoice = make_invoice("BM3-retry", status=InvoiceStatus.CREATED)
    # Answered in turn: one passing outage, then the answer. A callback's fast read
    # would give up after the first; staff, who are not on a 2-second clock, should not.
    api.get(url_of(invoice), status=503, json={"errors": []})
    api.get(
        url_of(invoice),
        json={"data": invoice_payload("PAYMENT_AWAITING", str(invoice.provider_id))},
    )

    [outcome] = bulk.refresh_invoices([invoice], max_workers=1)

    assert (outcome.outcome, outcome.new_status) == (Outcome.REFRESHED, "awaiting_payment")
    assert list(
        ProviderRequest.objects.order_by("attempt").values_list("attempt", "status_code")
    ) == [
        (1, 503),
        (2, 200),
    ]


def test_the_reads_run_in_threads_named_after_the_refresh(api, db):
    invoices = [make_invoice(f"BM3-name-{n}") for n in range(2)]
    names = []

    def answer(request):
        names.append(threading.current_thread().name)
        return answer_awaiting(request)

    api.add_callback("GET", DETAIL_URL, callback=answer)

    outcomes = bulk.refresh_invoices(invoices, max_workers=2)

    assert {o.outcome for o in outcomes} == {Outcome.REFRESHED}
    assert len(names) == 2
    # What an operator looks for in the logs to tell a refresh's requests from others.
    assert all(re.fullmatch(r"django-invoices-refresh_\d+", name) for name in names), names


def test_the_requests_of_the_reading_threads_are_recorded(api, db):
    invoices = [make_invoice(f"BM3-recorded-{n}") for n in range(2)]
    api.add_callback("GET", DETAIL_URL, callback=answer_awaiting)

    outcomes = bulk.refresh_invoices(invoices, max_workers=2)

    assert {o.outcome for o in outcomes} == {Outcome.REFRESHED}
    # The health page counts them: one row per read, once the refresh has returned.
    assert sorted(ProviderRequest.objects.values_list("object_id", "result")) == sorted(
        (str(invoice.provider_id), "ok") for invoice in invoices
    )


# -- an unexpected error ------------------------------------------------------------------


def test_after_an_unexpected_error_no_read_is_still_running(api, db):
    failing, slow = make_invoice("BM3-bug"), make_invoice("BM3-slow")
    slow_started, release = threading.Event(), threading.Event()
    slow_answered = threading.Event()

    def answer(request):
        if request.url == url_of(failing):
            # Fail only once the other read is under way, so it is still running then.
            assert slow_started.wait(5)
            raise RuntimeError("a bug in a transport adapter")
        slow_started.set()
        # Bounded: the refresh has to wait for this read whether or not it is released.
        release.wait(1)
        slow_answered.set()
        return answer_awaiting(request)

    api.add_callback("GET", DETAIL_URL, callback=answer)
    try:
        with pytest.raises(RuntimeError, match="a bug in a transport adapter"):
            bulk.refresh_invoices([failing, slow], max_workers=2)

        still_running = live_pool_threads()
        answered = slow_answered.is_set()
    finally:
        release.set()
        for thread in live_pool_threads():
            thread.join(5)

    assert answered
    assert still_running == []
    # The read that did finish is on the health page, as any other.
    assert list(ProviderRequest.objects.values_list("object_id", flat=True)) == [
        str(slow.provider_id)
    ]


# -- an order's current invoice -----------------------------------------------------------


def test_an_orders_current_invoice_is_its_open_one_even_when_a_newer_one_ended(api, db):
    order = Order.objects.create(external_order_id="BM3-current", amount=Decimal("1"), asset="EUR")
    open_one = Invoice.objects.create(
        provider_id=uuid.uuid4(),
        order=order,
        status=InvoiceStatus.AWAITING_PAYMENT,
        invoice_amount=Decimal("1"),
        invoice_asset="EUR",
    )
    ended = Invoice.objects.create(
        provider_id=uuid.uuid4(),
        order=order,
        status=InvoiceStatus.EXPIRED,
        invoice_amount=Decimal("1"),
        invoice_asset="EUR",
    )
    Invoice.objects.filter(pk=open_one.pk).update(created_at=timezone.now() - timedelta(hours=1))
    # Only the open invoice may be read: the strict mock fails a read of the ended one.
    api.get(
        url_of(open_one),
        json={"data": invoice_payload("PAYMENT_AWAITING", str(open_one.provider_id))},
    )

    row = bulk.with_current_invoice(Order.objects.filter(pk=order.pk)).get()
    [outcome] = bulk.refresh_orders([order])

    assert (row.current_invoice_pk, row.current_invoice_status) == (open_one.pk, "awaiting_payment")
    assert outcome.invoice.pk == open_one.pk
    assert outcome.invoice.pk != ended.pk
