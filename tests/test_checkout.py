"""The checkout helper: one call that sends the customer to the payment page."""

import logging
import re

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import RequestFactory, override_settings

from django_invoices.checkout import start_payment
from django_invoices.models import Invoice

from .conftest import API, INVOICE_ID

CREATE_URL = f"{API}/v1/invoice"
CREATED = {"data": {"id": INVOICE_ID, "paymentLink": "https://pay.example/i/1"}}
SETTINGS = {
    "API_URL": API,
    "API_KEY": "test-api-key",
    "PRIVATE_KEY": "test-private-key",
    "BASE_URL": "https://shop.example",
    "RETRY_BACKOFF": 0,
    "RETRIES": 0,
}


@pytest.fixture
def request_():
    request = RequestFactory().post("/checkout/")
    SessionMiddleware(lambda r: None).process_request(request)
    MessageMiddleware(lambda r: None).process_request(request)
    return request


def test_redirects_to_the_payment_page(api, order, request_):
    api.post(CREATE_URL, json=CREATED)
    response = start_payment(request_, order)
    assert response.status_code == 302
    assert response["Location"] == "https://pay.example/i/1"
    assert Invoice.objects.get().order == order


def test_reuses_the_open_invoice(api, order, request_):
    api.post(CREATE_URL, json=CREATED)
    start_payment(request_, order)
    response = start_payment(request_, order)
    assert response["Location"] == "https://pay.example/i/1"
    assert len(api.calls) == 1


def test_options_reach_create_invoice(api, order, request_):
    api.post(CREATE_URL, json=CREATED)
    start_payment(request_, order, redirect_button_title="Back to Ana's shop")
    assert b"Back to Ana's shop" in api.calls[0].request.body


def test_provider_error_renders_a_friendly_page_and_logs(api, order, request_, caplog):
    api.post(CREATE_URL, status=500, json={"errors": [{"code": "X", "message": "boom"}]})
    caplog.set_level(logging.WARNING, logger="django_invoices")
    with override_settings(DJANGO_INVOICES=SETTINGS):
        response = start_payment(request_, order)
    assert response.status_code == 503
    body = response.content.decode()
    assert "We could not start your payment" in body
    assert "A-1" in body
    assert "boom" not in body  # the provider's words go to the log, not to the customer
    assert any("Checkout of order A-1 failed" in r.getMessage() for r in caplog.records)


def test_provider_refusal_is_no_500_either(api, order, request_):
    api.post(CREATE_URL, status=400, json={"errors": [{"code": "BAD_REQUEST"}]})
    response = start_payment(request_, order)
    assert response.status_code == 503


def test_with_error_url_the_message_goes_through_the_messages_framework(api, order, request_):
    api.post(CREATE_URL, status=503, body="down")
    with override_settings(DJANGO_INVOICES=SETTINGS):
        response = start_payment(request_, order, error_url="/cart/")
    assert response.status_code == 302
    assert response["Location"] == "/cart/"
    [message] = list(get_messages(request_))
    assert "could not reach the payment provider" in str(message)


def test_an_off_site_error_url_is_not_followed(api, order, request_):
    api.post(CREATE_URL, status=503, body="down")
    with override_settings(DJANGO_INVOICES=SETTINGS):
        response = start_payment(request_, order, error_url="https://evil.example/")
    assert response.status_code == 503


def test_an_error_url_callable_is_given_the_order(api, order, request_):
    api.post(CREATE_URL, status=503, body="down")
    with override_settings(DJANGO_INVOICES=SETTINGS):
        response = start_payment(
            request_, order, error_url=lambda o: f"/cart/{o.external_order_id}/"
        )
    assert response.status_code == 302
    assert response["Location"] == "/cart/A-1/"


@pytest.mark.parametrize("url", [None, "", "cart"])
def test_an_error_url_callable_without_a_url_renders_the_built_in_page(api, order, request_, url):
    api.post(CREATE_URL, status=503, body="down")
    with override_settings(DJANGO_INVOICES=SETTINGS):
        response = start_payment(request_, order, error_url=lambda o: url)
    assert response.status_code == 503
    assert "could not reach the payment provider" in response.content.decode()
    assert list(get_messages(request_)) == []


def test_a_paid_order_gets_409(order, request_):
    order.status = "paid"
    order.save()
    response = start_payment(request_, order)
    assert response.status_code == 409
    assert "paid already" in response.content.decode()


def test_a_partly_paid_order_gets_409_too(order, request_):
    order.status = "partially_paid"
    order.save()
    response = start_payment(request_, order)
    assert response.status_code == 409
    body = response.content.decode()
    assert "cannot be paid again" not in body
    assert "Part of this order has been paid already" in body and "A-1" in body
    assert not Invoice.objects.exists()


def test_an_invoice_without_a_payment_page_is_reported(api, order, request_):
    api.post(CREATE_URL, json={"data": {"id": INVOICE_ID}})
    response = start_payment(request_, order)
    assert response.status_code == 503


# -- what the customer reads ---------------------------------------------------------------

UNREACHABLE = (
    "We could not reach the payment provider. Your order is saved and nothing was charged; "
    "please try again in a minute."
)


def message_on_page(response):
    """The message paragraph of the built-in error page."""
    return re.findall(r"<p>(.*?)</p>", response.content.decode(), re.S)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("paid", "This order cannot be paid again: it has been paid already."),
        (
            "partially_paid",
            "Part of this order has been paid already. Please contact us about the rest, "
            "quoting the order reference A-1.",
        ),
    ],
)
def test_an_order_that_cannot_be_paid_says_why_in_full(order, request_, status, message):
    order.status = status
    order.save()
    assert message_on_page(start_payment(request_, order)) == [message]


def test_a_provider_failure_says_nothing_was_charged(api, order, request_):
    api.post(CREATE_URL, status=503, body="down")
    with override_settings(DJANGO_INVOICES=SETTINGS):
        response = start_payment(request_, order)
    assert message_on_page(response) == [UNREACHABLE]


def test_an_invoice_without_a_payment_page_says_nothing_was_charged(api, order, request_):
    api.post(CREATE_URL, json={"data": {"id": INVOICE_ID}})
    response = start_payment(request_, order)
    assert message_on_page(response) == [
        "The payment page is not available right now. Your order is saved and nothing was "
        "charged; please try again in a minute."
    ]


def test_the_error_url_works_without_the_messages_framework(api, order):
    api.post(CREATE_URL, status=503, body="down")
    bare = RequestFactory().post("/checkout/")  # a shop without MessageMiddleware
    with override_settings(DJANGO_INVOICES=SETTINGS):
        response = start_payment(bare, order, error_url="/cart/")
    assert response.status_code == 302
    assert response["Location"] == "/cart/"


SHOP_TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {
            "context_processors": ["django.template.context_processors.request"],
            "loaders": [
                (
                    "django.template.loaders.locmem.Loader",
                    {"django_invoices/checkout_error.html": "{{ request.path }}: {{ message }}"},
                ),
                "django.template.loaders.app_directories.Loader",
            ],
        },
    }
]


def test_a_shops_own_error_page_is_rendered_with_the_request(api, order, request_):
    api.post(CREATE_URL, status=503, body="down")
    with override_settings(DJANGO_INVOICES=SETTINGS, TEMPLATES=SHOP_TEMPLATES):
        response = start_payment(request_, order)
    assert response.status_code == 503
    assert response.content.decode() == f"/checkout/: {UNREACHABLE}"
