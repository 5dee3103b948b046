"""The admin back office: actions, permissions, read-only views, query counts."""

import json
import re
import threading
import time
import uuid
from decimal import Decimal

import pytest
import requests
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

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
