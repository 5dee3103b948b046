"""The admin back office: actions, permissions, read-only views, query counts."""

import json
import re
import threading
import time
import uuid
from decimal import Decimal

import pytest
import requests
from django import forms
from django.contrib.admin import AdminSite
from django.contrib.admin import site as admin_site
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django.utils.text import capfirst

from django_invoices.admin import OrderAdmin, actions, display
from django_invoices.admin.forms import OrderAdminForm, asset_choices
from django_invoices.exceptions import (
    AuthenticationFailed,
    NotFound,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderValidationError,
    RateLimited,
)
from django_invoices.models import CallbackEvent, Deposit, Invoice, Order
from django_invoices.statuses import InvoiceStatus, OrderStatus

from .conftest import API, invoice_payload

CREATE_URL = f"{API}/v1/invoice"
DETAIL_URL = re.compile(rf"{re.escape(API)}/v1/invoice/[0-9a-f-]{{36}}$")
ASSETS_URL = f"{API}/v1/invoice/assets"

ORDERS = reverse("admin:django_invoices_order_changelist")
INVOICES = reverse("admin:django_invoices_invoice_changelist")
DEPOSITS = reverse("admin:django_invoices_deposit_changelist")
CALLBACKS = reverse("admin:django_invoices_callbackevent_changelist")


# -- helpers ---------------------------------------------------------------------------


def make_order(ref="A-1", **fields):
    fields.setdefault("amount", Decimal("42.50"))
    fields.setdefault("asset", "EUR")
    fields.setdefault("email", f"{ref.lower()}@example.com")
    return Order.objects.create(external_order_id=ref, **fields)


def make_invoice(order, status=InvoiceStatus.CREATED, provider_id=None):
    return Invoice.objects.create(
        provider_id=provider_id or uuid.uuid4(),
        order=order,
        status=status,
        provider_status="CREATED",
        invoice_amount=order.amount,
        invoice_asset=order.asset,
        payment_url="https://pay.example/i/1",
    )


def run_action(client, changelist, action, objects):
    """Post an admin action; return the messages staff see on the page it leads to."""
    response = client.post(
        changelist,
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
        follow=True,
    )
    assert [status for _url, status in response.redirect_chain] == [302]
    assert response.status_code == 200
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def refused(client, changelist, action, obj):
    """Whether posting ``action`` ran nothing: no success, nothing but "No action selected"."""
    response = client.post(changelist, {"action": action, "_selected_action": [obj.pk]})
    assert response.status_code in (200, 302)
    return [str(m) for m in get_messages(response.wsgi_request)] in ([], ["No action selected."])


def texts(messages, level):
    return [text for tag, text in messages if tag == level]


@pytest.fixture
def staff_client(client, django_user_model):
    """A logged-in staff user holding only the given permissions of this app."""

    def login(*codenames):
        user = django_user_model.objects.create_user("staff", password="x", is_staff=True)
        user.user_permissions.set(
            Permission.objects.filter(
                content_type__app_label="django_invoices", codename__in=codenames
            )
        )
        client.force_login(user)
        return client

    return login


def created_by_provider(request):
    """KUNA Pay creating an invoice: a fresh id for each request."""
    return 200, {}, json.dumps({"data": {"id": str(uuid.uuid4()), "paymentLink": "https://p/1"}})


def detail(status="PAID", **extra):
    """KUNA Pay answering GET /v1/invoice/{id} with the requested id."""

    def answer(request):
        invoice_id = request.url.rsplit("/", 1)[1]
        return 200, {}, json.dumps({"data": invoice_payload(status, invoice_id, **extra)})

    return answer


# -- create invoice --------------------------------------------------------------------


def test_create_action_creates_an_invoice_per_order(admin_client, api):
    orders = [make_order("A-1"), make_order("A-2")]
    api.add_callback("POST", CREATE_URL, callback=created_by_provider)

    messages = run_action(admin_client, ORDERS, "create_invoices", orders)

    assert texts(messages, "success") == ["Created invoices for 2 orders: A-1, A-2."]
    assert len(messages) == 1
    for order in orders:
        order.refresh_from_db()
        assert order.status == OrderStatus.AWAITING_PAYMENT
        assert order.invoices.get().status == InvoiceStatus.CREATED


def test_create_action_skips_paid_and_open_orders_and_reports_refusals(admin_client, api):
    paid = make_order("P-1", status=OrderStatus.PAID)
    with_open = make_order("O-1")
    open_invoice = make_invoice(with_open)
    fine = make_order("F-1")
    refused = make_order("R-1", asset="XYZ")

    def provider(request):
        if json.loads(request.body)["externalOrderId"] == "R-1":
            errors = [{"code": "BAD_REQUEST", "message": "asset is not supported"}]
            return 400, {}, json.dumps({"errors": errors})
        return created_by_provider(request)

    api.add_callback("POST", CREATE_URL, callback=provider)

    messages = run_action(admin_client, ORDERS, "create_invoices", [paid, with_open, fine, refused])

    assert texts(messages, "success") == ["Created an invoice for 1 order: F-1."]
    assert texts(messages, "warning") == [
        "Skipped 1 order: P-1. The order is already paid.",
        f"Skipped 1 order: O-1. It already has the open invoice {open_invoice}.",
    ]
    [error] = texts(messages, "error")
    assert error.startswith("Could not create an invoice for 1 order: R-1.")
    assert "asset is not supported" in error
    assert Invoice.objects.filter(order=fine).count() == 1
    assert not Invoice.objects.filter(order__in=[paid, refused]).exists()
    assert Invoice.objects.filter(order=with_open).get() == open_invoice
    assert len(api.calls) == 2  # F-1 and R-1 only


def test_a_skip_for_a_reason_that_is_a_sentence_reads_as_sentences(admin_client, api):
    order = make_order("shop-4-89a9d2f9", status=OrderStatus.PARTIALLY_PAID)
    messages = run_action(admin_client, ORDERS, "create_invoices", [order])
    assert messages == [
        (
            "warning",
            "Skipped 1 order: shop-4-89a9d2f9. Order shop-4-89a9d2f9 was partly paid; "
            "settle the rest with the customer.",
        )
    ]
    assert not api.calls


def test_create_action_twice_creates_no_second_invoice(admin_client, api):
    order = make_order("A-1")
    api.add_callback("POST", CREATE_URL, callback=created_by_provider)

    run_action(admin_client, ORDERS, "create_invoices", [order])
    messages = run_action(admin_client, ORDERS, "create_invoices", [order])

    invoice = Invoice.objects.get(order=order)
    assert messages == [
        ("warning", f"Skipped 1 order: A-1. It already has the open invoice {invoice}.")
    ]
    assert len(api.calls) == 1


def test_create_action_during_an_outage_fails_with_a_message_not_a_500(admin_client, api):
    orders = [make_order("A-1"), make_order("A-2"), make_order("A-3")]
    api.post(CREATE_URL, body=requests.ConnectionError("connection refused"))
    # The look-up of an invoice the failed POST may have made meets the same outage.
    api.get(CREATE_URL, body=requests.ConnectionError("connection refused"))

    response = admin_client.post(
        ORDERS,
        {"action": "create_invoices", "_selected_action": [o.pk for o in orders]},
        follow=True,
    )

    assert response.status_code == 200
    messages = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert texts(messages, "success") == []
    assert texts(messages, "error") == [
        "Could not create an invoice for 1 order: A-1. "
        "KUNA Pay could not be reached; try again later.",
        "Could not create invoices for 2 orders: A-2, A-3. "
        "Not attempted after KUNA Pay became unavailable.",
    ]
    assert not Invoice.objects.exists()
    # Only the first order was tried; the others did not wait out the same failure.
    posts = [call.request for call in api.calls if call.request.method == "POST"]
    assert [json.loads(post.body)["externalOrderId"] for post in posts] == ["A-1"]
    for order in orders:
        order.refresh_from_db()
        assert order.status == OrderStatus.NEW


def test_create_action_timeout_is_reported_as_such(admin_client, api):
    order = make_order("A-1")
    api.post(CREATE_URL, body=requests.ReadTimeout("slow"))
    api.get(CREATE_URL, status=503, json={"errors": [{"code": "DOWN", "message": "down"}]})

    messages = run_action(admin_client, ORDERS, "create_invoices", [order])

    [error] = texts(messages, "error")
    assert "KUNA Pay did not answer in time" in error
    order.refresh_from_db()
    assert order.needs_reconciliation is True  # the next attempt looks up first


# -- refresh orders --------------------------------------------------------------------


def test_refresh_orders_action_refreshes_the_current_invoice(admin_client, api):
    first, second, bare = make_order("A-1"), make_order("A-2"), make_order("A-3")
    make_invoice(first, status=InvoiceStatus.EXPIRED)
    current = make_invoice(first)
    other = make_invoice(second)
    api.add_callback("GET", DETAIL_URL, callback=detail("PAID"))

    messages = run_action(admin_client, ORDERS, "refresh_orders", [first, second, bare])

    assert texts(messages, "success") == [
        "Refreshed the invoices of 2 orders from KUNA Pay: A-1, A-2."
    ]
    assert texts(messages, "warning") == ["Skipped 1 order: A-3. The order has no invoice yet."]
    assert {call.request.url.rsplit("/", 1)[1] for call in api.calls} == {
        str(current.provider_id),
        str(other.provider_id),
    }
    for order in (first, second):
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID


def test_refresh_orders_action_reports_each_failure(admin_client, api):
    good, lost = make_order("A-1"), make_order("A-2")
    make_invoice(good)
    gone = make_invoice(lost)

    def provider(request):
        if request.url.endswith(str(gone.provider_id)):
            return 404, {}, json.dumps({"errors": [{"code": "NOT_FOUND", "message": "no such"}]})
        return detail("PAYMENT_AWAITING")(request)

    api.add_callback("GET", DETAIL_URL, callback=provider)

    messages = run_action(admin_client, ORDERS, "refresh_orders", [good, lost])

    assert texts(messages, "success") == ["Refreshed the invoice of 1 order from KUNA Pay: A-1."]
    [error] = texts(messages, "error")
    assert error.startswith("Could not refresh 1 order: A-2. KUNA Pay does not know this invoice")
    assert "no such" in error


# -- refresh invoices ------------------------------------------------------------------


def test_refresh_invoices_action_applies_the_providers_answer(admin_client, api):
    invoices = [make_invoice(make_order(f"A-{i}")) for i in range(3)]

    def with_deposit(request):
        invoice_id = request.url.rsplit("/", 1)[1]
        deposit = {"id": f"tx-{invoice_id}", "status": "Processed", "processedAmount": "42.5"}
        data = invoice_payload("PAID", invoice_id, transactions=[deposit])
        return 200, {}, json.dumps({"data": data})

    api.add_callback("GET", DETAIL_URL, callback=with_deposit)

    messages = run_action(admin_client, INVOICES, "refresh_invoices", invoices)

    assert messages == [("success", "Refreshed 3 invoices from KUNA Pay; 3 changed status.")]
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.paid_amount == Decimal("42.5")
        assert invoice.synced_at is not None
        assert invoice.deposits.count() == 1


def test_refresh_invoices_action_one_failure_does_not_stop_the_rest(admin_client, api):
    invoices = [make_invoice(make_order(f"A-{i}")) for i in range(5)]
    broken = invoices[2]

    def provider(request):
        if request.url.endswith(str(broken.provider_id)):
            return 500, {}, json.dumps({"errors": [{"code": "OOPS", "message": "boom"}]})
        return detail("PAYMENT_AWAITING")(request)

    api.add_callback("GET", DETAIL_URL, callback=provider)

    messages = run_action(admin_client, INVOICES, "refresh_invoices", invoices)

    assert texts(messages, "success") == ["Refreshed 4 invoices from KUNA Pay; 4 changed status."]
    [error] = texts(messages, "error")
    assert error.startswith(f"Could not refresh 1 invoice: {broken}. KUNA Pay is unavailable")
    assert "boom" in error
    statuses = {inv.pk: inv.status for inv in Invoice.objects.all()}
    assert statuses.pop(broken.pk) == InvoiceStatus.CREATED
    assert set(statuses.values()) == {InvoiceStatus.AWAITING_PAYMENT}


def test_refresh_invoices_action_during_an_outage_shows_a_message(admin_client, api):
    invoices = [make_invoice(make_order(f"A-{i}")) for i in range(3)]
    api.get(DETAIL_URL, body=requests.ConnectionError("connection refused"))

    response = admin_client.post(
        INVOICES,
        {"action": "refresh_invoices", "_selected_action": [i.pk for i in invoices]},
        follow=True,
    )

    assert response.status_code == 200
    [(tag, text)] = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert tag == "error"
    assert text.startswith("Could not refresh 3 invoices:")
    assert text.endswith(". KUNA Pay could not be reached; try again later.")
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.CREATED}


def test_refreshing_200_invoices_sends_overlapping_requests_and_updates_all(admin_client, api):
    invoices = [make_invoice(make_order(f"A-{i:03}")) for i in range(200)]
    lock = threading.Lock()
    in_flight = 0
    peak = 0

    def slow_provider(request):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            time.sleep(0.01)
            return detail("PAID")(request)
        finally:
            with lock:
                in_flight -= 1

    api.add_callback("GET", DETAIL_URL, callback=slow_provider)

    messages = run_action(admin_client, INVOICES, "refresh_invoices", invoices)

    assert messages == [("success", "Refreshed 200 invoices from KUNA Pay; 200 changed status.")]
    assert len(api.calls) == 200
    assert peak > 1, "requests went out one after another"
    assert peak <= 8  # the pool is bounded
    assert Invoice.objects.filter(status=InvoiceStatus.PAID, synced_at__isnull=False).count() == 200
    assert Order.objects.filter(status=OrderStatus.PAID).count() == 200


# -- permissions -----------------------------------------------------------------------


def test_staff_without_the_permissions_see_the_data_but_no_actions(staff_client, api):
    client = staff_client("view_order", "view_invoice")
    order = make_order("A-1")
    invoice = make_invoice(make_order("A-2"))

    orders_page = client.get(ORDERS)
    invoices_page = client.get(INVOICES)

    assert orders_page.status_code == invoices_page.status_code == 200
    assert b"A-1" in orders_page.content
    assert str(invoice.provider_id).encode() in invoices_page.content
    for page in (orders_page, invoices_page):
        assert b"create_invoices" not in page.content
        assert b"refresh_orders" not in page.content
        assert b"refresh_invoices" not in page.content

    # Posting the actions anyway does nothing.
    for changelist, action, obj in (
        (ORDERS, "create_invoices", order),
        (ORDERS, "refresh_orders", invoice.order),
        (INVOICES, "refresh_invoices", invoice),
    ):
        assert refused(client, changelist, action, obj)
    assert not api.calls
    assert not order.invoices.exists()


def test_each_permission_unlocks_its_own_actions_only(staff_client, api):
    client = staff_client("view_order", "view_invoice", "create_invoice_remote")
    order = make_order("A-1")
    invoice = make_invoice(make_order("A-2"))

    orders_page = client.get(ORDERS).content
    assert b'value="create_invoices"' in orders_page
    assert b'value="refresh_orders"' not in orders_page
    assert refused(client, INVOICES, "refresh_invoices", invoice)
    assert refused(client, ORDERS, "refresh_orders", invoice.order)
    assert not api.calls

    api.add_callback("POST", CREATE_URL, callback=created_by_provider)
    messages = run_action(client, ORDERS, "create_invoices", [order])
    assert texts(messages, "success") == ["Created an invoice for 1 order: A-1."]


def test_refresh_permission_unlocks_both_refresh_actions(staff_client, api):
    client = staff_client("view_order", "view_invoice", "refresh_invoice_remote")
    invoice = make_invoice(make_order("A-1"))
    api.add_callback("GET", DETAIL_URL, callback=detail("PAID"))

    assert b'value="refresh_orders"' in client.get(ORDERS).content
    assert b'value="create_invoices"' not in client.get(ORDERS).content
    assert b'value="refresh_invoices"' in client.get(INVOICES).content
    messages = run_action(client, INVOICES, "refresh_invoices", [invoice])
    assert texts(messages, "success") == ["Refreshed 1 invoice from KUNA Pay; 1 changed status."]


def test_mirrored_data_cannot_be_edited_added_or_deleted(admin_client):
    invoice = make_invoice(make_order("A-1"))
    deposit = Deposit.objects.create(provider_id="tx-1", invoice=invoice, status="Processed")
    event = CallbackEvent.objects.create(body="{}", body_sha256="0" * 64)
    for model, obj in (("invoice", invoice), ("deposit", deposit), ("callbackevent", event)):
        change = reverse(f"admin:django_invoices_{model}_change", args=[obj.pk])
        page = admin_client.get(change)
        assert page.status_code == 200
        assert b'name="_save"' not in page.content
        assert admin_client.post(change, {}).status_code == 403
        assert admin_client.get(reverse(f"admin:django_invoices_{model}_add")).status_code == 403
        delete = reverse(f"admin:django_invoices_{model}_delete", args=[obj.pk])
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403


# -- what staff see --------------------------------------------------------------------


def test_order_changelist_shows_status_current_invoice_and_searches(admin_client):
    order = make_order("A-1", email="buyer@example.com")
    make_invoice(order, status=InvoiceStatus.EXPIRED)
    current = make_invoice(order, status=InvoiceStatus.AWAITING_PAYMENT)
    make_order("B-2", email="other@example.com")

    page = admin_client.get(ORDERS).content.decode()

    current_url = reverse("admin:django_invoices_invoice_change", args=[current.pk])
    # Narrow: the id's first block links to the invoice, the whole id in the tooltip.
    short = str(current.provider_id)[:8]
    assert f'<a href="{current_url}" title="{current.provider_id}">{short}…</a>' in page
    assert "42.50 EUR" in page
    assert "background:#6c757d" in page  # "New" as a badge
    for term, expected in (
        ("A-1", {"A-1"}),
        ("Other@Example.com", {"B-2"}),
        ("other@example", set()),  # whole values only, through an index
        (str(current.provider_id), {"A-1"}),
        (f" {str(current.provider_id).upper()} ", {"A-1"}),
        (current.provider_id.hex, {"A-1"}),
        # An invoice id is looked up whole, through its unique index: a piece of one
        # would need a scan of every invoice.
        (str(current.provider_id)[:8], set()),
    ):
        result = admin_client.get(ORDERS, {"q": term})
        assert {str(o) for o in result.context["cl"].result_list} == expected, term


def test_order_changelist_filters_by_status_and_asset(admin_client):
    make_order("A-1", asset="EUR")
    make_order("A-2", asset="USDT", status=OrderStatus.PAID)
    by_asset = admin_client.get(ORDERS, {"asset": "USDT"}).context["cl"].result_list
    by_status = admin_client.get(ORDERS, {"status__exact": "paid"}).context["cl"].result_list
    assert [str(o) for o in by_asset] == [str(o) for o in by_status] == ["A-2"]


def test_invoice_page_mirrors_the_provider_with_link_payload_and_inlines(admin_client):
    invoice = make_invoice(make_order("A-1"))
    Invoice.objects.filter(pk=invoice.pk).update(
        raw_payload={"id": str(invoice.provider_id), "status": "CREATED", "extra": [1, 2]}
    )
    Deposit.objects.create(
        provider_id="tx-42",
        invoice=invoice,
        status="Processed",
        asset="USDT",
        amount=Decimal("27.390000000000000000"),
        fee=Decimal("0E-18"),
        tx_id="0x" + "ab" * 32,
    )
    CallbackEvent.objects.create(
        invoice=invoice,
        body="{}",
        body_sha256="0" * 64,
        event_name="invoice.status",
        verified=True,
        state=CallbackEvent.State.APPLIED,
    )

    page = admin_client.get(
        reverse("admin:django_invoices_invoice_change", args=[invoice.pk])
    ).content.decode()

    assert '<a href="https://pay.example/i/1" target="_blank"' in page
    assert "&quot;extra&quot;: [\n    1,\n    2\n  ]" in page  # indented JSON
    assert "tx-42" in page
    assert "27.39 USDT" in page and "27.39000" not in page  # no stored trailing zeros
    assert re.search(r'field-fee_display">\s*<p>0.00 USDT</p>', page)
    assert f'<span title="0x{"ab" * 32}">0xabababab…ababababab</span>' in page
    assert "invoice.status" in page


def test_callback_events_hide_signatures_and_filter_by_verification_and_state(admin_client):
    secret = "f" * 96
    verified = CallbackEvent.objects.create(
        body='{"event": "invoice", "data": {"id": "1"}}',
        body_sha256="1" * 64,
        headers={"kun-signature": secret, "Content-Type": "application/json"},
        verified=True,
        state=CallbackEvent.State.APPLIED,
        object_id="obj-applied",
    )
    CallbackEvent.objects.create(
        body="not json",
        body_sha256="2" * 64,
        headers={"Kun-Signature": secret, "X-Api-Key": "leaked?"},
        verified=False,
        state=CallbackEvent.State.REJECTED,
        object_id="obj-rejected",
    )
    CallbackEvent.objects.create(
        body="{}", body_sha256="3" * 64, verified=True, object_id="obj-pending"
    )

    def listed(**params):
        page = admin_client.get(CALLBACKS, params)
        assert page.status_code == 200
        return {e.object_id for e in page.context["cl"].result_list}

    assert listed(verified__exact="1") == {"obj-applied", "obj-pending"}
    assert listed(verified__exact="0") == {"obj-rejected"}
    assert listed(state__exact="rejected") == {"obj-rejected"}
    assert listed(state__exact="pending") == {"obj-pending"}
    assert listed(state__exact="applied") == {"obj-applied"}

    pages = [admin_client.get(CALLBACKS).content.decode()]
    for event in CallbackEvent.objects.all():
        change = reverse("admin:django_invoices_callbackevent_change", args=[event.pk])
        pages.append(admin_client.get(change).content.decode())
    for page in pages:
        assert secret not in page
        assert "leaked?" not in page
        assert "test-private-key" not in page
        assert "test-api-key" not in page
    detail_page = pages[1 + list(CallbackEvent.objects.all()).index(verified)]
    assert "[hidden]" in detail_page
    assert "application/json" in detail_page


# -- the asset field -------------------------------------------------------------------


def test_order_form_offers_the_providers_assets_from_the_cache(admin_client, api):
    api.get(
        ASSETS_URL,
        json={
            "data": [
                {"code": "USDT", "name": "Tether", "position": 2},
                {"code": "EUR", "name": "Euro", "position": 1},
            ]
        },
    )
    add = reverse("admin:django_invoices_order_add")

    page = admin_client.get(add).content.decode()
    admin_client.get(add)

    assert '<select name="asset"' in page
    assert '<option value="EUR">EUR (Euro)</option>' in page
    assert '<option value="USDT">USDT (Tether)</option>' in page
    assert len(api.calls) == 1  # the second form came from the cache

    response = admin_client.post(
        add, {"external_order_id": "A-1", "amount": "10", "asset": "BTC", "email": ""}
    )
    assert response.status_code == 200  # not offered by the provider: refused
    assert not Order.objects.exists()
    response = admin_client.post(
        add, {"external_order_id": "A-1", "amount": "10", "asset": "USDT", "email": ""}
    )
    assert response.status_code == 302
    assert Order.objects.get().asset == "USDT"


def test_a_slow_provider_keeps_the_order_form_waiting_briefly(admin_client, api):
    api.get(ASSETS_URL, body=requests.ReadTimeout("slow"))
    add = reverse("admin:django_invoices_order_add")

    first = admin_client.get(add)
    assert len(api.calls) == 1  # one try with the short timeout, no retries
    second = admin_client.get(add)

    assert first.status_code == second.status_code == 200
    assert '<input type="text" name="asset"' in second.content.decode()
    # Its quick give-up is not remembered as an outage for everyone else.
    assert len(api.calls) == 2


def test_order_form_falls_back_to_free_text_when_the_provider_is_down(admin_client, api):
    api.get(ASSETS_URL, body=requests.ConnectionError("down"))
    add = reverse("admin:django_invoices_order_add")

    page = admin_client.get(add)

    assert page.status_code == 200
    content = page.content.decode()
    assert '<input type="text" name="asset"' in content
    assert "list of assets could not be loaded" in content
    response = admin_client.post(
        add, {"external_order_id": "A-1", "amount": "10", "asset": "EUR", "email": ""}
    )
    assert response.status_code == 302
    assert Order.objects.get().asset == "EUR"


def test_what_was_sent_to_the_provider_is_read_only_once_invoiced(admin_client, api):
    order = make_order("A-1")
    make_invoice(order)
    page = admin_client.get(reverse("admin:django_invoices_order_change", args=[order.pk]))
    assert page.status_code == 200
    assert b'name="amount"' not in page.content
    assert b'name="asset"' not in page.content
    assert not api.calls  # no need for the asset list either


# -- query counts ----------------------------------------------------------------------


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def add_rows(start, count):
    for i in range(start, start + count):
        order = make_order(f"Q-{i:03}", asset="EUR" if i % 2 else "USDT")
        make_invoice(order, status=InvoiceStatus.EXPIRED)
        invoice = make_invoice(order)
        Deposit.objects.create(provider_id=f"tx-{i}", invoice=invoice, status="Processed")
        CallbackEvent.objects.create(
            invoice=invoice, body="{}", body_sha256=f"{i:064}", object_id=str(i)
        )


@pytest.mark.parametrize("changelist", [ORDERS, INVOICES, DEPOSITS, CALLBACKS])
def test_changelists_run_the_same_number_of_queries_for_1_and_50_rows(admin_client, changelist):
    add_rows(0, 1)
    admin_client.get(changelist)  # warm up (content types, session)
    one = count_queries(admin_client, changelist)

    add_rows(1, 49)
    fifty = count_queries(admin_client, changelist)

    assert one == fifty


# -- re-apply callbacks ----------------------------------------------------------------


def _stored_event(order, state, verified=True):
    invoice = Invoice.objects.filter(order=order).first() or make_invoice(order)
    body = json.dumps(
        {"event": "Invoice", "data": {"id": str(invoice.provider_id), "status": "PAID"}}
    )
    return CallbackEvent.objects.create(
        body=body,
        body_sha256="x",
        verified=verified,
        state=state,
        event_name="Invoice",
        object_id=str(invoice.provider_id),
        provider_status="PAID",
        dedupe_key=f"k-{state}-{verified}",
    )


def test_reapply_applies_pending_events_and_skips_the_rest(api, staff_client):
    order = make_order()
    pending = _stored_event(order, CallbackEvent.State.PENDING)
    # What changes the order is the provider's answer to the read the event sets off.
    api.get(DETAIL_URL, json={"data": invoice_payload("PAID", invoice_id=pending.object_id)})
    forged = _stored_event(order, CallbackEvent.State.REJECTED, verified=False)
    client = staff_client("refresh_invoice_remote", "view_callbackevent")
    messages = run_action(client, CALLBACKS, "reapply_callbacks", [pending, forged])
    pending.refresh_from_db()
    forged.refresh_from_db()
    assert pending.state == CallbackEvent.State.APPLIED
    assert forged.state == CallbackEvent.State.REJECTED
    assert Order.objects.get().status == OrderStatus.PAID
    assert texts(messages, "success") == ["Re-applied 1 callback events (Applied: 1)."]
    assert texts(messages, "info") == [
        "Skipped 1 event: only authentic pending or failed events are applied."
    ]


def test_reapply_while_the_provider_is_down_keeps_the_event_pending(api, staff_client):
    api.get(DETAIL_URL, status=503, json={"errors": []})
    event = _stored_event(make_order(), CallbackEvent.State.PENDING)
    messages = run_action(
        staff_client("refresh_invoice_remote", "view_callbackevent"),
        CALLBACKS,
        "reapply_callbacks",
        [event],
    )
    event.refresh_from_db()
    assert event.state == CallbackEvent.State.PENDING
    assert texts(messages, "warning") == ["Re-applied 1 callback events (Pending: 1)."]


def test_reapply_needs_the_refresh_permission(staff_client):
    event = _stored_event(make_order(), CallbackEvent.State.PENDING)
    client = staff_client("view_callbackevent")
    assert "reapply_callbacks" not in client.get(CALLBACKS).content.decode()
    assert refused(client, CALLBACKS, "reapply_callbacks", event)
    event.refresh_from_db()
    assert event.state == CallbackEvent.State.PENDING


def test_a_forged_deeply_nested_body_still_shows(admin_client):
    body = "[" * 50_000 + "]" * 50_000
    event = CallbackEvent.objects.create(body=body, body_sha256="x", state="rejected")
    url = reverse("admin:django_invoices_callbackevent_change", args=[event.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "[[[[" in response.content.decode()


# -- hostile data on admin pages -------------------------------------------------------


@pytest.mark.parametrize("signed", [True, False])
def test_a_callback_with_a_lone_surrogate_shows_in_the_admin(admin_client, signed):
    from .callbacks_kit import KEY, post

    raw = json.dumps({"event": "Invoice", "data": {"id": "x", "status": "\ud800"}}).encode()
    response = post(admin_client, raw=raw, key=KEY, signature=None if signed else "")
    assert response.status_code == (400 if signed else 401)
    event = CallbackEvent.objects.get()

    page = admin_client.get(reverse("admin:django_invoices_callbackevent_change", args=[event.pk]))

    assert page.status_code == 200
    assert "\\ud800" in page.content.decode()  # shown as it came, not re-encoded


@pytest.mark.parametrize(
    ("assets", "offered"),
    [
        # A position that is not a number sorts first; items without a code are left out.
        ([{"code": "USDT", "position": 1}, {"code": "EUR", "position": "2"}], ["EUR", "USDT"]),
        ([{"code": "USDT", "position": 1}, {"code": None}, {"code": 5}], ["USDT"]),
        ([{"code": "USDT", "position": True}, {"code": "EUR", "position": None}], ["EUR", "USDT"]),
    ],
)
def test_odd_provider_assets_never_break_the_order_form(admin_client, api, assets, offered):
    api.get(f"{API}/v1/invoice/assets", json={"data": assets})

    page = admin_client.get(reverse("admin:django_invoices_order_add"))

    assert page.status_code == 200
    assert re.findall(r'<option value="(\w+)"', page.content.decode()) == offered


# -- deleting orders -------------------------------------------------------------------


def test_an_invoiced_order_offers_no_delete_and_says_why(admin_client):
    invoiced = make_order("A-1")
    make_invoice(invoiced)
    bare = make_order("B-1")

    page = admin_client.get(reverse("admin:django_invoices_order_change", args=[invoiced.pk]))
    text = page.content.decode()
    delete_url = reverse("admin:django_invoices_order_delete", args=[invoiced.pk])
    assert delete_url not in text
    assert "An order with an invoice cannot be deleted" in text
    assert "have permission" not in text
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403

    bare_page = admin_client.get(reverse("admin:django_invoices_order_change", args=[bare.pk]))
    bare_text = bare_page.content.decode()
    assert reverse("admin:django_invoices_order_delete", args=[bare.pk]) in bare_text
    assert "data-delete-refusal" not in bare_text


def test_delete_action_keeps_invoiced_orders_and_names_them(admin_client):
    invoiced = make_order("A-1")
    make_invoice(invoiced)
    bare = make_order("B-1")

    confirm = admin_client.post(
        ORDERS, {"action": "delete_selected", "_selected_action": [invoiced.pk, bare.pk]}
    )
    assert confirm.status_code == 200
    text = confirm.content.decode()
    # Django's confirmation page, for the order that can go only, and no permission talk.
    assert "Are you sure" in text
    assert "B-1" in text and "permission" not in text
    assert [str(m) for m in get_messages(confirm.wsgi_request)] == [
        "Kept 1 order: A-1. An order with an invoice cannot be deleted: the invoice is the "
        "record of what KUNA Pay was asked to collect."
    ]
    assert list(confirm.context["queryset"]) == [bare]

    done = admin_client.post(
        ORDERS, {"action": "delete_selected", "_selected_action": [bare.pk], "post": "yes"}
    )
    assert done.status_code == 302
    assert list(Order.objects.values_list("external_order_id", flat=True)) == ["A-1"]


def test_delete_action_with_only_invoiced_orders_deletes_nothing(admin_client):
    invoiced = make_order("A-1")
    make_invoice(invoiced)
    messages = run_action(admin_client, ORDERS, "delete_selected", [invoiced])
    assert texts(messages, "warning") == [
        "Kept 1 order: A-1. An order with an invoice cannot be deleted: the invoice is the "
        "record of what KUNA Pay was asked to collect."
    ]
    assert Order.objects.count() == 1


# -- amounts ---------------------------------------------------------------------------


def test_order_page_and_its_invoices_show_amounts_as_the_list_does(admin_client):
    invoiced = make_order("A-1", amount=Decimal("59"))
    invoice = make_invoice(invoiced)
    Invoice.objects.filter(pk=invoice.pk).update(paid_amount=Decimal("64.9"), payment_asset="USDT")
    bare = make_order("B-1", amount=Decimal("24.9"))

    text = admin_client.get(
        reverse("admin:django_invoices_order_change", args=[invoiced.pk])
    ).content.decode()
    assert "59.000" not in text
    assert re.search(r'field-amount_display">.*?<div class="readonly">59.00 EUR</div>', text, re.S)
    assert re.search(r'field-invoice_amount_display">\s*<p>59.00 EUR</p>', text)
    assert re.search(r'field-paid_amount_display">\s*<p>64.90 USDT</p>', text)
    assert "59.00 EUR" in admin_client.get(ORDERS).content.decode()

    form = admin_client.get(reverse("admin:django_invoices_order_change", args=[bare.pk]))
    assert 'name="amount" value="24.90"' in form.content.decode()


# -- the callback log ------------------------------------------------------------------


def test_callback_list_names_the_status_and_what_a_refused_event_claims(admin_client):
    order = make_order("A-1")
    invoice = make_invoice(order)
    CallbackEvent.objects.create(
        body="{}",
        body_sha256="1" * 64,
        verified=True,
        state=CallbackEvent.State.APPLIED,
        event_name="Invoice",
        object_id=str(invoice.provider_id),
        provider_status="PAYMENT_AWAITING",
        invoice=invoice,
    )
    forged = CallbackEvent.objects.create(
        body=json.dumps({"event": "Invoice", "data": {"id": "forged-1", "status": "PAID"}}),
        body_sha256="2" * 64,
        headers={"kun-signature": "present"},
        state=CallbackEvent.State.REJECTED,
        outcome="bad_signature",
    )

    text = admin_client.get(CALLBACKS).content.decode()
    assert "PROVIDER STATUS" in text.upper()
    assert '<td class="field-provider_status_display">PAYMENT_<wbr>AWAITING</td>' in text
    claim = 'title="What the refused body claims; not verified."'
    assert f"<i {claim}>forged-1</i>" in text
    assert f"<i {claim}>PAID</i>" in text
    assert "bad_signature" in text

    change = reverse("admin:django_invoices_callbackevent_change", args=[forged.pk])
    detail = admin_client.get(change).content.decode()
    title = re.search(r"<title>(.*?)</title>", detail).group(1)
    assert title.startswith(f"Callback {forged.pk} refused: bad_signature |")
    assert "?" not in title
    # The stored headers read as the docs say: whether a signature came, not its value.
    assert "&quot;kun-signature&quot;: &quot;present&quot;" in detail
    assert "[hidden]" not in detail


def test_a_pending_event_shows_the_invoice_it_names(admin_client):
    invoice = make_invoice(make_order("A-1"))
    event = CallbackEvent.objects.create(
        body=json.dumps({"event": "Invoice", "data": {"id": str(invoice.provider_id)}}),
        body_sha256="1" * 64,
        verified=True,
        event_name="Invoice",
        object_id=str(invoice.provider_id),
        provider_status="PAID",
    )
    change = reverse("admin:django_invoices_callbackevent_change", args=[event.pk])
    detail = admin_client.get(change).content.decode()
    invoice_url = reverse("admin:django_invoices_invoice_change", args=[invoice.pk])
    assert f'<a href="{invoice_url}">{invoice}</a>' in detail


def test_a_paid_callback_left_pending_by_an_outage_is_linked_to_its_invoice(api, db):
    from django_invoices import services
    from django_invoices.signing import sign_callback
    from django_invoices.testing import callback_body

    invoice = make_invoice(make_order("A-1"))
    api.add("GET", DETAIL_URL, status=503)
    body = callback_body(
        {"event": "Invoice", "data": {"id": str(invoice.provider_id), "status": "PAID"}}
    )
    stored = services.handle_callback(
        "default", body, {"kun-signature": sign_callback("test-private-key", body)}
    )
    assert stored.rejection == ""
    event = stored.event
    assert event.state == CallbackEvent.State.PENDING
    event.refresh_from_db()
    assert event.state == CallbackEvent.State.PENDING
    assert event.invoice == invoice


# -- what the action messages say ------------------------------------------------------


def test_orders_skipped_for_the_same_reason_share_one_message(admin_client, api):
    paid = [make_order(f"P-{i}", status=OrderStatus.PAID) for i in (1, 2)]

    messages = run_action(admin_client, ORDERS, "create_invoices", paid)

    assert messages == [("warning", "Skipped 2 orders: P-1, P-2. The order is already paid.")]
    assert not api.calls


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (None, "Unknown error."),
        (ProviderTimeout("read timed out"), "KUNA Pay did not answer in time; try again later."),
        (ProviderUnavailable("refused"), "KUNA Pay could not be reached; try again later."),
        (
            ProviderUnavailable("down", status_code=503),
            "KUNA Pay is unavailable right now; try again later (HTTP 503: down).",
        ),
        (
            AuthenticationFailed("bad key", status_code=401),
            "KUNA Pay refused the shop's credentials; check the API keys (HTTP 401: bad key).",
        ),
        (
            RateLimited("slow down", status_code=429),
            "KUNA Pay asked us to slow down; try again in a minute (HTTP 429: slow down).",
        ),
        (
            NotFound("no such invoice", status_code=404),
            "KUNA Pay does not know this invoice (HTTP 404: no such invoice).",
        ),
        (
            ProviderValidationError("asset is not supported", status_code=400),
            "KUNA Pay answered: HTTP 400: asset is not supported.",
        ),
    ],
)
def test_each_provider_error_reads_as_advice_for_staff(error, advice):
    assert actions.describe_error(error) == advice


def test_a_provider_refusal_is_quoted_whole_in_the_failure_message(admin_client, api):
    errors = [{"code": "BAD_REQUEST", "message": "asset is not supported"}]
    api.post(CREATE_URL, status=400, json={"errors": errors})

    messages = run_action(admin_client, ORDERS, "create_invoices", [make_order("R-1")])

    [error] = texts(messages, "error")
    assert error.startswith("Could not create an invoice for 1 order: R-1. KUNA Pay answered: ")
    assert error.endswith("asset is not supported.")


def test_a_long_list_of_names_stops_at_twenty_and_says_how_many_more():
    assert actions.NAMES_SHOWN == 20
    twenty = [f"A-{i}" for i in range(1, 21)]
    assert actions.names(twenty) == ", ".join(twenty)
    assert actions.names([*twenty, "A-21", "A-22", "A-23"]) == f"{', '.join(twenty)} and 3 more"


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        ("the order is already paid", "The order is already paid."),
        (" Settle the rest with the customer. ", "Settle the rest with the customer."),
        ("Was it paid twice?", "Was it paid twice?"),
        ("Paid twice!", "Paid twice!"),
    ],
)
def test_a_reason_reads_as_one_sentence(reason, shown):
    assert actions.sentence(reason) == shown


# -- long identifiers in narrow columns ------------------------------------------------


def test_an_id_is_shown_by_its_first_block_and_whole_in_its_tooltip():
    assert display.short_id(None) == display.short_id("") == "-"
    assert display.short_id("obj-12345678") == "obj-12345678"  # 12 characters: whole
    assert str(display.short_id("506c695a-4187")) == (
        '<span title="506c695a-4187">506c695a…</span>'
    )


def test_a_status_is_a_coloured_label_and_nothing_is_a_dash():
    style = (
        "display:inline-block;padding:1px 8px;border-radius:9px;background:{};color:#fff;"
        "font-size:11px;font-weight:600;white-space:nowrap"
    )
    assert str(display.badge("paid", "Paid")) == (
        f'<span style="{style.format("#198754")}">Paid</span>'
    )
    # A status the palette does not know yet is grey, like the other settled ones.
    assert str(display.badge("refunded", "Refunded")) == (
        f'<span style="{style.format("#6c757d")}">Refunded</span>'
    )
    assert display.badge("", "Nothing") == display.badge(None, "Nothing") == "-"


def test_amounts_links_and_stored_text_as_staff_read_them():
    assert display.amount(Decimal("59")) == "59.00"
    assert display.amount(Decimal("0.001081670000"), "BTC") == "0.00108167 BTC"
    assert display.amount(None, "EUR") == "-"
    assert display.change_link("admin", Order, None, "A-1") == "-"
    url = reverse("admin:django_invoices_order_change", args=[7])
    assert str(display.change_link("admin", Order, 7, "A-1")) == f'<a href="{url}">A-1</a>'
    assert str(display.pretty_json([])) == (
        '<pre style="white-space:pre-wrap;margin:0;max-height:32em;overflow:auto">[]</pre>'
    )


def test_a_long_id_is_cut_in_the_middle_and_whole_in_its_tooltip():
    assert display.shortened("") == "-"
    fits = "0x" + "ab" * 9 + "c"  # 21 characters: the 10 kept at each end and one between
    assert display.shortened(fits) == fits
    longer = fits + "d"
    assert str(display.shortened(longer)) == (
        f'<span title="{longer}">0xabababab…ababababcd</span>'
    )


# -- the order form ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assets", "current", "choices"),
    [
        (
            [{"code": "EUR", "name": "Euro"}, {"code": "USDT", "name": "Tether"}],
            "",
            [("EUR", "EUR (Euro)"), ("USDT", "USDT (Tether)")],
        ),
        # A blank code is left out, and those after it still count.
        ([{"code": " "}, {"code": "EUR", "name": "Euro"}], "", [("EUR", "EUR (Euro)")]),
        # No name, a blank one, or the code again: the code alone.
        (
            [{"code": "BTC"}, {"code": "ETH", "name": " "}, {"code": "TRX", "name": "TRX"}],
            "",
            [("BTC", "BTC"), ("ETH", "ETH"), ("TRX", "TRX")],
        ),
        # The order's own asset stays offered once the provider no longer lists it ...
        ([{"code": "EUR", "name": "Euro"}], "UAH", [("EUR", "EUR (Euro)"), ("UAH", "UAH")]),
        # ... and is not offered twice while it does.
        ([{"code": "EUR", "name": "Euro"}], "EUR", [("EUR", "EUR (Euro)")]),
    ],
)
def test_asset_choices_label_each_code_with_its_name(assets, current, choices):
    assert asset_choices(assets, current=current) == choices


def test_asset_choices_add_nothing_without_a_current_asset():
    assert asset_choices([{"code": "EUR", "name": "Euro"}]) == [("EUR", "EUR (Euro)")]


def test_the_asset_list_is_required_and_explained(db, api):
    api.get(ASSETS_URL, json={"data": [{"code": "EUR", "name": "Euro", "position": 1}]})

    form = OrderAdminForm()

    field = form.fields["asset"]
    assert field.choices == [("", "---------"), ("EUR", "EUR (Euro)")]
    assert field.required is True
    assert field.help_text == "Assets KUNA Pay accepts for invoices."
    with translation.override("uk"):
        # The model's label, in the staff's language, as for every other field.
        label = str(form["asset"].label)
        assert label == str(capfirst(Order._meta.get_field("asset").verbose_name))
        assert label != "Asset"

    empty = {"external_order_id": "A-1", "amount": "10", "asset": "", "email": ""}
    refused = OrderAdminForm(data=empty)
    assert not refused.is_valid()
    assert refused.errors["asset"] == ["This field is required."]


def test_without_the_asset_list_the_form_says_what_to_type(db, api):
    api.get(ASSETS_URL, body=requests.ConnectionError("down"))

    field = OrderAdminForm().fields["asset"]

    assert field.help_text == (
        "KUNA Pay's list of assets could not be loaded; type the asset code "
        "(for example EUR or USDT)."
    )


def test_an_order_keeps_its_asset_on_offer_after_the_provider_drops_it(admin_client, api):
    api.get(ASSETS_URL, json={"data": [{"code": "EUR", "name": "Euro", "position": 1}]})
    order = make_order("A-1", asset="UAH")

    page = admin_client.get(reverse("admin:django_invoices_order_change", args=[order.pk]))

    options = re.findall(r'<option value="(\w*)"( selected)?>', page.content.decode())
    assert options == [("", ""), ("EUR", ""), ("UAH", " selected")]


def test_an_amount_in_an_add_link_is_shown_as_written(admin_client, api):
    api.get(ASSETS_URL, json={"data": [{"code": "EUR", "name": "Euro", "position": 1}]})
    add = reverse("admin:django_invoices_order_add")

    for amount in ("24.900", "not a number"):
        page = admin_client.get(add, {"amount": amount})
        assert page.status_code == 200
        assert f'name="amount" value="{amount}"' in page.content.decode()


# -- the order page ----------------------------------------------------------------------


def test_the_add_page_offers_to_save(admin_client, api):
    api.get(ASSETS_URL, json={"data": [{"code": "EUR", "name": "Euro", "position": 1}]})

    page = admin_client.get(reverse("admin:django_invoices_order_add")).content.decode()

    assert 'name="_save"' in page
    assert 'name="_continue"' in page


def test_an_order_opened_from_a_filtered_list_goes_back_to_that_list(admin_client):
    order = make_order("A-1")
    make_invoice(order)
    change = reverse("admin:django_invoices_order_change", args=[order.pk])

    page = admin_client.get(change, {"_changelist_filters": "status__exact=new"})

    assert page.status_code == 200
    assert 'action="?_changelist_filters=status__exact%3Dnew"' in page.content.decode()


def test_an_invoiced_order_still_shows_its_status_and_dates(admin_client):
    order = make_order("A-1")
    invoice = make_invoice(order)

    page = admin_client.get(reverse("admin:django_invoices_order_change", args=[order.pk]))

    text = page.content.decode()
    for field in (
        "external_order_id",
        "amount_display",
        "asset",
        "status",
        "current_invoice",
        "reconciliation_issue",
        "created_at",
        "updated_at",
    ):
        assert re.search(rf'class="[^"]*field-{field}\b', text), field
    assert str(invoice.provider_id)[:8] in text


def test_a_shops_own_order_form_cannot_edit_the_link_to_the_shop_object(rf, admin_user):
    class ShopOrderAdmin(OrderAdmin):
        form = forms.ModelForm  # a shop's admin with a form of its own, for every field

    request = rf.get("/")
    request.user = admin_user

    form = ShopOrderAdmin(Order, AdminSite()).get_form(request)

    assert "content_type" not in form.base_fields
    assert "object_id" not in form.base_fields
    assert "email" in form.base_fields


# -- work handed to a task system --------------------------------------------------------


def test_a_selection_up_to_the_threshold_runs_at_once_and_a_larger_one_is_queued(
    admin_client, api, queued, settings, django_capture_on_commit_callbacks
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "TASKS_ADMIN_THRESHOLD": 2}
    invoices = [make_invoice(make_order(f"A-{i}")) for i in range(3)]
    api.add_callback("GET", DETAIL_URL, callback=detail("PAID"))

    at_once = run_action(admin_client, INVOICES, "refresh_invoices", invoices[:2])
    with django_capture_on_commit_callbacks(execute=True):
        later = run_action(admin_client, INVOICES, "refresh_invoices", invoices)

    assert at_once == [("success", "Refreshed 2 invoices from KUNA Pay; 2 changed status.")]
    assert later == [
        (
            "info",
            "Queued 3 invoices for a refresh from KUNA Pay in 1 task. Workers apply them in "
            "the background; these lists show each result.",
        )
    ]
    assert [sorted(result.args[0]) for result in queued] == [sorted(i.pk for i in invoices)]


# -- whether an order has invoices -------------------------------------------------------


def test_the_order_list_knows_which_orders_have_invoices_without_asking_again(rf, admin_user):
    invoiced = make_order("A-1")
    make_order("B-1")
    make_invoice(invoiced, status=InvoiceStatus.EXPIRED)
    model_admin = admin_site._registry[Order]
    request = rf.get("/")
    request.user = admin_user
    listed = {str(o): o for o in model_admin.get_queryset(request)}

    with CaptureQueriesContext(connection) as queries:
        assert model_admin.has_delete_permission(request, listed["A-1"]) is False
        assert model_admin.has_delete_permission(request, listed["B-1"]) is True
        assert model_admin.has_delete_permission(request, listed["B-1"]) is True
        assert model_admin.has_delete_permission(request) is True

    assert len(queries) == 1  # B-1's invoices, looked up once: none


def test_an_order_read_elsewhere_is_known_to_have_invoices_after_one_query(rf, admin_user):
    order = make_order("A-1")
    make_invoice(order, status=InvoiceStatus.EXPIRED)
    model_admin = admin_site._registry[Order]
    request = rf.get("/")
    request.user = admin_user
    plain = Order.objects.get(pk=order.pk)  # without the list's annotations

    with CaptureQueriesContext(connection) as queries:
        assert model_admin.has_delete_permission(request, plain) is False
        assert "asset" in model_admin.get_readonly_fields(request, plain)
        assert "amount" in model_admin.get_exclude(request, plain)

    assert len(queries) == 1


# -- what a refused callback claims ------------------------------------------------------


def test_columns_a_refused_body_does_not_fill_show_a_dash(admin_client):
    CallbackEvent.objects.create(
        body="not json", body_sha256="1" * 64, state=CallbackEvent.State.REJECTED
    )
    CallbackEvent.objects.create(
        body=json.dumps({"event": "Invoice", "data": {"id": "forged-2"}}),
        body_sha256="2" * 64,
        state=CallbackEvent.State.REJECTED,
    )
    CallbackEvent.objects.create(body="{}", body_sha256="3" * 64, verified=True)

    page = admin_client.get(CALLBACKS).content.decode()

    cells = re.findall(
        r'<td class="field-(event_display|provider_status_display)">(.*?)</td>', page
    )
    claim = '<i title="What the refused body claims; not verified.">Invoice</i>'
    assert sorted(cells) == sorted(
        [("event_display", "-"), ("event_display", claim), ("event_display", "-")]
        + [("provider_status_display", "-")] * 3
    )
    objects = re.findall(r'<td class="field-object_short">(.*?)</td>', page)
    assert sorted(objects) == sorted(
        ["-", '<i title="What the refused body claims; not verified.">forged-2</i>', "-"]
    )


def test_a_refused_body_is_read_once_for_all_its_columns(admin_client, monkeypatch):
    from django_invoices import callbacks

    CallbackEvent.objects.create(
        body=json.dumps({"event": "Invoice", "data": {"id": "forged-3", "status": "PAID"}}),
        body_sha256="1" * 64,
        state=CallbackEvent.State.REJECTED,
    )
    parsed = []
    real = callbacks.parse

    def parse(body):
        parsed.append(body)
        return real(body)

    monkeypatch.setattr(callbacks, "parse", parse)

    page = admin_client.get(CALLBACKS).content.decode()

    assert "forged-3" in page and ">PAID</i>" in page
    assert len(parsed) == 1


# -- the callback log's note on the rate limit -------------------------------------------


@pytest.mark.parametrize(
    ("refused", "notes"),
    [
        (0, []),
        (
            1,
            [
                "1 callback refused by the rate limit today (answered 429, not stored); "
                "see the log for the senders."
            ],
        ),
        (
            3,
            [
                "3 callbacks refused by the rate limit today (answered 429, not stored); "
                "see the log for the senders."
            ],
        ),
    ],
)
def test_the_callback_log_says_how_many_callbacks_the_rate_limit_refused_today(
    admin_client, monkeypatch, refused, notes
):
    from django_invoices.services import limits

    monkeypatch.setattr(limits, "refused_today", lambda: refused)

    response = admin_client.get(CALLBACKS)

    assert [(m.level_tag, str(m)) for m in response.context["messages"]] == [
        ("warning", note) for note in notes
    ]


def test_extra_context_given_to_the_callback_log_reaches_its_page(rf, admin_user):
    request = rf.get(CALLBACKS)
    request.user = admin_user

    response = admin_site._registry[CallbackEvent].changelist_view(
        request, {"title": "Callbacks of today"}
    )

    assert response.context_data["title"] == "Callbacks of today"
