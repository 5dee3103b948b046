"""Hostile input from every side: authentic callbacks with garbage in them, garbage API
answers, hostile query strings and bodies. Each gets a 4xx or a clear outcome, never a
500 and never a silent change of state, on SQLite and on PostgreSQL alike."""

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DataError
from django.urls import reverse
from rest_framework.test import APIClient

from django_invoices import background, services
from django_invoices.amounts import parse_amount
from django_invoices.client import KunaPayClient
from django_invoices.exceptions import InvalidResponse
from django_invoices.models import CallbackEvent, Deposit, Invoice
from django_invoices.services import reads, settle
from django_invoices.statuses import InvoiceStatus

from .callbacks_kit import deposit_event, invoice_event, post
from .conftest import API, ECHO_URL, INVOICE_ID, invoice_payload

DETAIL_URL = f"{API}/v1/invoice/{INVOICE_ID}"
OTHER_ID = "0f8b3a6e-8d39-4c55-9f3e-1b2c3d4e5f60"
State = CallbackEvent.State
# Deep enough for RecursionError, small enough for CALLBACK_MAX_BODY_SIZE.
DEEP = b'{"event":"Invoice","data":' + b"[" * 30_000 + b"]" * 30_000 + b"}"


@pytest.fixture
def invoice(btc_invoice, echo_provider):
    """The invoice; KUNA Pay (echo_provider) answers with what the signed callbacks said,
    so their garbage reaches the app through the only door left: the API's answer."""
    return btc_invoice


def assert_retried_later(event):
    # The provider's answer cannot be stored: asked again later (CONFIRM_ATTEMPTS at
    # most), never half applied.
    assert event.state == State.PENDING, event.outcome
    assert event.outcome.startswith("will retry: ")


def only_event():
    return CallbackEvent.objects.get()


# -- JSON that json.loads lets through as something else than a ValueError ----------------


def test_a_deeply_nested_body_with_a_forged_signature_is_401(client, invoice):
    response = post(client, raw=DEEP, signature="0" * 96)
    assert response.status_code == 401
    assert only_event().state == State.REJECTED


def test_a_deeply_nested_signed_body_is_400(client, invoice):
    response = post(client, raw=DEEP)
    assert response.status_code == 400
    event = only_event()
    assert (event.verified, event.state) == (True, State.REJECTED)
    assert "nested too deeply" in event.outcome


@pytest.mark.parametrize("field", ["status", "invoiceAssetCode", "productDescription"])
def test_a_signed_body_with_a_lone_surrogate_is_400(client, invoice, field):
    data = {"id": INVOICE_ID, "status": "PAYMENT_AWAITING", field: "\ud800"}
    raw = json.dumps({"event": "Invoice", "data": data}).encode()  # ASCII, "\\ud800"
    response = post(client, raw=raw)
    assert response.status_code == 400
    assert "surrogate" in only_event().outcome
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CREATED


@pytest.mark.parametrize(
    "body",
    [
        b'{"data":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"data":{"id":"' + INVOICE_ID.encode() + b'","status":"\\udfff"}}',
    ],
    ids=["deep", "surrogate"],
)
def test_unusable_json_from_the_api_is_an_invalid_response(api, body):
    api.get(DETAIL_URL, body=body, content_type="application/json")
    with pytest.raises(InvalidResponse):
        KunaPayClient(API, api_key="k", retries=0).get_invoice(INVOICE_ID)


def test_a_deeply_nested_api_body_is_400(django_user_model):
    api_client = APIClient()
    api_client.force_authenticate(django_user_model.objects.create_user("u", is_staff=True))
    response = api_client.generic(
        "POST", reverse("django_invoices:api-invoice-create"), DEEP, "application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested too deeply"}


# -- amounts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [
        "1e999999",
        "1e-999999",
        "1" * 40,
        "1" * 19,  # 19 digits before the point; 18 fit
        "0." + "0" * 18 + "1",  # a 19th decimal place would be rounded away
        "-1",
        "NaN",
        "1_000",
        " 1",
        # ARABIC-INDIC DIGIT ONE, which Decimal() would take (an ASCII id: mutmut gives
        # node ids back to pytest, and this escaped one is not found again)
        pytest.param("\u0661", id="arabic-indic-one"),
        True,
        [1],
        {"value": "1"},
        1e308,
        10**40,
    ],
    ids=repr,
)
def test_deposit_amounts_that_cannot_be_stored_fail_the_event(client, invoice, amount):
    response = post(client, deposit_event("tx-1", amount=amount))
    assert response.status_code == 200
    assert_retried_later(only_event())
    assert not Deposit.objects.exists()
    invoice.refresh_from_db()
    assert invoice.paid_amount == 0


@pytest.mark.parametrize(
    ("amount", "stored"),
    [
        ("123456789.123", Decimal("123456789.123")),
        ("0." + "0" * 17 + "1", Decimal("1e-18")),
        ("1.50000000000000000000000", Decimal("1.5")),  # zeros beyond place 18 are harmless
        ("1e-8", Decimal("0.00000001")),
        ("0E+999999", Decimal(0)),
        (5, Decimal(5)),
    ],
    ids=repr,
)
def test_amounts_that_fit_are_stored_exactly(client, invoice, amount, stored):
    # All 36 digits survive on PostgreSQL only (test_models); SQLite's are floats.
    post(client, deposit_event("tx-1", amount="0.001", fee=amount))
    assert only_event().state == State.APPLIED
    assert Deposit.objects.get().fee == stored


def test_parse_amount_takes_plain_ascii_decimals_only():
    assert parse_amount("-1.5e-3") == Decimal("-0.0015")
    assert parse_amount(".5") == Decimal("0.5")
    assert parse_amount(7) == Decimal(7)
    assert parse_amount(0.1) == Decimal("0.1")
    for bad in ("1_000", " 1", "1 ", "\uff11", "NaN", "sNaN", "-Infinity", "1e1234567", "0x10"):
        with pytest.raises(InvalidResponse):
            parse_amount(bad)
    for bad in (True, False, [1], {"a": 1}, object()):
        with pytest.raises(InvalidResponse):
            parse_amount(bad)


# -- strings longer than the columns, or not strings at all -----------------------------


@pytest.mark.parametrize("field", ["id", "status", "asset", "paymentCode", "address", "txId"])
@pytest.mark.parametrize("value", ["x" * 500, {"a": 1}, ["x"]], ids=["long", "object", "list"])
def test_deposit_fields_that_cannot_be_stored_fail_the_event(client, invoice, field, value):
    response = post(client, deposit_event("tx-1", **{field: value}))
    assert response.status_code == 200
    assert_retried_later(only_event())
    assert not Deposit.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "PAYMENT_AWAITING" + "!" * 64),  # the event's log keeps 64 characters
        ("status", 3),
        ("invoiceAssetCode", "E" * 17),
        ("paymentAssetCode", "B" * 500),
        ("paymentAssetCode", 42),
        ("addressId", "a" * 257),
        ("paymentAmount", "1" * 40),
        ("invoiceAmount", "1e999999"),
    ],
    ids=repr,
)
def test_invoice_callback_fields_that_cannot_be_stored_fail_the_event(
    client, invoice, field, value
):
    data = {"id": INVOICE_ID, "status": "PAYMENT_AWAITING", field: value}
    response = post(client, {"event": "Invoice", "data": data})
    assert response.status_code == 200
    assert_retried_later(only_event())
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CREATED
    assert (invoice.payment_asset, invoice.address) == ("BTC", "")


@pytest.mark.parametrize(
    "data",
    [
        {"status": "P" * 65},
        {"status": {"name": "PAID"}},
        {"status": 3},
        {"invoiceAssetCode": "E" * 17},
        {"paymentAmount": "1e999999"},
        {"transactions": [{"id": "tx-1", "amount": "1" * 40, "status": "Processed"}]},
        {"transactions": [{"id": "x" * 65}]},
        {"transactions": [{"id": "tx-1", "status": "Processed", "txId": "t" * 257}]},
    ],
    ids=repr,
)
def test_garbage_in_an_api_answer_is_an_invalid_response(api, invoice, data):
    api.replace("GET", ECHO_URL, json={"data": {**invoice_payload("PAYMENT_AWAITING"), **data}})
    with pytest.raises(InvalidResponse):
        services.refresh_invoice(invoice)
    stored = Invoice.objects.get()
    assert stored.status == InvoiceStatus.CREATED
    assert stored.synced_at is None
    assert not Deposit.objects.exists()


def test_an_over_long_payment_link_is_ignored(api, invoice):
    Invoice.objects.filter(pk=invoice.pk).update(payment_url="https://pay.example/i/1")
    link = "https://pay.example/" + "a" * 1000
    api.replace(
        "GET", ECHO_URL, json={"data": invoice_payload("PAYMENT_AWAITING", paymentLink=link)}
    )
    services.refresh_invoice(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AWAITING_PAYMENT
    assert invoice.payment_url == "https://pay.example/i/1"


# -- timestamps ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
        "2026-13-45T99:99:99Z",
        "garbage",
        12345,
        ["2026-11-25T11:00:00Z"],
    ],
    ids=repr,
)
def test_unusable_timestamps_keep_the_stored_value(client, invoice, api, value):
    stored = datetime(2026, 11, 25, 11, tzinfo=timezone.utc)
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=stored)
    post(client, invoice_event("PAYMENT_AWAITING", expireAt=value))
    assert only_event().state == State.APPLIED
    invoice = Invoice.objects.get()  # and it can be read back
    assert invoice.status == InvoiceStatus.AWAITING_PAYMENT
    assert invoice.expires_at == stored


def test_a_null_timestamp_still_clears_it(client, invoice):
    Invoice.objects.filter(pk=invoice.pk).update(
        completed_at=datetime(2026, 11, 25, 11, tzinfo=timezone.utc)
    )
    post(client, invoice_event("PAYMENT_AWAITING", completedAt=None))
    assert Invoice.objects.get().completed_at is None


def test_timestamps_are_stored_in_utc(client, invoice):
    post(client, invoice_event("PAYMENT_AWAITING", expireAt="2026-11-25T12:00:00+01:00"))
    assert Invoice.objects.get().expires_at == datetime(2026, 11, 25, 11, tzinfo=timezone.utc)


# -- what the provider answers about another invoice -----------------------------------


def test_a_confirming_read_about_another_invoice_does_not_mark_this_one_paid(
    client, api, invoice, django_capture_on_commit_callbacks
):
    api.replace("GET", ECHO_URL, json={"data": invoice_payload("PAID", invoice_id=OTHER_ID)})
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, invoice_event("PAID"))
    assert response.status_code == 200
    event = only_event()
    # The provider's answer is at fault, not the callback: asked again on a later run.
    assert event.state == State.PENDING
    assert event.outcome.startswith("will retry: ") and OTHER_ID in event.outcome
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CREATED
    assert invoice.order.status != "paid"


# -- applying stored events ------------------------------------------------------------


def test_data_the_database_refuses_fails_the_event_instead_of_retrying_forever(
    client, invoice, monkeypatch
):
    def refuse(*args, **kwargs):
        raise DataError("value too long for type character varying(64)")

    monkeypatch.setattr(reads, "apply_data_locked", refuse)
    post(client, deposit_event("tx-1"))
    event = only_event()
    assert event.state == State.FAILED
    assert event.outcome.startswith("cannot store: ")


def test_an_invoice_whose_read_breaks_does_not_stop_the_command(
    client, invoice, order, monkeypatch, settings
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "TASKS": "celery"}
    monkeypatch.setattr(background, "enqueue", lambda *args, **kwargs: None)  # store only
    other = Invoice.objects.create(
        provider_id="22222222-3333-4444-8555-666666666666",
        order=order,
        status="expired",
        invoice_amount=1,
    )
    post(client, deposit_event("tx-broken"))
    post(client, deposit_event("tx-fine", invoiceId=str(other.provider_id)))
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "TASKS": None}
    original = settle.news_ahead_of_read

    def breaks_for_the_first(parsed, data, invoice):
        if parsed.object_id == "tx-broken":
            raise TypeError("something nobody foresaw")
        return original(parsed, data, invoice)

    monkeypatch.setattr(settle, "news_ahead_of_read", breaks_for_the_first)
    call_command("invoices_process_callbacks")
    broken, fine = CallbackEvent.objects.order_by("pk")
    # The broken read rolled back and its invoice backs off; the other one went on.
    assert (broken.state, fine.state) == (State.PENDING, State.APPLIED)
    assert Invoice.objects.get(pk=invoice.pk).callbacks_unconfirmed == 1
    monkeypatch.undo()
    call_command("invoices_process_callbacks")
    assert CallbackEvent.objects.get(pk=broken.pk).state == State.APPLIED


# -- what customers put in query strings -----------------------------------------------


@pytest.mark.parametrize(
    "order_id", ["A-1\x00", "\x00", "x" * 10_000, "' OR 1=1 --", "../../etc/passwd", "\u0410-1"]
)
def test_hostile_order_ids_on_the_return_page_are_404(client, invoice, order_id):
    response = client.get(
        reverse("django_invoices:return"), {"invoiceId": INVOICE_ID, "orderId": order_id}
    )
    assert response.status_code == 404


def test_hostile_order_ids_on_the_status_api_are_400_or_404(invoice):
    url = reverse("django_invoices:api-invoice-status")
    for order_id in ("A-1\x00", "x" * 10_000, "' OR 1=1 --"):
        response = APIClient().get(url, {"invoiceId": INVOICE_ID, "orderId": order_id})
        assert response.status_code in (400, 404)
