"""Queries per request on the hot paths, written down so a regression shows up here.

Counted inside the test's transaction: an ``atomic`` block shows as a SAVEPOINT and
its RELEASE (outside tests, as in ``make bench``, the pair is BEGIN and COMMIT). The
figures are the same on SQLite and PostgreSQL; ``make bench`` prints them with
throughput. Each request to KUNA Pay adds one ``INSERT`` of its record
(``ProviderRequest``, for the admin's health page), outside any lock but
``create_invoice``'s.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from django_invoices import services
from django_invoices.models import CallbackEvent
from django_invoices.statuses import InvoiceStatus, OrderStatus

from .callbacks_kit import deposit_event, invoice_event, post
from .conftest import API, INVOICE_ID, invoice_payload

RETURN = reverse("django_invoices:return")
STATUS = reverse("django_invoices:api-invoice-status")
ASKED = {"invoiceId": INVOICE_ID, "orderId": "A-1"}


@pytest.fixture
def paid(invoice):
    invoice.status = InvoiceStatus.PAID
    invoice.save()
    invoice.order.status = OrderStatus.PAID
    invoice.order.save()
    return invoice


@pytest.fixture
def pending_synced(invoice):
    """Awaiting payment, read from the provider a moment ago: no re-read is due."""
    invoice.status = InvoiceStatus.AWAITING_PAYMENT
    invoice.synced_at = timezone.now() - timedelta(seconds=1)
    invoice.save()
    return invoice


# -- the customer's return and the status API --------------------------------------------


@pytest.mark.parametrize("url", [RETURN, STATUS], ids=["return view", "status API"])
def test_a_paid_invoice_takes_one_query(client, api, paid, url, django_assert_num_queries):
    # SELECT invoice JOIN order (by provider id and external order id). Nothing else:
    # the provider is not asked, the page needs nothing more.
    with django_assert_num_queries(1):
        response = client.get(url, ASKED)
    assert response.status_code == 200
    assert len(api.calls) == 0


@pytest.mark.parametrize("url", [RETURN, STATUS], ids=["return view", "status API"])
def test_a_recently_synced_pending_invoice_takes_one_query(
    client, api, pending_synced, url, django_assert_num_queries
):
    # SELECT invoice JOIN order. Within REFRESH_MIN_INTERVAL the stored status is shown.
    with django_assert_num_queries(1):
        response = client.get(url, ASKED)
    assert response.status_code == 200
    assert len(api.calls) == 0


@pytest.mark.parametrize("url", [RETURN, STATUS], ids=["return view", "status API"])
def test_a_re_read_without_news_takes_seven_queries(
    client, api, invoice, url, django_assert_num_queries
):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("CREATED")})
    # SELECT invoice JOIN order; INSERT the request's record; then under the lock:
    # SAVEPOINT, SELECT ... FOR UPDATE invoice and order, SELECT ... FOR UPDATE the
    # callback events the read may settle (none), UPDATE invoice (synced_at), RELEASE.
    # No sum of deposits: the answer carried none.
    with django_assert_num_queries(7):
        response = client.get(url, ASKED)
    assert response.status_code == 200
    assert len(api.calls) == 1


# -- callbacks -----------------------------------------------------------------------------


def test_a_status_callback_takes_eleven_queries_and_one_read(
    client, api, invoice, django_assert_num_queries
):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAYMENT_AWAITING")})
    # Store: SELECT the invoice it names, with whether the same news was applied
    # already; INSERT event. Claim: UPDATE the invoice's lease. Then GET
    # /v1/invoice/{id} (INSERT its record) and under the locks: SAVEPOINT; SELECT ...
    # FOR UPDATE invoice and order; SELECT ... FOR UPDATE the pending events the read
    # may settle; UPDATE order (new -> awaiting payment); UPDATE invoice (the changed
    # fields, the lease given back); UPDATE events; RELEASE.
    with django_assert_num_queries(11):
        response = post(client, invoice_event("PAYMENT_AWAITING"))
    assert response.json()["state"] == CallbackEvent.State.APPLIED
    assert len(api.calls) == 1


def test_a_deposit_callback_takes_fourteen_queries_and_one_read(
    client, api, invoice, django_assert_num_queries
):
    listed = {**deposit_event("tx-1")["data"], "type": "Deposit"}
    api.get(
        f"{API}/v1/invoice/{INVOICE_ID}",
        json={"data": invoice_payload("CONFIRMATION_AWAITING", transactions=[listed])},
    )
    # As a status callback, plus what the read's transactions cost: SELECT deposit by
    # its id; INSERT deposit; SELECT SUM of credited deposits. The body's own amount is
    # never written.
    with django_assert_num_queries(14):
        response = post(client, deposit_event("tx-1", amount="999999"))
    assert response.json()["state"] == CallbackEvent.State.APPLIED
    assert len(api.calls) == 1


def test_a_duplicate_callback_takes_two_queries_and_no_read(
    client, api, invoice, django_assert_num_queries
):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAYMENT_AWAITING")})
    assert post(client, invoice_event("PAYMENT_AWAITING")).json()["state"] == "applied"
    # SELECT the invoice with whether the same news was applied (it was: the first);
    # INSERT the event, a duplicate already. The read that applied the first came after
    # this news.
    with django_assert_num_queries(2):
        response = post(client, invoice_event("PAYMENT_AWAITING"))
    assert response.json()["state"] == CallbackEvent.State.DUPLICATE
    assert len(api.calls) == 1


def test_a_burst_of_pending_callbacks_about_one_invoice_costs_one_read(
    client, api, invoice, django_assert_num_queries
):
    # The provider was down while five callbacks arrived: all five stayed pending.
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", status=503, json={"errors": []})
    for status in ("PAYMENT_AWAITING", "CONFIRMATION_AWAITING", "PAID", "PAID", "PAID"):
        post(client, invoice_event(status, updatedAt=f"t-{status}-{CallbackEvent.objects.count()}"))
    assert set(CallbackEvent.objects.values_list("state", flat=True)) == {"pending"}
    api.replace("GET", f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    calls_before = len(api.calls)

    # A drain starts (UPDATE the schedule twice), finds no event to place (SELECT) and
    # one invoice waiting (SELECT), loads and claims it (SELECT, UPDATE), then reads it
    # once (INSERT its record) and under the locks: SAVEPOINT; SELECT ... FOR UPDATE
    # invoice and order, and the five pending events; UPDATE order, invoice, events;
    # RELEASE. Then it looks for more waiting (SELECT): none.
    with django_assert_num_queries(15):
        counts = services.drain_callbacks(due_only=False).counts

    assert len(api.calls) - calls_before == 1
    assert counts == {"applied": 5}
    assert set(CallbackEvent.objects.values_list("outcome", flat=True)) == {
        "read 'PAID': created -> paid"
    }


# -- checkout ------------------------------------------------------------------------------


def test_create_invoice_for_an_order_with_an_open_invoice_takes_four_queries(
    api, invoice, django_assert_num_queries
):
    order = invoice.order
    # SAVEPOINT; SELECT order FOR UPDATE; SELECT its open invoice; RELEASE. No HTTP.
    with django_assert_num_queries(4):
        found = services.create_invoice(order)
    assert found == invoice
    with django_assert_num_queries(0):  # the locked order comes with it
        assert found.order.pk == order.pk
    assert len(api.calls) == 0


def test_create_invoice_for_a_new_order_takes_seven_queries(api, order, django_assert_num_queries):
    api.post(f"{API}/v1/invoice", json={"data": invoice_payload("CREATED")})
    # SAVEPOINT; SELECT order FOR UPDATE; SELECT its open invoice (none); POST and
    # INSERT its record (the one statement monitoring adds under the lock); INSERT
    # invoice; UPDATE order (awaiting payment); RELEASE. The provider's "CREATED" needs
    # no second save, and the caller's order is updated from the locked copy.
    with django_assert_num_queries(7):
        invoice = services.create_invoice(order)
    assert invoice.status == InvoiceStatus.CREATED
    assert order.status == OrderStatus.AWAITING_PAYMENT
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
