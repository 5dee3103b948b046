"""The sandbox speaks the provider's API: the app's own client works against it unchanged."""

import json
import uuid
from decimal import Decimal

import pytest
import requests

from django_invoices.client import KunaPayClient
from django_invoices.exceptions import (
    AuthenticationFailed,
    NotFound,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderValidationError,
)
from django_invoices.sandbox.models import SandboxInvoice
from django_invoices.signing import sign_request

API = "https://api.kunapay.test"
PUBLIC, PRIVATE = "sbx-public", "sbx-private"


@pytest.fixture
def keys(settings):
    """A second account that signs, so the sandbox accepts both modes by default."""
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNTS": {"signed": {"PUBLIC_KEY": PUBLIC, "PRIVATE_KEY": PRIVATE}},
    }


def api_key_client(url=API, **kwargs):
    return KunaPayClient(url, api_key="test-api-key", retry_backoff=0, **kwargs)


def signed_client(url=API, **kwargs):
    return KunaPayClient(
        url, public_key=PUBLIC, private_key=PRIVATE, auth_mode="signed", retry_backoff=0, **kwargs
    )


BOTH = pytest.mark.parametrize("make_client", [api_key_client, signed_client], ids=["key", "sig"])


@BOTH
def test_create_read_back_and_list_in_both_modes(keys, kunapay, make_client):
    client = make_client()
    assert {a["code"] for a in client.list_assets()} >= {"EUR", "USDT", "BTC"}
    assert "email" in {f["name"] for f in client.questionnaire_fields()}
    created = client.create_invoice(
        amount=Decimal("42.50"),
        asset="EUR",
        external_order_id="A-1",
        callback_url="https://shop.example/invoices/callback/default/",
        redirect_url="https://shop.example/invoices/return/",
        redirect_button_title="Back",
        transactional_callbacks=True,
        questionnaire_fields=["email"],
        product_description="Чай",
    )
    uuid.UUID(created.id)
    assert created.payment_link == f"{API}/pay/{created.id}/"
    detail = client.get_invoice(created.id)
    assert detail.status == "CREATED"
    assert detail.raw["invoiceAmount"] == "42.5"
    assert detail.invoice_asset == "EUR"
    assert detail.external_order_id == "A-1"
    assert detail.raw["productDescription"] == "Чай"
    assert detail.raw["transactions"] == [] and detail.transactions == ()
    assert detail.raw["createdAt"].endswith("Z") and len(detail.raw["createdAt"]) == 24
    stored = SandboxInvoice.objects.get(pk=created.id)
    assert stored.amount == Decimal("42.50")
    assert stored.transactional_callbacks is True
    assert stored.questionnaire == ["email"]
    assert stored.redirect_button_title == "Back"
    listed = client.list_invoices(external_order_id="A-1")
    assert [item.id for item in listed] == [created.id]
    assert client.list_invoices(external_order_id="B-2") == []


def test_each_merchant_sees_only_its_own_invoices(keys, kunapay):
    mine = api_key_client().create_invoice(amount="1", asset="USDT", external_order_id="X")
    assert signed_client().list_invoices(external_order_id="X") == []
    with pytest.raises(NotFound):
        signed_client().get_invoice(mine.id)


def test_paging_and_envelope(keys, kunapay):
    client = api_key_client()
    ids = [client.create_invoice(amount=str(n), asset="USDT").id for n in range(1, 4)]
    assert len(client.list_invoices(take=2)) == 2
    assert len(client.list_invoices(take=2, skip=2)) == 1
    raw = requests.get(f"{API}/v1/invoice/{ids[0]}", headers={"api-key": "test-api-key"})
    assert raw.status_code == 200
    assert set(raw.json()) == {"data"}


@BOTH
def test_wrong_credentials_get_401_in_the_provider_error_shape(keys, kunapay, make_client):
    if make_client is api_key_client:
        client = KunaPayClient(API, api_key="not-the-key")
    else:
        client = KunaPayClient(
            API, public_key=PUBLIC, private_key="wrong-private-key", auth_mode="signed"
        )
    with pytest.raises(AuthenticationFailed) as caught:
        client.list_assets()
    assert caught.value.status_code == 401
    assert caught.value.errors[0]["code"] == "UNAUTHORIZED"
    assert not SandboxInvoice.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"public-key": PUBLIC},
        {"public-key": PUBLIC, "nonce": "abc", "signature": "00"},
        {"public-key": PUBLIC, "nonce": "1", "signature": "ж"},
        {"public-key": "unknown", "nonce": "1", "signature": "00"},
    ],
)
def test_incomplete_or_hostile_auth_headers_are_401(keys, kunapay, headers):
    response = requests.get(f"{API}/v1/invoice/assets", headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "errors": [{"code": "UNAUTHORIZED", "message": response.json()["errors"][0]["message"]}]
    }


def test_a_signature_over_another_path_or_body_is_refused(keys, kunapay):
    nonce = "1700000000000"
    body = '{"amount":"1","asset":"USDT"}'
    signature = sign_request(PRIVATE, "/v1/invoice", nonce, body)  # forgets the query
    response = requests.post(
        f"{API}/v1/invoice?x=1",
        data=body,
        headers={"public-key": PUBLIC, "nonce": nonce, "signature": signature},
    )
    assert response.status_code == 401
    signature = sign_request(PRIVATE, "/v1/invoice", nonce, body)
    response = requests.post(
        f"{API}/v1/invoice",
        data=body.replace('"1"', '"2"'),
        headers={"public-key": PUBLIC, "nonce": nonce, "signature": signature},
    )
    assert response.status_code == 401
    assert not SandboxInvoice.objects.exists()


def test_the_sandboxs_invoices_and_deposits_are_named_by_their_ids(kunapay):
    created = api_key_client().create_invoice(amount="5", asset="USDT")
    paid = kunapay.pay(created.id)
    (deposit,) = paid.transactions.all()
    assert str(paid) == str(created.id)
    assert str(deposit) == str(deposit.pk) == kunapay.data(paid)["transactions"][0]["id"]


def test_unknown_invoice_is_404(kunapay):
    with pytest.raises(NotFound) as caught:
        api_key_client().get_invoice(str(uuid.uuid4()))
    assert caught.value.errors[0]["code"] == "NOT_FOUND"
    with pytest.raises(NotFound):
        api_key_client().get_invoice("not-a-uuid")


@pytest.mark.parametrize(
    ("body", "word"),
    [
        (b"{not json", "JSON"),
        (b"\xff\xfe", "JSON"),
        (b"[]", "object"),
        (b"{}", "asset"),
        (b'{"asset":"XYZ","amount":"1"}', "XYZ"),
        (b'{"asset":"EUR"}', "amount"),
        (b'{"asset":"EUR","amount":1.5}', "decimal string"),
        (b'{"asset":"EUR","amount":"-1"}', "decimal string"),
        (b'{"asset":"EUR","amount":"0"}', "more than zero"),
        (b'{"asset":"EUR","amount":"1e3"}', "decimal string"),
        (b'{"asset":"EUR","amount":"NaN"}', "decimal string"),
        (b'{"asset":"EUR","amount":"1.001"}', "decimal places"),
        (b'{"asset":"EUR","amount":"1","callbackUrl":"ftp://x"}', "callbackUrl"),
        (b'{"asset":"EUR","amount":"1","callbackUrl":5}', "callbackUrl"),
        (b'{"asset":"EUR","amount":"1","customization":"x"}', "customization"),
        (b'{"asset":"EUR","amount":"1","customization":{"redirectUrl":"/x"}}', "redirectUrl"),
        (b'{"asset":"EUR","amount":"1","shouldSendTransactionalCallback":"yes"}', "true or"),
        (b'{"asset":"EUR","amount":"1","questionnaire":{"schemaFields":"email"}}', "list"),
        (b'{"asset":"EUR","amount":"1","questionnaire":{"schemaFields":[{"name":"pin"}]}}', "pin"),
        (b'{"asset":"EUR","amount":"1","questionnaire":{"schemaFields":[7]}}', "questionnaire"),
        (b'{"asset":"EUR","amount":"1","externalOrderId":["A"]}', "externalOrderId"),
    ],
)
def test_bad_create_bodies_are_400_never_500(kunapay, body, word):
    response = requests.post(
        f"{API}/v1/invoice",
        data=body,
        headers={"api-key": "test-api-key", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == "BAD_REQUEST"
    assert word in error["message"]
    assert not SandboxInvoice.objects.exists()


def test_client_validation_error_carries_the_message(kunapay):
    with pytest.raises(ProviderValidationError, match="XYZ"):
        api_key_client().create_invoice(amount="1", asset="XYZ")


@pytest.mark.parametrize("query", ["take=0", "take=101", "take=x", "skip=-1", "take=1e2"])
def test_bad_paging_is_400(kunapay, query):
    response = requests.get(f"{API}/v1/invoice?{query}", headers={"api-key": "test-api-key"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_wrong_method_is_405_in_the_error_shape(kunapay):
    response = requests.delete(f"{API}/v1/invoice/assets", headers={"api-key": "test-api-key"})
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "METHOD_NOT_ALLOWED"


# -- failure modes of the API ----------------------------------------------------------


def test_global_api_error_mode_answers_503_and_creates_nothing(kunapay):
    kunapay.fail("api_error")
    with pytest.raises(ProviderUnavailable) as caught:
        api_key_client(retries=0).create_invoice(amount="1", asset="USDT")
    assert caught.value.status_code == 503
    assert caught.value.errors == [
        {
            "code": "SERVICE_UNAVAILABLE",
            "message": "The sandbox plays an outage (failure mode api_error).",
        }
    ]
    assert not SandboxInvoice.objects.exists()
    kunapay.fail()
    assert api_key_client().list_assets()


def test_api_error_is_retried_by_the_client_for_gets(kunapay):
    kunapay.fail("api_error")
    with pytest.raises(ProviderUnavailable):
        api_key_client(retries=2).list_assets()
    assert len(kunapay.mock.calls) == 3


def test_global_timeout_mode_creates_the_invoice_but_answers_too_late(kunapay):
    kunapay.fail("api_timeout")
    with pytest.raises(ProviderTimeout) as caught:
        api_key_client().create_invoice(amount="5", asset="USDT", external_order_id="T-1")
    assert caught.value.ambiguous
    kunapay.fail()
    # The shop's way out: look it up before creating again.
    assert len(api_key_client().list_invoices(external_order_id="T-1")) == 1


def test_the_timeout_mode_stalls_one_second_past_the_read_timeout(
    client, db, settings, monkeypatch
):
    """As documented: API_TIMEOUT_DELAY, or when None the app's READ_TIMEOUT plus one."""
    from django_invoices.sandbox import api

    stalls = []
    monkeypatch.setattr(api, "stall", stalls.append)
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "READ_TIMEOUT": 7}
    quiet = settings.DJANGO_INVOICES_SANDBOX
    settings.DJANGO_INVOICES_SANDBOX = {**quiet, "FAILURES": ["api_timeout"]}
    headers = {"api-key": "test-api-key"}
    assert client.get("/sandbox/v1/invoice/assets", headers=headers).status_code == 200
    settings.DJANGO_INVOICES_SANDBOX = {
        **quiet,
        "FAILURES": ["api_timeout"],
        "API_TIMEOUT_DELAY": "0.25",
    }
    assert client.get("/sandbox/v1/invoice/assets", headers=headers).status_code == 200
    assert stalls == [8.0, 0.25]


def test_per_invoice_api_modes(kunapay):
    client = api_key_client(retries=0)
    created = client.create_invoice(amount="5", asset="USDT", external_order_id="P-1")
    kunapay.fail("api_error", invoice=created.id)
    with pytest.raises(ProviderUnavailable):
        client.get_invoice(created.id)
    with pytest.raises(ProviderUnavailable):
        client.list_invoices(external_order_id="P-1")
    assert client.list_assets()  # other endpoints are unaffected
    kunapay.fail("api_timeout", invoice=created.id)
    with pytest.raises(ProviderTimeout):
        client.get_invoice(created.id)
    kunapay.fail(invoice=created.id)
    assert client.get_invoice(created.id).id == created.id


# -- over real HTTP --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@BOTH
def test_over_real_http_in_both_modes(keys, live_server, make_client):
    client = make_client(f"{live_server.url}/sandbox")
    created = client.create_invoice(amount="10.5", asset="USDT", external_order_id="L-1")
    assert created.payment_link == f"{live_server.url}/sandbox/pay/{created.id}/"
    assert client.get_invoice(created.id).raw["invoiceAmount"] == "10.5"
    assert [i.id for i in client.list_invoices(external_order_id="L-1")] == [created.id]
    page = requests.get(created.payment_link, timeout=5)
    assert page.status_code == 200
    assert "10.500000 USDT" in page.text


@pytest.mark.django_db(transaction=True)
def test_over_real_http_a_wrong_key_is_401(keys, live_server):
    client = KunaPayClient(
        f"{live_server.url}/sandbox", public_key=PUBLIC, private_key="nope", auth_mode="signed"
    )
    with pytest.raises(AuthenticationFailed):
        client.list_invoices()
    response = requests.get(
        f"{live_server.url}/sandbox/v1/invoice", headers={"api-key": "nope"}, timeout=5
    )
    assert response.status_code == 401
    assert json.loads(response.content)["errors"][0]["code"] == "UNAUTHORIZED"


@pytest.mark.django_db(transaction=True)
def test_over_real_http_the_timeout_mode_outlasts_the_read_timeout(live_server, settings):
    quiet = settings.DJANGO_INVOICES_SANDBOX
    settings.DJANGO_INVOICES_SANDBOX = {
        **quiet,
        "FAILURES": ["api_timeout"],
        "API_TIMEOUT_DELAY": 0.6,
    }
    client = api_key_client(f"{live_server.url}/sandbox", timeout=(2, 0.2), retries=0)
    with pytest.raises(ProviderTimeout):
        client.list_assets()
    settings.DJANGO_INVOICES_SANDBOX = quiet
    # Wait for the stalled request to finish before the database is flushed.
    import time

    time.sleep(0.6)
