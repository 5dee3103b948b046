"""KunaPayProvider, tested the way django-payments tests its own providers: module-level
constants, a ``provider`` fixture and a ``payment`` fixture, the gateway's HTTP played
by a mock (here ``responses``, strict: any request a test did not register fails it),
and assertions on ``RedirectNeeded``, ``PaymentError``, ``status`` and
``captured_amount``. The Payment is the test shop's concrete model, since the provider
links it to an order of this app."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import RequestFactory
from payments import PaymentError, PaymentStatus, RedirectNeeded

from django_invoices import services
from django_invoices.contrib.payments import KunaPayProvider
from django_invoices.models import Invoice, Order
from django_invoices.testing import set_invoice_status
from tests.conftest import API, INVOICE_ID, invoice_payload

from .shop.models import Payment

VARIANT = "kunapay"
PAYMENT_PAGE = "https://pay.kunapay.test/invoice/1"
CREATE_URL = f"{API}/v1/invoice"
READ_URL = f"{API}/v1/invoice/{INVOICE_ID}"
CREATED = {"data": {"id": INVOICE_ID, "paymentLink": PAYMENT_PAGE}}
SUCCESS = "https://shop.example/paid/{pk}/"
FAILURE = "https://shop.example/not-paid/{pk}/"


@pytest.fixture
def provider() -> KunaPayProvider:
    return KunaPayProvider()


@pytest.fixture
def payment(db) -> Payment:
    return Payment.objects.create(
        variant=VARIANT,
        currency="EUR",
        total=Decimal("42.50"),
        description="A pot of tea",
        billing_email="buyer@example.com",
    )


def redirect_of(provider, payment) -> str:
    with pytest.raises(RedirectNeeded) as raised:
        provider.get_form(payment)
    return str(raised.value)


def sent_body(call) -> dict:
    return json.loads(call.request.body)


def return_request(payment, method="GET"):
    return RequestFactory().generic(method, payment.get_process_url())


# -- get_form ------------------------------------------------------------------------------


def test_get_form_creates_the_invoice_and_redirects_to_its_payment_page(api, provider, payment):
    api.post(CREATE_URL, json=CREATED)

    assert redirect_of(provider, payment) == PAYMENT_PAGE

    body = sent_body(api.calls[0])
    assert body["externalOrderId"] == f"payment-{payment.pk}"
    assert (body["amount"], body["asset"]) == ("42.5", "EUR")
    assert body["productDescription"] == "A pot of tea"
    # KUNA Pay's callbacks go to this app's callback view, never to django-payments'.
    assert body["callbackUrl"] == "https://shop.example/invoices/callback/default/"
    # The buyer comes back to django-payments' process URL (process_data).
    assert body["customization"]["redirectUrl"] == (
        f"https://shop.example/payments/process/{payment.token}/"
    )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.WAITING
    assert payment.transaction_id == INVOICE_ID
    order = services.linked_order(payment)
    assert order.shop_object == payment
    assert (order.amount, order.asset, order.email) == (
        Decimal("42.50"),
        "EUR",
        payment.billing_email,
    )
    assert Invoice.objects.get().order == order


def test_get_form_reuses_the_open_invoice(api, provider, payment):
    api.post(CREATE_URL, json=CREATED)
    first = redirect_of(provider, payment)
    second = redirect_of(provider, payment)
    assert first == second == PAYMENT_PAGE
    assert len(api.calls) == 1
    assert Order.objects.count() == 1


def test_variant_options_reach_the_invoice(api, payment):
    api.post(CREATE_URL, json=CREATED)
    provider = KunaPayProvider(order_prefix="site2-", redirect_button_title="Back to site 2")
    redirect_of(provider, payment)
    body = sent_body(api.calls[0])
    assert body["externalOrderId"] == f"site2-{payment.pk}"
    assert body["customization"]["redirectButtonTitle"] == "Back to site 2"


def test_get_form_when_kuna_pay_refuses_raises_payment_error_and_the_payment_waits(
    api, provider, payment
):
    api.post(CREATE_URL, status=400, json={"errors": [{"code": "BAD_REQUEST", "message": "no"}]})
    with pytest.raises(PaymentError) as raised:
        provider.get_form(payment)
    assert raised.value.code == "unavailable"
    assert "no" in raised.value.gateway_message
    assert "nothing was charged" in str(raised.value)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.WAITING
    assert payment.transaction_id == ""


def test_get_form_without_a_payment_page_raises_payment_error(api, provider, payment):
    api.post(CREATE_URL, json={"data": {"id": INVOICE_ID}})
    with pytest.raises(PaymentError) as raised:
        provider.get_form(payment)
    assert raised.value.code == "no-payment-page"


@pytest.mark.parametrize(
    ("status", "url"),
    [
        (PaymentStatus.CONFIRMED, SUCCESS),
        (PaymentStatus.REJECTED, FAILURE),
        (PaymentStatus.ERROR, FAILURE),
        (PaymentStatus.REFUNDED, FAILURE),
    ],
)
def test_get_form_of_a_payment_that_no_longer_waits_creates_nothing(
    api, provider, payment, status, url
):
    payment.change_status(status)
    assert redirect_of(provider, payment) == url.format(pk=payment.pk)
    assert len(api.calls) == 0  # strict: nothing was asked of KUNA Pay
    assert Order.objects.count() == 0


def test_get_form_of_an_order_paid_meanwhile_follows_it_to_the_success_url(api, provider, payment):
    api.post(CREATE_URL, json=CREATED)
    redirect_of(provider, payment)
    # Paid, but the outcome signal has not run yet (it waits for a commit here).
    set_invoice_status(Invoice.objects.get(), "PAID")

    assert redirect_of(provider, payment) == SUCCESS.format(pk=payment.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMED
    assert payment.captured_amount == Decimal("42.50")
    assert len(api.calls) == 1


def test_get_form_whose_reference_belongs_to_another_payment_raises_payment_error(api, payment):
    other = Payment.objects.create(variant=VARIANT, currency="EUR", total=Decimal("42.50"))
    services.order_for(
        other, external_order_id=f"payment-{payment.pk}", amount=Decimal("42.50"), asset="EUR"
    )
    with pytest.raises(PaymentError) as raised:
        KunaPayProvider().get_form(payment)
    assert raised.value.code == "order"
    assert len(api.calls) == 0
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.WAITING


def test_get_form_of_a_payment_with_nothing_to_pay_raises_payment_error(api, provider, payment):
    payment.total = Decimal("0")
    payment.save()
    with pytest.raises(PaymentError) as raised:
        provider.get_form(payment)
    assert raised.value.code == "order"
    assert "positive" in str(raised.value)
    assert Order.objects.count() == 0


# -- process_data: the buyer's return ------------------------------------------------------


@pytest.fixture
def invoiced(api, provider, payment):
    """The payment sent to KUNA Pay: its order has the open invoice INVOICE_ID."""
    api.post(CREATE_URL, json=CREATED)
    redirect_of(provider, payment)
    return payment


def test_process_data_reads_the_invoice_and_sends_a_paid_buyer_to_the_success_url(
    api, provider, invoiced
):
    api.get(READ_URL, json={"data": invoice_payload("PAID")})
    response = provider.process_data(invoiced, return_request(invoiced))
    assert response.status_code == 302
    assert response["Location"] == SUCCESS.format(pk=invoiced.pk)
    assert invoiced.status == PaymentStatus.CONFIRMED
    assert invoiced.captured_amount == Decimal("42.50")
    invoiced.refresh_from_db()
    assert invoiced.status == PaymentStatus.CONFIRMED


def test_process_data_sends_the_buyer_of_an_expired_invoice_to_the_failure_url(
    api, provider, invoiced
):
    api.get(READ_URL, json={"data": invoice_payload("TIMEOUT")})
    response = provider.process_data(invoiced, return_request(invoiced))
    assert response["Location"] == FAILURE.format(pk=invoiced.pk)
    assert invoiced.status == PaymentStatus.REJECTED
    assert invoiced.captured_amount == Decimal("0")


def test_process_data_while_the_payment_is_open_shows_a_page_that_checks_again(
    api, provider, invoiced
):
    api.get(READ_URL, json={"data": invoice_payload("CONFIRMATION_AWAITING")})
    response = provider.process_data(invoiced, return_request(invoiced))
    assert response.status_code == 200
    page = response.content.decode()
    assert '<meta http-equiv="refresh" content="10">' in page
    assert "Waiting for your payment" in page
    assert f'href="{PAYMENT_PAGE}"' in page
    assert f"payment-{invoiced.pk}" in page
    assert "42.50 EUR" in page
    assert invoiced.status == PaymentStatus.WAITING


def test_process_data_reads_kuna_pay_at_most_once_per_interval(api, provider, invoiced):
    api.get(READ_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    for _reload in range(3):
        assert provider.process_data(invoiced, return_request(invoiced)).status_code == 200
    assert [call.request.method for call in api.calls] == ["POST", "GET"]


def test_process_data_takes_no_post_a_forged_paid_body_moves_nothing(api, provider, invoiced):
    forged = RequestFactory().post(
        invoiced.get_process_url(),
        data=json.dumps({"event": "Invoice", "data": {"id": INVOICE_ID, "status": "PAID"}}),
        content_type="application/json",
    )
    response = provider.process_data(invoiced, forged)
    assert response.status_code == 405
    invoiced.refresh_from_db()
    assert invoiced.status == PaymentStatus.WAITING
    assert len(api.calls) == 1  # the create; nothing was read


def test_process_data_of_a_payment_never_sent_to_kuna_pay_is_404(provider, payment):
    from django.http import Http404

    with pytest.raises(Http404):
        provider.process_data(payment, return_request(payment))


def test_the_process_url_through_django_payments_view(api, client, invoiced):
    api.get(READ_URL, json={"data": invoice_payload("PAID")})
    response = client.get(invoiced.get_process_url(), {"invoiceId": INVOICE_ID})
    assert response.status_code == 302
    assert response["Location"] == SUCCESS.format(pk=invoiced.pk)


def test_django_payments_static_callback_url_points_to_the_callback_view(client, db):
    response = client.post("/payments/process/kunapay/", data="{}", content_type="application/json")
    assert response.status_code == 400
    assert "django_invoices:callback" in response.json()["error"]


# -- what KUNA Pay's API does not offer ----------------------------------------------------


def test_capture_false_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="capture=False"):
        KunaPayProvider(capture=False)


def test_unknown_options_are_refused():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="redirect_url"):
        KunaPayProvider(redirect_url="https://elsewhere.example/")


def test_without_its_app_the_provider_refuses_to_start(monkeypatch):
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    installed = apps.is_installed
    monkeypatch.setattr(
        apps,
        "is_installed",
        lambda name: name != "django_invoices.contrib.payments" and installed(name),
    )
    with pytest.raises(ImproperlyConfigured, match="INSTALLED_APPS"):
        KunaPayProvider()


@pytest.mark.parametrize("action", ["capture", "release", "refund", "cancel"])
def test_no_capture_release_refund_or_cancel(provider, payment, action):
    with pytest.raises(PaymentError, match="KUNA Pay"):
        getattr(provider, action)(payment)


def test_a_refund_through_the_payment_changes_nothing(payment):
    payment.captured_amount = Decimal("42.50")
    payment.change_status(PaymentStatus.CONFIRMED)
    payment.save()
    with pytest.raises(PaymentError):
        payment.refund()
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount) == (PaymentStatus.CONFIRMED, Decimal("42.50"))
