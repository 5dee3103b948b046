"""Hostile input to the sandbox: its API answers 400 in the provider's error shape, and
its payment page never 500s, on SQLite and on PostgreSQL alike."""

import json

import pytest

from django_invoices.sandbox.models import SandboxInvoice

from .test_hostile_input import DEEP

SANDBOX_KEY = {"api-key": "test-api-key"}


def test_a_deeply_nested_body_to_the_sandbox_is_400_in_the_providers_shape(client, db):
    response = client.generic(
        "POST", "/sandbox/v1/invoice", DEEP, "application/json", headers=SANDBOX_KEY
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "1", "asset": "USD", "externalOrderId": "A\x00"},
        {"amount": "1", "asset": "USD", "productDescription": "\x00"},
        {"amount": "1", "asset": "USD", "callbackUrl": "http://[::1/"},
        {"amount": "1", "asset": "USD", "customization": {"redirectUrl": "https://[x/"}},
        {"amount": "1000000000000", "asset": "BTC"},
    ],
    ids=["nul", "nul-text", "bad-ipv6", "bad-ipv6-redirect", "too-large"],
)
def test_hostile_create_bodies_get_400_from_the_sandbox(client, db, body):
    response = client.generic(
        "POST", "/sandbox/v1/invoice", json.dumps(body), "application/json", headers=SANDBOX_KEY
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount":"1","asset":"USD","externalOrderId":"\\ud800"}',
        b'{"amount":"1","asset":"USD","customization":{"redirectButtonTitle":"\\udc00"}}',
    ],
)
def test_lone_surrogates_get_400_from_the_sandbox(client, db, body):
    response = client.generic(
        "POST", "/sandbox/v1/invoice", body, "application/json", headers=SANDBOX_KEY
    )
    assert response.status_code == 400


def test_a_nul_in_a_list_filter_gets_400_from_the_sandbox(client, db):
    response = client.get("/sandbox/v1/invoice?externalOrderId=A%00", headers=SANDBOX_KEY)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {"code": "BAD_REQUEST", "message": "externalOrderId must not contain NUL characters."}
        ]
    }


@pytest.mark.parametrize(
    ("asset", "payment_asset", "action", "amount", "answer"),
    [
        ("BTC", "USDT", "pay", "", 303),  # converted at 60000 USDT per BTC
        ("BTC", "BTC", "pay_part", "", 303),
        ("USDT", "BTC", "overpay", "", 303),
        # More than the largest amount a deposit holds: the form says so, no 500.
        ("BTC", "BTC", "overpay", "9" * 18 + "." + "9" * 18, 400),
    ],
)
def test_the_largest_sandbox_invoice_can_be_paid_and_shown(
    client, db, asset, payment_asset, action, amount, answer
):
    created = client.generic(
        "POST",
        "/sandbox/v1/invoice",
        json.dumps({"amount": "9" * 12, "asset": asset}),
        "application/json",
        headers=SANDBOX_KEY,
    )
    invoice_id = created.json()["data"]["id"]
    response = client.post(
        f"/sandbox/pay/{invoice_id}/",
        {"action": action, "payment_asset": payment_asset, "amount": amount},
    )
    assert response.status_code == answer
    page = client.get(f"/sandbox/pay/{invoice_id}/")
    assert page.status_code == 200
    status = SandboxInvoice.objects.get(pk=invoice_id).status
    expected = {"pay": "PAID", "pay_part": "PARTIALLY_PAID", "overpay": "PAID"}[action]
    assert status == (expected if answer == 303 else "CREATED")
