"""Sandbox, client and testing-helper behaviour that earlier tests left unpinned."""

import logging
import sys

import pytest
import requests
import responses
from django.http import HttpResponse

from django_invoices import __version__, services, signals, telemetry
from django_invoices.client import KunaPayClient
from django_invoices.conf import Account
from django_invoices.exceptions import NotFound, ProviderUnavailable, ProviderValidationError
from django_invoices.models import CallbackEvent
from django_invoices.sandbox import delivery, forms, simulate
from django_invoices.sandbox.models import SandboxInvoice
from django_invoices.signing import sign_request
from django_invoices.testing import KunaPaySandbox, deliver_callback, invoice_event

from .conftest import API
from .test_callback_path_mutants2 import Step
from .test_pytest_plugin import ShippingFailed, broken_shipping  # noqa: F401 (a fixture)
from .test_sandbox_page import HOOK, make_invoice, page

SHOP = "https://shop.example"


def test_pay_in_the_asset_the_buyer_chose(kunapay, order):
    # The buyer picked ETH; without the choice the sandbox picks USDT for a EUR invoice.
    paid = kunapay.pay(services.create_invoice(order), asset="ETH")
    assert (paid.status, paid.payment_asset) == ("PAID", "ETH")


def test_pay_keeps_the_buyer_answers(kunapay, order):
    paid = kunapay.pay(services.create_invoice(order), email="payer@example.com")
    assert paid.answers == {"email": "payer@example.com"}


def test_pay_in_an_asset_nobody_pays_with_is_refused_plainly(kunapay, order):
    with pytest.raises(simulate.ActionRefused, match=r"^EUR cannot be paid with\.$"):
        kunapay.pay(order, asset="EUR")


def test_an_api_dict_names_its_invoice(kunapay, order):
    invoice = services.create_invoice(order)
    assert str(kunapay.get({"id": str(invoice.provider_id)}).pk) == str(invoice.provider_id)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are new in 3.11")
def test_the_receiver_error_says_how_to_only_log_it(kunapay, order, broken_shipping):  # noqa: F811
    with pytest.raises(ShippingFailed) as raised:
        kunapay.pay(order)
    assert raised.value.__notes__ == [
        "Raised by a receiver of a django-invoices signal; the kunapay fixture re-raises "
        "it (strict mode). Set kunapay.strict = False to only log it, as production does."
    ]


def test_a_sandbox_never_entered_has_no_mock_and_closes_quietly():
    sandbox = KunaPaySandbox()
    assert sandbox.mock is None
    sandbox.__exit__(None, None, None)


def test_the_sandbox_serves_without_allow_without_debug_in_the_settings(settings, order):
    # A shop's test settings need not acknowledge the sandbox: the helper does it itself.
    settings.DJANGO_INVOICES_SANDBOX = {"API_URLS": [API]}
    with KunaPaySandbox() as sandbox:
        invoice = services.create_invoice(order)
        assert sandbox.get(invoice).external_order_id == "A-1"


def test_an_unknown_api_path_answers_a_json_404(kunapay):
    answer = requests.get(f"{API}/v1/nowhere", timeout=5)
    assert (answer.status_code, answer.headers["Content-Type"]) == (404, "application/json")
    assert answer.json() == {"errors": [{"code": "NOT_FOUND", "message": "No route /v1/nowhere"}]}


def test_the_payment_page_under_the_api_url_is_html(kunapay, order):
    invoice = services.create_invoice(order)
    answer = requests.get(invoice.payment_url, timeout=5)
    assert (answer.status_code, answer.headers["Content-Type"]) == (
        200,
        "text/html; charset=utf-8",
    )


def test_the_shop_answer_reaches_the_caller_as_plain_text(kunapay):
    answer = requests.post(f"{SHOP}/invoices/callback/default/", data=b"{}", timeout=5)
    assert answer.headers["Content-Type"] == "text/plain"


class RecordingClient:
    """A stand-in for the shop's test client that keeps what it was sent."""

    def __init__(self):
        self.sent = []

    def generic(self, method, path, data=b"", **kwargs):
        self.sent.append((method, path, data))
        return HttpResponse("ok")


def test_an_empty_post_reaches_the_shop_empty(db):
    shop = RecordingClient()
    with KunaPaySandbox(shop_client=shop):
        requests.post(f"{SHOP}/hooks/ping/?n=1", timeout=5)
    assert shop.sent == [("POST", "/hooks/ping/?n=1", b"")]


def test_a_shop_answer_that_is_not_json_keeps_no_text(kunapay):
    kunapay.mock.post(HOOK, status=200, body="thanks!")
    invoice = make_invoice()
    simulate.act(invoice, "expire")
    assert [(d.state, d.response_text) for d in kunapay.deliveries(invoice)] == [("delivered", "")]


def test_a_page_action_comes_back_to_the_same_page(kunapay, client):
    kunapay.mock.post(HOOK, status=200)
    invoice = make_invoice()
    response = client.post(page(invoice), {"action": "deliver_late"})
    assert (response.status_code, response["Location"]) == (303, page(invoice))


@responses.activate
def test_a_failed_transaction_read_is_logged_with_the_transaction_id(caplog):
    responses.get(f"{API}/v1/transaction/tx-7", status=404, json={"errors": []})
    client = KunaPayClient(API, api_key="key", retries=0)
    with (
        caplog.at_level(logging.WARNING, logger="django_invoices.client"),
        pytest.raises(NotFound),
    ):
        client.get_transaction("tx-7")
    [record] = caplog.records
    assert record.transaction_id == "tx-7"
    assert not hasattr(record, "provider_invoice_id")


def signed_account(api_url):
    return Account(
        name="shop",
        api_url=api_url,
        api_key="",
        public_key="pub-1",
        private_keys=("priv-1",),
        auth_mode="signed",
        connect_timeout=1.0,
        read_timeout=2.0,
        retries=0,
        retry_backoff=0.0,
    )


@responses.activate
def test_a_signed_account_makes_a_signing_client():
    responses.get(f"{API}/v1/invoice/assets", json={"data": []})
    client = KunaPayClient.from_account(signed_account(API), clock=lambda: 1700000000.0)
    assert client.list_assets() == []
    sent = responses.calls[0].request.headers
    assert (sent["public-key"], sent["nonce"]) == ("pub-1", "1700000000000")
    path = "/v1/invoice/assets?take=100&skip=0"
    assert sent["signature"] == sign_request("priv-1", path, "1700000000000", "")


@responses.activate
def test_an_api_url_path_ending_in_x_is_signed_whole():
    # The path under the API URL is part of what is signed, up to its last letter.
    api = "https://gw.example/payX"
    responses.get(f"{api}/v1/invoice/assets", json={"data": []})
    client = KunaPayClient.from_account(signed_account(api), clock=lambda: 1700000000.0)
    client.list_assets()
    path = "/payX/v1/invoice/assets?take=100&skip=0"
    expected = sign_request("priv-1", path, "1700000000000", "")
    assert responses.calls[0].request.headers["signature"] == expected


def test_signed_mode_without_a_public_key_is_refused():
    with pytest.raises(ValueError, match=r"^signed mode needs both public_key and private_key$"):
        KunaPayClient(API, private_key="priv-1", auth_mode="signed")


@responses.activate
def test_no_retries_means_one_request():
    responses.get(f"{API}/v1/invoice/questionnaire", status=503, json={"errors": []})
    client = KunaPayClient(API, api_key="key", retries=0, sleep=lambda seconds: None)
    with pytest.raises(ProviderUnavailable):
        client.questionnaire_fields()
    assert len(responses.calls) == 1


@responses.activate
def test_requests_name_the_app_as_user_agent():
    responses.get(f"{API}/v1/invoice/questionnaire", json={"data": []})
    KunaPayClient(API, api_key="key").questionnaire_fields()
    assert responses.calls[0].request.headers["User-Agent"] == f"django-invoices/{__version__}"


def test_the_invoice_body_carries_the_product_category():
    body = KunaPayClient.invoice_body(amount="5", asset="USDT", product_category="tea")
    assert body == {"amount": "5", "asset": "USDT", "productCategory": "tea"}


def test_a_callback_for_a_merchant_without_a_key_fails_and_says_why(kunapay):
    invoice = make_invoice()
    SandboxInvoice.objects.filter(pk=invoice.pk).update(merchant="gone")
    simulate.act(invoice, "expire")
    [row] = kunapay.deliveries(invoice)
    assert (row.state, row.error) == ("failed", "no private key for this invoice's merchant")
    assert delivery.send(row) is False


def test_a_callback_that_is_never_answered_200_is_reported_failed(kunapay):
    kunapay.configure(CALLBACK_ATTEMPTS=1)
    kunapay.mock.post(HOOK, status=500)
    invoice = make_invoice()
    simulate.act(invoice, "expire")
    [row] = kunapay.deliveries(invoice)
    assert row.state == "failed"
    assert delivery.send(row) is False


def test_a_callback_waits_only_the_configured_timeout(kunapay):
    kunapay.configure(CALLBACK_TIMEOUT=2.5)
    kunapay.mock.post(HOOK, status=200)
    simulate.act(make_invoice(), "expire")
    [sent] = [call for call in kunapay.mock.calls if call.request.url == HOOK]
    assert sent.request.req_kwargs["timeout"] == 2.5


def test_the_amount_help_names_what_an_empty_amount_means(kunapay):
    kunapay.mock.post(HOOK, status=200)
    invoice = make_invoice()
    simulate.act(invoice, "pay_part", answers={"email": "b@example.com"})
    form = forms.PaymentForm(invoice=SandboxInvoice.objects.get(pk=invoice.pk))
    assert form.fields["amount"].help_text == (
        "42.500000 USDT is due: a part payment is less, an overpayment more. Leave empty "
        "for half (part payment) or one and a half (overpayment)."
    )


def test_questionnaire_fields_have_readable_labels(kunapay):
    invoice = make_invoice(questionnaire_fields=["email", "firstName"])
    form = forms.PaymentForm(invoice=invoice)
    assert [form.fields[name].label for name in ("q_email", "q_firstName")] == [
        "Email",
        "First name",
    ]


def test_an_unknown_action_or_amount_is_refused_plainly(kunapay):
    invoice = make_invoice()
    with pytest.raises(simulate.ActionRefused, match=r"^Unknown action 'steal'\.$"):
        simulate.act(invoice, "steal")
    with pytest.raises(simulate.ActionRefused, match=r"^'abc' is not an amount\.$"):
        simulate.act(invoice, "pay_part", amount="abc")


def test_the_sandbox_keeps_the_api_urls_the_settings_give(settings, db):
    settings.DJANGO_INVOICES_SANDBOX = {
        **settings.DJANGO_INVOICES_SANDBOX,
        "API_URLS": ["https://extra.example"],
    }
    with KunaPaySandbox():
        from django.conf import settings as live

        assert live.DJANGO_INVOICES_SANDBOX["API_URLS"] == ["https://extra.example", API]


def test_accounts_sharing_an_api_url_route_it_once(settings):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNTS": {"second": {"API_URL": API + "/", "API_KEY": "key-2"}},
    }
    assert KunaPaySandbox.api_urls() == [API]


def test_an_api_url_without_a_host_allows_no_extra_host(settings, db):
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNTS": {"odd": {"API_URL": "file:///kunapay", "API_KEY": "key-2"}},
    }
    with KunaPaySandbox():
        from django.conf import settings as live

        assert live.ALLOWED_HOSTS == ["testserver", "api.kunapay.test", "shop.example"]


SANDBOX_ASSETS = "/sandbox/v1/invoice/assets"


def signed_get(client, nonce):
    signature = sign_request("test-private-key", SANDBOX_ASSETS, nonce, "")
    headers = {"public-key": "pub-1", "nonce": nonce, "signature": signature}
    return client.get(SANDBOX_ASSETS, headers=headers)


def test_the_sandbox_refuses_a_signed_request_whose_nonce_is_not_a_number(settings, client, db):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "PUBLIC_KEY": "pub-1"}
    assert signed_get(client, "1700000000000").status_code == 200
    refused = signed_get(client, "soon")
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_a_broken_account_does_not_hide_the_accounts_after_it(settings, client, db):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNTS": {"broken": "not a dict", "second": {"API_URL": API, "API_KEY": "key-2"}},
    }
    assert client.get(SANDBOX_ASSETS, headers={"api-key": "key-2"}).status_code == 200


def test_a_delivered_callback_is_stored_with_the_json_content_type(kunapay, order, client):
    # The callback's kept headers are what an operator reads of it in the admin.
    invoice = services.create_invoice(order)
    deliver_callback(client, invoice_event({"id": str(invoice.provider_id), "status": "CREATED"}))
    assert CallbackEvent.objects.get().headers["Content-Type"] == "application/json"


QUESTIONNAIRE = f"{API}/v1/invoice/questionnaire"


@responses.activate
def test_a_refusal_keeps_the_first_2000_characters_of_the_answer():
    responses.get(QUESTIONNAIRE, status=400, body="x" * 2500)
    with pytest.raises(ProviderValidationError) as raised:
        KunaPayClient(API, api_key="key").questionnaire_fields()
    assert raised.value.response_text == "x" * 2000


@responses.activate
def test_a_300_answer_is_not_a_success_even_with_a_data_envelope():
    responses.get(QUESTIONNAIRE, status=300, json={"data": []})
    with pytest.raises(ProviderUnavailable) as raised:
        KunaPayClient(API, api_key="key").questionnaire_fields()
    assert raised.value.status_code == 300


@responses.activate
def test_every_error_the_provider_lists_is_in_the_message():
    errors = [{"code": "A", "message": "x"}, {"code": "B", "message": "y"}]
    responses.get(QUESTIONNAIRE, status=400, json={"errors": errors})
    with pytest.raises(ProviderValidationError) as raised:
        KunaPayClient(API, api_key="key").questionnaire_fields()
    assert str(raised.value) == "HTTP 400: A: x; B: y"


@responses.activate
def test_a_request_about_no_object_is_reported_without_an_object_id():
    responses.get(QUESTIONNAIRE, json={"data": []})
    reported = []

    def receiver(sender, **kwargs):
        reported.append(kwargs["object_id"])

    signals.provider_request.connect(receiver)
    try:
        KunaPayClient(API, api_key="key").questionnaire_fields()
    finally:
        signals.provider_request.disconnect(receiver)
    assert reported == [""]


@responses.activate
def test_the_span_of_a_read_carries_at_most_64_characters_of_the_id():
    long_id = "a" * 70
    responses.get(f"{API}/v1/invoice/{long_id}", status=404, json={"errors": []})
    steps = []

    def tracer(name, attributes):
        steps.append(Step(name, attributes))
        return steps[-1]

    previous = telemetry.use_tracer(tracer)
    try:
        with pytest.raises(NotFound):
            KunaPayClient(API, api_key="key").get_invoice(long_id)
    finally:
        telemetry.use_tracer(previous)
    assert [step.attributes["object_id"] for step in steps] == ["a" * 64]
