"""Mutants of the sandbox (``django_invoices/sandbox/*``) that survived the suite, each
pinned here by what a shop reads from the sandbox.

Pinned: the sandbox's wire objects field by field (invoice list items, transactions,
deposit callbacks, dates with milliseconds, amounts in an asset's precision, conversion
and fees rounded up), and the 400 answers ``POST /v1/invoice`` gives to each wrong field.
"""

import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest
from django.test import override_settings

from django_invoices.sandbox import api, conf, wire
from django_invoices.sandbox.models import SandboxInvoice, SandboxTransaction

INVOICE_ID = uuid.UUID("506c695a-4187-4463-ac41-07dc0782cb0e")
TX_ID = uuid.UUID("11111111-2222-4333-8444-555555555555")


def _at(*parts):
    return datetime(*parts, tzinfo=dt_timezone.utc)


def _merchant():
    return conf.credentials()[0]


def _invoice(**fields):
    values = {
        "id": INVOICE_ID,
        "merchant": _merchant().merchant,
        "status": SandboxInvoice.PAID,
        "amount": Decimal("42.50"),
        "asset": "EUR",
        "external_order_id": "A-1",
        "payment_amount": Decimal("0.00077917"),
        "payment_asset": "BTC",
        "address": "bc1-sandbox",
        "expire_at": _at(2026, 11, 25, 11, 0),
        "completed_at": _at(2026, 11, 25, 10, 30, 5, 123999),
        "created_at": _at(2026, 11, 25, 10, 0),
        "updated_at": _at(2026, 11, 25, 10, 31),
    }
    values.update(fields)
    return SandboxInvoice(**values)


def _tx(invoice=None, **fields):
    values = {
        "id": TX_ID,
        "invoice": invoice or _invoice(),
        "type": "Deposit",
        "status": SandboxTransaction.PROCESSED,
        "asset": "BTC",
        "payment_code": "BTC",
        "amount": Decimal("0.00077917"),
        "fee": Decimal("0.00000100"),
        "processed_amount": Decimal("0.00077817"),
        "address": "bc1-sandbox",
        "tx_id": "0xabc",
        "created_at": _at(2026, 11, 25, 10, 20),
        "updated_at": _at(2026, 11, 25, 10, 30, 0, 7000),
    }
    values.update(fields)
    return SandboxTransaction(**values)


def test_an_invoice_list_item_is_written_field_by_field():
    assert wire.invoice_summary(_invoice()) == {
        "id": str(INVOICE_ID),
        "status": "PAID",
        "addressId": "bc1-sandbox",
        "externalOrderId": "A-1",
        "invoiceAmount": "42.5",
        "invoiceAssetCode": "EUR",
        "paymentAmount": "0.00077917",
        "paymentAssetCode": "BTC",
        "expireAt": "2026-11-25T11:00:00.000Z",
        "completedAt": "2026-11-25T10:30:05.123Z",
        "createdAt": "2026-11-25T10:00:00.000Z",
    }
    blank = wire.invoice_summary(
        _invoice(
            address="",
            external_order_id="",
            payment_amount=None,
            payment_asset="",
            completed_at=None,
            status="CREATED",
        )
    )
    assert blank["addressId"] is None
    assert blank["externalOrderId"] is None
    assert blank["paymentAmount"] is None
    assert blank["paymentAssetCode"] is None
    assert blank["completedAt"] is None
    assert blank["status"] == "CREATED"


def test_timestamps_are_utc_with_milliseconds():
    kyiv = dt_timezone(timedelta(hours=2))
    assert wire.timestamp(datetime(2026, 1, 2, 3, 4, 5, 6999, tzinfo=kyiv)) == (
        "2026-01-02T01:04:05.006Z"
    )
    assert wire.timestamp(_at(2026, 1, 2, 3, 4, 5, 999999)) == "2026-01-02T03:04:05.999Z"
    assert wire.timestamp(None) is None


def test_a_transaction_and_its_detail_are_written_field_by_field():
    tx = _tx()
    expected = {
        "id": str(TX_ID),
        "type": "Deposit",
        "status": "Processed",
        "asset": "BTC",
        "paymentCode": "BTC",
        "amount": "0.00077917",
        "fee": "0.000001",
        "processedAmount": "0.00077817",
        "address": "bc1-sandbox",
        "txId": "0xabc",
        "creatorComment": "",
        "reason": [],
        "createdAt": "2026-11-25T10:20:00.000Z",
        "updatedAt": "2026-11-25T10:30:00.007Z",
    }
    assert wire.transaction(tx) == expected
    assert wire.transaction_detail(tx) == {**expected, "invoiceId": str(INVOICE_ID)}
    canceled = wire.transaction(_tx(status=SandboxTransaction.CANCELED, tx_id=""))
    assert canceled["reason"] == ["AML_CHECK_FAILED"]
    assert canceled["txId"] is None


def test_a_deposit_callback_is_written_field_by_field():
    merchant = _merchant()
    assert wire.deposit_event(_tx()) == {
        "event": "InvoiceDeposit",
        "data": {
            "id": str(TX_ID),
            "type": "InvoiceDeposit",
            "companyId": merchant.creator_id,
            "invoiceId": str(INVOICE_ID),
            "externalOrderId": "A-1",
            "paymentCode": "BTC",
            "asset": "BTC",
            "amount": "0.00077917",
            "fee": "0.000001",
            "processedAmount": "0.00077817",
            "status": "Processed",
            "address": "bc1-sandbox",
            "memo": None,
            "txId": "0xabc",
            "createdAt": "2026-11-25T10:20:00.000Z",
            "updatedAt": "2026-11-25T10:30:00.007Z",
        },
    }
    orphan = _tx(_invoice(merchant="gone", external_order_id=""), address="", tx_id="")
    data = wire.deposit_event(orphan)["data"]
    assert data["companyId"] is None
    assert data["externalOrderId"] is None
    assert (data["address"], data["txId"]) == (None, None)


def test_deposit_callbacks_without_references_and_under_other_event_names():
    sandbox = {
        **conf_settings(),
        "DEPOSIT_REFERENCES": False,
        "DEPOSIT_EVENT_NAME": "Deposit2",
        "INVOICE_EVENT_NAME": "Invoice2",
    }
    with override_settings(DJANGO_INVOICES_SANDBOX=sandbox):
        event = wire.deposit_event(_tx())
        assert event["event"] == "Deposit2"
        assert "invoiceId" not in event["data"]
        assert "externalOrderId" not in event["data"]
        assert event["data"]["id"] == str(TX_ID)


def conf_settings():
    from django.conf import settings

    return dict(settings.DJANGO_INVOICES_SANDBOX)


def test_the_asset_catalogue_is_written_in_order():
    listed = wire.asset_list()
    assert [a["code"] for a in listed] == ["USDT", "BTC", "ETH", "USD", "EUR", "UAH"]
    assert listed[1] == {
        "code": "BTC",
        "name": "Bitcoin",
        "description": "Bitcoin",
        "position": 2,
        "precision": 8,
        "type": "Crypto",
        "icons": {"svg": None, "png": None},
    }
    assert [a["position"] for a in listed] == [1, 2, 3, 4, 5, 6]
    assert listed[5]["type"] == "Fiat" and listed[5]["precision"] == 2


@pytest.mark.parametrize(
    ("value", "asset", "text"),
    [
        (Decimal("24.9"), "EUR", "24.90 EUR"),
        (Decimal("0.00108167"), "BTC", "0.00108167 BTC"),
        (Decimal("1"), "USDT", "1.000000 USDT"),
        (Decimal("0.123"), "USD", "0.123 USD"),  # more digits than the precision: kept
        (Decimal("5.50"), "XYZ", "5.5 XYZ"),
        (Decimal("5"), "", "5"),
        (None, "EUR", ""),
    ],
)
def test_amounts_for_people_are_shown_in_the_assets_precision(value, asset, text):
    assert wire.amount_text(value, asset) == text


@pytest.mark.parametrize(
    ("value", "source", "target", "converted"),
    [
        (Decimal("42.50"), "EUR", "EUR", Decimal("42.50")),
        (Decimal("42.50"), "EUR", "BTC", Decimal("0.00077917")),  # 46.75 / 60000, up
        (Decimal("60000"), "USDT", "BTC", Decimal("1.00000000")),
        (Decimal("1"), "BTC", "ETH", Decimal("20.00000000")),
        (Decimal("100"), "UAH", "USDT", Decimal("2.500000")),
        (Decimal("0.0000001"), "USDT", "USDT", Decimal("0.0000001")),
        (Decimal("6"), "USD", "EUR", Decimal("5.46")),  # 5.4545...: up, never to nearest
    ],
)
def test_conversion_rounds_up_to_the_target_precision(value, source, target, converted):
    result = wire.convert(value, source, target)
    assert result == converted
    assert str(result) == str(converted)


def test_fees_are_a_percentage_rounded_up():
    assert wire.fee_of(Decimal("100"), "BTC") == Decimal("0")
    sandbox = {**conf_settings(), "FEE_PERCENT": "1.5"}
    with override_settings(DJANGO_INVOICES_SANDBOX=sandbox):
        assert str(wire.fee_of(Decimal("0.00077917"), "BTC")) == "0.00001169"
        assert str(wire.fee_of(Decimal("10"), "USDT")) == "0.150000"
        assert wire.fee_of(Decimal("0.000003"), "BTC") == Decimal("0.00000005")  # 4.5: up
        assert str(wire.fee_of(Decimal("1"), "XYZ")) == "0.01500000"  # 8 places if unknown
    sandbox = {**conf_settings(), "FEE_PERCENT": None}
    with override_settings(DJANGO_INVOICES_SANDBOX=sandbox):
        assert wire.fee_of(Decimal("10"), "USDT") == 0


def test_the_way_back_adds_the_invoice_and_order():
    invoice = _invoice(redirect_url="https://shop.example/back/?lang=uk&invoiceId=old&flag")
    assert wire.return_url(invoice) == (
        f"https://shop.example/back/?lang=uk&flag&invoiceId={INVOICE_ID}&orderId=A-1"
    )
    plain = _invoice(redirect_url="https://shop.example/back/", external_order_id="")
    assert wire.return_url(plain) == f"https://shop.example/back/?invoiceId={INVOICE_ID}"
    assert wire.return_url(_invoice(redirect_url="")) == ""


def test_sandbox_timestamps_are_utc_whatever_the_shops_time_zone(settings):
    settings.TIME_ZONE = "Europe/Kyiv"  # Django makes it the process' local time too
    assert wire.timestamp(_at(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"


@pytest.mark.django_db
def test_an_invoice_callback_carries_the_whole_invoice():
    invoice = _invoice(product_category="tea", product_description="Green tea")
    invoice.save()
    tx = _tx(invoice)
    tx.save()
    SandboxInvoice.objects.filter(pk=invoice.pk).update(updated_at=_at(2026, 11, 25, 10, 31))
    invoice.refresh_from_db()
    event = wire.invoice_event(invoice)
    assert event == {
        "event": "Invoice",
        "data": {
            **wire.invoice_summary(invoice),
            "creatorId": _merchant().creator_id,
            "productCategory": "tea",
            "productDescription": "Green tea",
            "isCreatedByApi": True,
            "updatedAt": "2026-11-25T10:31:00.000Z",
            "transactions": [wire.transaction(tx)],
        },
    }
    assert event["data"]["id"] == str(INVOICE_ID)
    bare = _invoice(id=uuid.uuid4(), merchant="gone")
    bare.save()
    data = wire.invoice_detail(bare)
    assert (data["creatorId"], data["productCategory"], data["productDescription"]) == (
        None,
        None,
        None,
    )
    assert data["transactions"] == []
    sandbox = {**conf_settings(), "INVOICE_EVENT_NAME": "Invoice2"}
    with override_settings(DJANGO_INVOICES_SANDBOX=sandbox):
        assert wire.invoice_event(bare)["event"] == "Invoice2"


# -- POST /v1/invoice: what each wrong field gets -----------------------------------------


def _refusal(payload):
    with pytest.raises(api.ApiError) as caught:
        api.invoice_fields(payload)
    assert (caught.value.status, caught.value.code) == (400, "BAD_REQUEST")
    return caught.value.message


GOOD = {"amount": "42.50", "asset": "EUR"}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "The body must be a JSON object."),
        ({"amount": "1"}, "asset is required."),
        ({"amount": "1", "asset": ""}, "asset is required."),
        ({"amount": "1", "asset": 5}, "asset is required."),
        (
            {"amount": "1", "asset": "DOGE" * 10},
            "Unknown asset DOGEDOGEDOGEDOGEDOGE; see /v1/invoice/assets.",
        ),
        ({"asset": "EUR"}, "amount is required."),
        ({"asset": "EUR", "amount": 5}, 'amount must be a decimal string such as "100.50".'),
        ({"asset": "EUR", "amount": "1e5"}, 'amount must be a decimal string such as "100.50".'),
        ({"asset": "EUR", "amount": "0.00"}, "amount must be more than zero."),
        ({"asset": "EUR", "amount": "1000000000000"}, "amount must be less than 1000000000000."),
        ({"asset": "EUR", "amount": "1.005"}, "EUR amounts have at most 2 decimal places."),
        (
            {**GOOD, "shouldSendTransactionalCallback": "yes"},
            "shouldSendTransactionalCallback must be true or false.",
        ),
        ({**GOOD, "customization": []}, "customization must be an object."),
        ({**GOOD, "questionnaire": "email"}, "questionnaire must be an object."),
        (
            {**GOOD, "questionnaire": {"schemaFields": {"name": "email"}}},
            "questionnaire.schemaFields must be a list.",
        ),
        (
            {**GOOD, "questionnaire": {"schemaFields": [{"name": "age"}]}},
            "Unknown questionnaire field age; see /v1/invoice/questionnaire.",
        ),
        (
            {**GOOD, "questionnaire": {"schemaFields": ["email"]}},
            "Unknown questionnaire field None; see /v1/invoice/questionnaire.",
        ),
        (
            {**GOOD, "questionnaire": {"schemaFields": [{"name": "x" * 50}]}},
            f"Unknown questionnaire field {'x' * 40}; see /v1/invoice/questionnaire.",
        ),
        ({**GOOD, "externalOrderId": 5}, "externalOrderId must be a string."),
        ({**GOOD, "externalOrderId": "a\x00b"}, "externalOrderId must not contain NUL characters."),
        ({**GOOD, "externalOrderId": "x" * 256}, "externalOrderId is longer than 255 characters."),
        ({**GOOD, "productCategory": "x" * 256}, "productCategory is longer than 255 characters."),
        (
            {**GOOD, "productDescription": "x" * 2001},
            "productDescription is longer than 2000 characters.",
        ),
        (
            {**GOOD, "callbackUrl": "ftp://shop.example/"},
            "callbackUrl must be an absolute http(s) URL.",
        ),
        ({**GOOD, "callbackUrl": "https://"}, "callbackUrl must be an absolute http(s) URL."),
        ({**GOOD, "callbackUrl": "http://[::1/"}, "callbackUrl must be an absolute http(s) URL."),
        (
            {**GOOD, "callbackUrl": "https://shop.example/a b"},
            "callbackUrl must be an absolute http(s) URL.",
        ),
        (
            {**GOOD, "callbackUrl": "https://x/" + "a" * 1991},
            "callbackUrl is longer than 2000 characters.",
        ),
        (
            {**GOOD, "customization": {"redirectUrl": "shop.example/back"}},
            "redirectUrl must be an absolute http(s) URL.",
        ),
        (
            {**GOOD, "customization": {"redirectButtonTitle": ["Back"]}},
            "redirectButtonTitle must be a string.",
        ),
    ],
)
def test_each_wrong_field_of_a_new_invoice_is_refused_by_name(payload, message):
    assert _refusal(payload) == message


def test_a_new_invoice_reads_every_field():
    fields = api.invoice_fields(
        {
            "amount": "0.12345678",
            "asset": "BTC",
            "externalOrderId": "A-1",
            "productDescription": "x" * 2000,
            "productCategory": "x" * 255,
            "callbackUrl": "http://shop.example/cb/",
            "shouldSendTransactionalCallback": True,
            "customization": {
                "redirectUrl": "https://shop.example/back/",
                "redirectButtonTitle": "Back",
            },
            "questionnaire": {
                "schemaFields": [{"name": "email"}, {"name": "phone"}, {"name": "email"}]
            },
        }
    )
    assert fields == {
        "amount": Decimal("0.12345678"),
        "asset": "BTC",
        "external_order_id": "A-1",
        "product_description": "x" * 2000,
        "product_category": "x" * 255,
        "callback_url": "http://shop.example/cb/",
        "transactional_callbacks": True,
        "redirect_url": "https://shop.example/back/",
        "redirect_button_title": "Back",
        "questionnaire": ["email", "phone"],
    }
    least = api.invoice_fields({"amount": "999999999999.99", "asset": "USD", "questionnaire": {}})
    assert least == {
        "amount": Decimal("999999999999.99"),
        "asset": "USD",
        "external_order_id": "",
        "product_description": "",
        "product_category": "",
        "callback_url": "",
        "transactional_callbacks": False,
        "redirect_url": "",
        "redirect_button_title": "",
        "questionnaire": [],
    }
    assert api.invoice_fields({"amount": "1.10", "asset": "EUR"})["amount"] == Decimal("1.10")
    assert api.invoice_fields({"amount": "1.100", "asset": "EUR"})["amount"] == Decimal("1.1")
    assert api.invoice_fields({"amount": "0.01", "asset": "EUR"})["amount"] == Decimal("0.01")


# -- the gate in front of every sandbox URL -------------------------------------------------


def _view(request):
    return None


def test_the_gate_guards_every_pattern_also_inside_includes_and_keeps_what_it_was():
    from django.urls import include, path

    from django_invoices.sandbox import gate

    inner = [path("b/<int:n>/", _view, {"x": 1}, name="inner")]
    already = gate.GuardedPattern(path("c/", _view).pattern, _view, {}, "done")
    guarded = gate.guard([path("a/", _view, name="outer"), path("in/", include(inner)), already])
    outer, resolver, kept = guarded
    assert type(outer) is gate.GuardedPattern
    assert (outer.name, outer.callback, outer.default_args) == ("outer", _view, {})
    assert str(outer.pattern) == "a/"
    assert kept is already
    (nested,) = resolver.url_patterns
    assert type(nested) is gate.GuardedPattern
    assert (nested.name, nested.default_args) == ("inner", {"x": 1})
    match = nested.resolve("b/5/")
    assert (match.func, match.kwargs, match.url_name) == (_view, {"n": 5, "x": 1}, "inner")
    assert nested.resolve("nope/") is None
    sandbox = {**conf_settings(), "ENABLED": False}
    with override_settings(DJANGO_INVOICES_SANDBOX=sandbox, DEBUG=False):
        assert nested.resolve("b/5/") is None
