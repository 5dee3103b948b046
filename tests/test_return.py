"""The return view (customization.redirectUrl) and the services behind it."""

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse, reverse_lazy
from django.utils import timezone

from django_invoices import services, signals
from django_invoices.models import Invoice
from django_invoices.statuses import InvoiceStatus, OrderStatus

from .conftest import API, INVOICE_ID, apply_status, invoice_payload
from .test_callback_view import UNCONFIRMED

DETAIL_URL = f"{API}/v1/invoice/{INVOICE_ID}"
RETURN = reverse("django_invoices:return")
TEST_SETTINGS = {
    "API_URL": API,
    "API_KEY": "test-api-key",
    "PRIVATE_KEY": "test-private-key",
    "BASE_URL": "https://shop.example",
    "RETRY_BACKOFF": 0,
    "RETRIES": 0,
}


def invoices_settings(**extra):
    return override_settings(DJANGO_INVOICES={**TEST_SETTINGS, **extra})


def back(client, invoice_id=INVOICE_ID, order_id="A-1"):
    params = {}
    if invoice_id is not None:
        params["invoiceId"] = invoice_id
    if order_id is not None:
        params["orderId"] = order_id
    return client.get(RETURN, params)


@pytest.fixture
def order_paid_sent(db):
    sent = []

    def receiver(sender, order, invoice, **kwargs):
        sent.append(order.pk)

    signals.order_paid.connect(receiver, weak=False)
    yield sent
    signals.order_paid.disconnect(receiver)


def thanks_url(order):
    """A RETURN_URLS callable, referred to by dotted path in the tests."""
    return f"/thanks/{order.external_order_id}/"


def no_page(order):
    """A RETURN_URLS callable with no page of the shop's for this order."""
    return None


# -- outcomes --------------------------------------------------------------------------


def test_paid_page_shows_order_reference_and_amount_without_asking_the_api(api, client, invoice):
    apply_status(invoice, "PAID")
    response = back(client)
    assert response.status_code == 200
    assert response.templates[0].name == "django_invoices/return.html"
    body = response.content.decode()
    assert "A-1" in body
    assert "42.50 EUR" in body
    assert 'http-equiv="refresh"' not in body
    assert len(api.calls) == 0  # settled: nothing to re-read
    assert "no-cache" in response["Cache-Control"]
    assert '<a href="/">Continue shopping</a>' in body


def test_pending_reads_the_api_once_then_not_within_the_interval(api, client, invoice):
    api.get(DETAIL_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    with invoices_settings(REFRESH_MIN_INTERVAL=30, PENDING_PAGE_REFRESH=7):
        first = back(client)
        second = back(client)
        third = back(client)
    assert len(api.calls) == 1
    for response in (first, second, third):
        assert response.status_code == 200
        body = response.content.decode()
        assert '<meta http-equiv="refresh" content="7">' in body
        assert "Waiting for your payment" in body
        assert "https://pay.example/i/1" in body  # back to the payment page
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AWAITING_PAYMENT


def test_pending_is_read_again_once_the_interval_has_passed(api, client, invoice):
    api.get(DETAIL_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    with invoices_settings(REFRESH_MIN_INTERVAL=30):
        back(client)
        Invoice.objects.filter(pk=invoice.pk).update(
            synced_at=timezone.now() - timedelta(seconds=31)
        )
        cache.clear()
        back(client)
    assert len(api.calls) == 2


def test_a_re_read_that_finds_the_invoice_paid_shows_paid_and_pays_the_order_once(
    api, client, invoice, order_paid_sent, django_capture_on_commit_callbacks
):
    api.get(DETAIL_URL, json={"data": invoice_payload("PAID")})
    with django_capture_on_commit_callbacks(execute=True):
        response = back(client)
        back(client)
    assert response.status_code == 200
    assert "Thank you, your payment was received" in response.content.decode()
    assert order_paid_sent == [invoice.order_id]
    invoice.order.refresh_from_db()
    assert invoice.order.status == OrderStatus.PAID


@pytest.mark.parametrize(
    ("provider_status", "text"),
    [
        ("TIMEOUT", "The invoice expired"),
        ("DECLINED", "The payment did not go through"),
        ("PARTIALLY_PAID", "We received less than the amount due"),
    ],
)
def test_failed_outcomes(api, client, invoice, provider_status, text):
    api.get(DETAIL_URL, json={"data": invoice_payload(provider_status)})
    response = back(client)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Your payment was not completed" in body
    assert text in body
    assert 'http-equiv="refresh"' not in body


def test_a_part_payment_shows_what_arrived_in_the_asset_it_was_paid_in(client, invoice):
    Invoice.objects.filter(pk=invoice.pk).update(
        payment_asset="BTC", paid_amount=Decimal("0.00038958")
    )
    apply_status(invoice, "PARTIALLY_PAID")

    body = back(client).content.decode()

    assert "0.00038958 BTC" in body
    assert "0.00038958 EUR" not in body


def test_provider_down_during_the_re_read_still_answers_with_the_stored_status(
    api, client, invoice
):
    api.get(DETAIL_URL, status=503, json={"errors": [{"code": "DOWN", "message": "down"}]})
    with invoices_settings(REFRESH_MIN_INTERVAL=30):
        response = back(client)
        again = back(client)
    assert response.status_code == 200
    body = response.content.decode()
    assert "could not check the latest status" in body
    assert 'http-equiv="refresh"' in body
    assert again.status_code == 200
    assert len(api.calls) == 1  # a failed attempt counts against the interval too
    invoice.refresh_from_db()
    assert invoice.synced_at is None


def test_provider_timeout_during_the_re_read_is_no_500(api, client, invoice):
    import requests

    api.get(DETAIL_URL, body=requests.ReadTimeout("slow"))
    with invoices_settings():
        response = back(client)
    assert response.status_code == 200


# -- what the query string may not do --------------------------------------------------


@pytest.mark.parametrize(
    ("invoice_id", "order_id"),
    [
        (str(uuid.uuid4()), "A-1"),  # unknown invoice
        (INVOICE_ID, "B-2"),  # orderId of another (or no) order
        ("not-a-uuid", "A-1"),  # malformed
        (INVOICE_ID.replace("-", ""), "A-1"),  # not the usual form
        ("{" + INVOICE_ID + "}", "A-1"),
        (INVOICE_ID + "' OR 1=1", "A-1"),
        (None, "A-1"),  # missing parameters
        (INVOICE_ID, None),
        (None, None),
        ("", ""),
    ],
)
def test_unknown_mismatched_malformed_or_missing_answer_a_friendly_404(
    api, client, invoice, invoice_id, order_id
):
    response = back(client, invoice_id, order_id)
    assert response.status_code == 404
    assert "We could not find this payment" in response.content.decode()
    assert '<a href="/">Back to the shop</a>' in response.content.decode()
    assert response.templates[0].name == "django_invoices/not_found.html"
    assert len(api.calls) == 0


def test_mismatched_order_id_of_an_existing_order_is_404(client, invoice):
    from django_invoices.models import Order

    Order.objects.create(external_order_id="B-2", amount="1", asset="EUR")
    assert back(client, INVOICE_ID, "B-2").status_code == 404


def test_only_get_and_head(client, invoice):
    assert client.post(f"{RETURN}?invoiceId={INVOICE_ID}&orderId=A-1").status_code == 405


def test_head_answers_as_get_does(client, invoice):
    apply_status(invoice, "PAID")
    get = back(client)
    head = client.head(RETURN, {"invoiceId": INVOICE_ID, "orderId": "A-1"})
    assert (head.status_code, head["Content-Type"]) == (get.status_code, get["Content-Type"])
    assert head.content == b""
    assert client.head(RETURN, {"invoiceId": str(uuid.uuid4())}).status_code == 404


def test_an_overpayment_says_more_arrived_and_what_happens_next(client, invoice):
    from django_invoices.models import Deposit

    Invoice.objects.filter(pk=invoice.pk).update(payment_asset="USDT", payment_amount="46.75")
    Deposit.objects.create(
        provider_id="tx-1",
        invoice=invoice,
        status="Processed",
        asset="USDT",
        amount=Decimal("70.125"),
    )
    invoice.refresh_from_db()
    apply_status(invoice, "PAID")

    body = back(client).content.decode()

    assert "Thank you, your payment was received" in body
    assert "More arrived than was due: we received 70.125 USDT, and 46.75 USDT was due." in body
    assert (
        "The extra 23.375 USDT is not lost: please contact us, quoting the order reference A-1"
        in body
    )


def test_an_exact_payment_says_nothing_of_an_overpayment(client, invoice):
    apply_status(invoice, "PAID")
    assert "data-overpaid" not in back(client).content.decode()


# -- forwarding to the shop's pages ----------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/thanks/", "/thanks/"),
        ("admin:index", "/admin/"),
        ("tests.test_return.thanks_url", "/thanks/A-1/"),
        (thanks_url, "/thanks/A-1/"),
        ("https://testserver/thanks/", "https://testserver/thanks/"),
    ],
)
def test_forwards_to_the_shops_page_for_the_outcome(client, invoice, target, expected):
    apply_status(invoice, "PAID")
    with invoices_settings(RETURN_URLS={"paid": target}):
        response = back(client)
    assert response.status_code == 302
    assert response["Location"] == expected


def test_each_outcome_has_its_own_page(api, client, invoice):
    api.get(DETAIL_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    urls = {"paid": "/paid/", "pending": "/pending/", "failed": "/failed/"}
    with invoices_settings(RETURN_URLS=urls):
        assert back(client)["Location"] == "/pending/"
        apply_status(invoice, "TIMEOUT")
        assert back(client)["Location"] == "/failed/"
        apply_status(invoice, "PAID")
        assert back(client)["Location"] == "/paid/"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "http://evil.example",
        "javascript:alert(1)",
        "https:///evil.example",
        # An id without the backslash: pytest escapes it in the node id, and that id
        # given back on a command line (as mutmut does) names no test.
        pytest.param("/\\evil.example", id="slash-backslash-host"),
        lambda order: "https://evil.example/" + order.external_order_id,
    ],
)
def test_never_redirects_off_site(client, invoice, target, caplog):
    apply_status(invoice, "PAID")
    with invoices_settings(RETURN_URLS={"paid": target}):
        response = back(client)
    assert response.status_code == 200  # the built-in page instead
    assert "A-1" in response.content.decode()


def test_allowed_hosts_may_be_extended(client, invoice):
    apply_status(invoice, "PAID")
    with invoices_settings(
        RETURN_URLS={"paid": "http://www.shop.example/thanks/"},
        ALLOWED_REDIRECT_HOSTS=["www.shop.example"],
    ):
        response = back(client)
    assert response.status_code == 302
    assert response["Location"] == "http://www.shop.example/thanks/"


def _forward(client, target, *, secure):
    settings = {
        **UNCONFIRMED,
        "RETURN_URLS": {"paid": target},
        "ALLOWED_REDIRECT_HOSTS": ["partner.example"],
    }
    with override_settings(DJANGO_INVOICES=settings):
        return client.get(
            reverse("django_invoices:return"),
            {"invoiceId": INVOICE_ID, "orderId": "A-1"},
            secure=secure,
        )


# Pinned where a hand-made mutant of the core once survived the suite (docs/mutation.rst).
def test_a_secure_return_is_not_forwarded_to_plain_http_on_an_allowed_host(client, invoice):
    """Mutant: a return forward from https to an http host in ALLOWED_REDIRECT_HOSTS."""
    apply_status(invoice, "PAID")
    refused = _forward(client, "http://partner.example/thanks/", secure=True)
    assert refused.status_code == 200  # the built-in page instead
    assert "Location" not in refused
    # The same host over https is fine, and a plain-http visit may go to plain http.
    allowed = _forward(client, "https://partner.example/thanks/", secure=True)
    assert (allowed.status_code, allowed["Location"]) == (302, "https://partner.example/thanks/")
    plain = _forward(client, "http://partner.example/thanks/", secure=False)
    assert (plain.status_code, plain["Location"]) == (302, "http://partner.example/thanks/")


def test_an_unresolvable_setting_falls_back_to_the_built_in_page(client, invoice):
    apply_status(invoice, "PAID")
    with invoices_settings(RETURN_URLS={"paid": "shop:no-such-page"}):
        assert back(client).status_code == 200
    with invoices_settings(RETURN_URLS={"paid": "tests.nowhere.thanks"}):
        assert back(client).status_code == 200


@pytest.mark.parametrize(
    "target",
    [no_page, "tests.test_return.no_page", lambda order: ""],
    ids=["callable", "dotted-path", "empty"],
)
def test_a_callable_without_a_page_shows_the_built_in_page(client, invoice, target, caplog):
    apply_status(invoice, "PAID")
    with invoices_settings(RETURN_URLS={"paid": target}):
        response = back(client)
    assert response.status_code == 200
    assert response.templates[0].name == "django_invoices/return.html"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []  # not an error


@pytest.mark.parametrize("url", ["thanks", "thanks/", "shop:thanks", 42])
def test_a_callable_returning_no_url_falls_back_and_is_logged(client, invoice, url, caplog):
    apply_status(invoice, "PAID")
    with invoices_settings(RETURN_URLS={"paid": lambda order: url}):
        response = back(client)
    assert response.status_code == 200
    assert response.templates[0].name == "django_invoices/return.html"
    assert any("cannot resolve the URL" in r.getMessage() for r in caplog.records)


def test_a_callable_may_return_a_url_name_reversed_lazily(client, invoice):
    apply_status(invoice, "PAID")
    with invoices_settings(RETURN_URLS={"paid": lambda order: reverse_lazy("admin:index")}):
        response = back(client)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


# -- services --------------------------------------------------------------------------


def test_refresh_if_stale_leaves_settled_and_recent_invoices_alone(api, invoice):
    api.get(DETAIL_URL, json={"data": invoice_payload("CONFIRMATION_AWAITING")})
    with invoices_settings(REFRESH_MIN_INTERVAL=60):
        first = services.refresh_if_stale(invoice)
        second = services.refresh_if_stale(first.invoice)
        forced = services.refresh_if_stale(second.invoice, min_interval=0)
    assert (first.refreshed, second.refreshed, forced.refreshed) == (True, False, True)
    assert second.invoice.status == InvoiceStatus.CONFIRMING
    paid = apply_status(invoice, "PAID").invoice
    assert services.refresh_if_stale(paid, min_interval=0).refreshed is False
    assert len(api.calls) == 2


def test_payment_outcome_follows_a_paid_order(invoice):
    assert services.payment_outcome(invoice) == services.OUTCOME_PENDING
    apply_status(invoice, "TIMEOUT")
    invoice.refresh_from_db()
    assert services.payment_outcome(invoice) == services.OUTCOME_FAILED
    apply_status(invoice, "PAID")
    invoice.refresh_from_db()
    assert services.payment_outcome(invoice) == services.OUTCOME_PAID


def test_find_customer_invoice(invoice):
    assert services.find_customer_invoice(INVOICE_ID, "A-1") == invoice
    assert services.find_customer_invoice(INVOICE_ID.upper(), "A-1") == invoice
    assert services.find_customer_invoice(INVOICE_ID, "A-1" * 100) is None
    assert services.find_customer_invoice(["x"], "A-1") is None


# -- a shop's own templates ------------------------------------------------------------

SHOP_TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {
            "context_processors": ["django.template.context_processors.request"],
            "loaders": [
                (
                    "django.template.loaders.locmem.Loader",
                    {
                        "django_invoices/return.html": "{{ request.path }}: {{ outcome }}",
                        "django_invoices/not_found.html": "{{ request.path }}: not found",
                    },
                ),
                "django.template.loaders.app_directories.Loader",
            ],
        },
    }
]


def test_a_shops_own_return_pages_are_rendered_with_the_request(client, invoice):
    apply_status(invoice, "PAID")
    with override_settings(TEMPLATES=SHOP_TEMPLATES):
        found = back(client)
        missing = back(client, str(uuid.uuid4()))
    assert (found.status_code, found.content.decode()) == (200, f"{RETURN}: paid")
    assert (missing.status_code, missing.content.decode()) == (404, f"{RETURN}: not found")
