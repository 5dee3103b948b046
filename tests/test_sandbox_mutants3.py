"""Sandbox behaviour a shop can see that earlier tests left unpinned: the state word kept
of the shop's answer to a callback, the shape of the ids the sandbox makes up, a
deposit's fee and its status while it is being confirmed, the default payment asset."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import requests

from django_invoices import __version__
from django_invoices.client import KunaPayClient
from django_invoices.sandbox import conf, simulate

from .test_sandbox_page import API, HOOK, hook, make_invoice, received  # noqa: F401 (a fixture)


def read_back(invoice):
    """The invoice as the shop's client reads it from the sandbox's API."""
    return KunaPayClient(API, api_key="test-api-key").get_invoice(str(invoice.pk))


def kept_text(kunapay, invoice):
    return [(d.state, d.response_text) for d in kunapay.deliveries(invoice)]


@pytest.mark.parametrize("word", ["applied", "pending"])
def test_the_state_the_shop_reports_is_kept(kunapay, word):
    # django-invoices' own callback view answers {"state": ...}: the page shows that word.
    kunapay.mock.post(HOOK, status=200, json={"state": word, "detail": "ignored"})
    invoice = make_invoice()
    simulate.act(invoice, "expire")
    assert kept_text(kunapay, invoice) == [("delivered", word)]


def test_a_state_word_the_app_never_reports_is_not_kept(kunapay):
    # Any other text of the shop's answer stays unseen, even under the "state" key.
    kunapay.mock.post(HOOK, status=200, json={"state": "shipped to Kyiv"})
    invoice = make_invoice()
    simulate.act(invoice, "expire")
    assert kept_text(kunapay, invoice) == [("delivered", "")]


@pytest.mark.parametrize("answer", [["applied"], "applied", {"state": 5}])
def test_a_json_answer_without_a_state_word_keeps_no_text(kunapay, answer):
    # An answer that is valid JSON but no object must not break the delivery.
    kunapay.mock.post(HOOK, status=200, json=answer)
    invoice = make_invoice()
    simulate.act(invoice, "expire")
    assert kept_text(kunapay, invoice) == [("delivered", "")]


def test_an_address_and_a_transaction_hash_have_the_sandbox_shapes(hook):  # noqa: F811
    invoice = make_invoice()
    simulate.act(invoice, "pay")
    read = read_back(invoice)
    [deposit] = read.transactions
    # The shapes the sandbox documents: "sbx1" + 32 hex digits, "0x" + 64 hex digits.
    assert re.fullmatch(r"sbx1[0-9a-f]{32}", read.address), read.address
    assert deposit.address == read.address
    assert re.fullmatch(r"0x[0-9a-f]{64}", deposit.tx_id), deposit.tx_id


def test_the_fee_is_rounded_up_to_the_precision_of_the_deposit_asset(hook):  # noqa: F811
    hook.configure(FEE_PERCENT="1")
    # 1 % of 1.234567 USDT is 0.01234567: USDT has 6 places, so the fee is 0.012346.
    invoice = make_invoice(amount="1.234567")
    simulate.act(invoice, "pay")
    [deposit] = read_back(invoice).transactions
    assert (deposit.amount, deposit.fee, deposit.processed_amount) == (
        Decimal("1.234567"),
        Decimal("0.012346"),
        Decimal("1.222221"),
    )


def test_a_deposit_being_confirmed_is_reported_as_processing(hook):  # noqa: F811
    invoice = make_invoice()
    simulate.act(invoice, "pay")
    deposits_by_status = {
        event["data"]["status"]: [tx["status"] for tx in event["data"]["transactions"]]
        for event in received(hook)
        if "transactions" in event["data"]
    }
    assert deposits_by_status == {
        "PAYMENT_AWAITING": [],
        "CONFIRMATION_AWAITING": ["Processing"],
        "PAID": ["Processed"],
    }


def test_a_crypto_invoice_is_paid_in_its_own_asset_by_default(hook):  # noqa: F811
    # Nobody chose an asset: a BTC invoice is paid in BTC, not in the first crypto asset.
    invoice = make_invoice(amount="0.00125", asset="BTC")
    simulate.act(invoice, "pay")
    read = read_back(invoice)
    assert (read.status, read.payment_asset, read.payment_amount) == (
        "PAID",
        "BTC",
        Decimal("0.00125"),
    )
    assert [tx.asset for tx in read.transactions] == ["BTC"]


def test_a_callback_url_off_the_shop_host_fails_with_a_plain_reason(kunapay):
    invoice = make_invoice(callback_url="https://elsewhere.example/kunapay")
    simulate.act(invoice, "expire")
    [failed] = kunapay.deliveries(invoice)
    assert (failed.state, failed.attempts, failed.error) == (
        "failed",
        0,
        "callbackUrl is not on the shop's host (see CALLBACK_HOSTS)",
    )


def test_a_delivered_callback_records_when_and_how_fast(kunapay, monkeypatch):
    kunapay.mock.post(HOOK, status=200)
    sent = requests.Session.send

    def slow_send(self, request, **kwargs):
        # A fixed answer time, so the milliseconds recorded are known exactly.
        response = sent(self, request, **kwargs)
        response.elapsed = timedelta(milliseconds=1234)
        return response

    monkeypatch.setattr(requests.Session, "send", slow_send)
    invoice = make_invoice()
    simulate.act(invoice, "expire")
    [delivered] = kunapay.deliveries(invoice)
    assert (delivered.state, delivered.response_status, delivered.response_ms) == (
        "delivered",
        200,
        1234,
    )
    assert delivered.delivered_at is not None


def test_the_callback_headers_name_json_and_the_sandbox(hook):  # noqa: F811
    invoice = make_invoice()
    simulate.act(invoice, "expire")
    [call] = [c for c in hook.mock.calls if c.request.url == HOOK]
    assert call.request.headers["Content-Type"] == "application/json"
    assert call.request.headers["User-Agent"] == f"django-invoices-sandbox/{__version__}"


def test_a_single_attempt_setting_means_a_single_attempt(kunapay):
    kunapay.configure(CALLBACK_ATTEMPTS=1)
    kunapay.mock.post(HOOK, status=503)
    invoice = make_invoice()
    simulate.act(invoice, "expire")
    [failed] = kunapay.deliveries(invoice)
    assert (failed.state, failed.attempts, failed.response_status) == ("failed", 1, 503)
    assert len([c for c in kunapay.mock.calls if c.request.url == HOOK]) == 1


def test_a_redirecting_callback_url_is_not_followed(kunapay):
    # A 302 is not the 200 the provider wants: the answer of the callback URL itself
    # counts, never that of an address it points to.
    kunapay.configure(CALLBACK_ATTEMPTS=1)
    elsewhere = "https://hooks.example/moved"
    kunapay.mock.post(HOOK, status=302, headers={"Location": elsewhere})
    kunapay.mock.post(elsewhere, status=200)
    invoice = make_invoice()
    simulate.act(invoice, "expire")
    [failed] = kunapay.deliveries(invoice)
    assert (failed.state, failed.response_status) == ("failed", 302)
    assert [c.request.url for c in kunapay.mock.calls if "hooks.example" in c.request.url] == [HOOK]


def test_a_new_invoice_expires_after_the_invoice_lifetime(kunapay):
    kunapay.configure(INVOICE_LIFETIME=3600)
    invoice = make_invoice()
    lifetime = invoice.expire_at - invoice.created_at
    assert timedelta(minutes=59) < lifetime <= timedelta(hours=1)


@pytest.mark.parametrize(
    ("base_url", "url", "allowed"),
    [
        # A URL without a port means the scheme's port: 80 for http, whether said or not.
        ("http://shop.local", "http://shop.local:80/invoices/callback/", True),
        ("http://shop.local:80", "http://shop.local/invoices/callback/", True),
        ("http://shop.local", "http://shop.local:81/invoices/callback/", False),
        # Only http and https: another scheme on an allowed host is still refused.
        ("https://shop.example", "ftp://hooks.example/kunapay", False),
        ("https://shop.example", "ftp://shop.example/invoices/callback/", False),
    ],
)
def test_callback_hosts_compare_scheme_host_and_port(settings, base_url, url, allowed):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "BASE_URL": base_url}
    assert conf.callback_host_allowed(url) is allowed


def test_an_unreadable_callback_hosts_entry_does_not_hide_the_next_one(settings):
    settings.DJANGO_INVOICES_SANDBOX = {
        **settings.DJANGO_INVOICES_SANDBOX,
        "CALLBACK_HOSTS": ["[not-an-ip", "hooks.example:no-port", "hooks.example"],
    }
    assert conf.callback_host_allowed(HOOK) is True


def test_a_callback_hosts_entry_without_a_host_allows_nothing(settings):
    settings.DJANGO_INVOICES_SANDBOX = {
        **settings.DJANGO_INVOICES_SANDBOX,
        "CALLBACK_HOSTS": [":8000"],
    }
    assert conf.callback_host_allowed("http://xxxx:8000/kunapay") is False
