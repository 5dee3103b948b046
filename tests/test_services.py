import json
import time
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
import requests
from django.core.cache import cache
from django.core.cache.backends import locmem
from django.test import override_settings
from django.utils import translation
from responses import matchers

from django_invoices import conf, services, signals
from django_invoices.client import KunaPayClient
from django_invoices.exceptions import (
    AuthenticationFailed,
    InvalidResponse,
    InvoiceCreationError,
    KunaPayError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderValidationError,
)
from django_invoices.models import Invoice, Order
from django_invoices.services import provider
from django_invoices.statuses import InvoiceStatus, OrderStatus

from .conftest import API, INVOICE_ID, apply_status, invoice_payload

CREATE_URL = f"{API}/v1/invoice"
DETAIL_URL = f"{API}/v1/invoice/{INVOICE_ID}"
CREATED = {"data": {"id": INVOICE_ID, "paymentLink": "https://pay.example/i/1"}}


@pytest.fixture
def received(listen):
    """Every signal the app sends, as (signal name, kwargs)."""
    return listen(
        "invoice_status_changed",
        "invoice_paid",
        "order_paid",
        "order_status_changed",
        "deposit_received",
        kwargs=True,
    )


def names(received):
    return [name for name, _ in received]


def test_create_invoice_sends_everything_the_provider_needs(api, order):
    api.post(CREATE_URL, json=CREATED)
    with override_settings(
        DJANGO_INVOICES={
            "API_URL": API,
            "API_KEY": "k",
            "PRIVATE_KEY": "p",
            "BASE_URL": "https://shop.example/",
            "QUESTIONNAIRE_FIELDS": ["email"],
            "REDIRECT_BUTTON_TITLE": "Back to the shop",
        }
    ):
        invoice = services.create_invoice(order)
    body = json.loads(api.calls[0].request.body)
    assert body == {
        "amount": "42.5",
        "asset": "EUR",
        "externalOrderId": "A-1",
        "callbackUrl": "https://shop.example/invoices/callback/default/",
        "shouldSendTransactionalCallback": True,
        "customization": {
            "redirectUrl": "https://shop.example/invoices/return/",
            "redirectButtonTitle": "Back to the shop",
        },
        "questionnaire": {"schemaFields": [{"name": "email"}]},
    }
    assert str(invoice.provider_id) == INVOICE_ID
    assert invoice.payment_url == "https://pay.example/i/1"
    assert invoice.status == InvoiceStatus.CREATED
    assert invoice.invoice_amount == Decimal("42.50")
    assert invoice.callback_url == body["callbackUrl"]
    assert invoice.transactional_callbacks is True
    assert invoice.customization == body["customization"]
    assert invoice.questionnaire == [{"name": "email"}]
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT


def test_options_passed_to_create_invoice_override_the_settings(api, order):
    api.post(CREATE_URL, json=CREATED)
    services.create_invoice(
        order,
        redirect_button_title="Zurück",
        transactional_callbacks=False,
        questionnaire_fields=["name"],
    )
    body = json.loads(api.calls[0].request.body)
    assert body["shouldSendTransactionalCallback"] is False
    assert body["customization"]["redirectButtonTitle"] == "Zurück"
    assert body["questionnaire"] == {"schemaFields": [{"name": "name"}]}


def test_the_default_button_title_speaks_the_customers_language(api, order):
    api.post(CREATE_URL, json=CREATED)
    with translation.override("uk"):
        services.create_invoice(order)
    body = json.loads(api.calls[0].request.body)
    assert body["customization"]["redirectButtonTitle"] == "Повернутися до магазину"


def test_a_second_create_for_the_same_order_returns_the_same_invoice(api, order):
    api.post(CREATE_URL, json=CREATED)
    first = services.create_invoice(order)
    second = services.create_invoice(order)
    assert first.pk == second.pk
    assert len(api.calls) == 1
    assert Invoice.objects.filter(order=order).count() == 1


def test_timeout_on_create_is_reconciled_by_external_order_id_with_exactly_one_post(api, order):
    api.post(CREATE_URL, body=requests.ReadTimeout("no answer"))
    api.get(
        CREATE_URL,
        match=[
            matchers.query_param_matcher({"externalOrderId": "A-1", "take": "100", "skip": "0"})
        ],
        json={"data": [invoice_payload("CREATED")]},
    )
    invoice = services.create_invoice(order)
    assert str(invoice.provider_id) == INVOICE_ID
    assert [call.request.method for call in api.calls] == ["POST", "GET"]
    order.refresh_from_db()
    assert order.needs_reconciliation is False
    assert order.status == OrderStatus.AWAITING_PAYMENT
    # And again: no second POST, the invoice is found locally.
    assert services.create_invoice(order).pk == invoice.pk
    assert len(api.calls) == 2


def test_reconciliation_ignores_invoices_of_other_orders_and_ones_we_know(api, order):
    api.post(CREATE_URL, body=requests.ReadTimeout("no answer"))
    other = invoice_payload(invoice_id="11111111-1111-1111-1111-111111111111")
    other["externalOrderId"] = "A-10"
    api.get(CREATE_URL, json={"data": [other]})
    with pytest.raises(ProviderTimeout):
        services.create_invoice(order)
    assert not Invoice.objects.exists()


def test_when_the_lookup_fails_too_the_next_attempt_looks_up_before_creating(api, order):
    api.post(CREATE_URL, body=requests.ReadTimeout("no answer"))
    api.get(CREATE_URL, status=503, json={"errors": [{"code": "DOWN", "message": "down"}]})
    with pytest.raises(ProviderTimeout) as info:
        services.create_invoice(order)
    assert info.value.ambiguous
    order.refresh_from_db()
    assert order.needs_reconciliation is True
    assert not Invoice.objects.exists()

    api.replace("GET", CREATE_URL, json={"data": [invoice_payload("PAYMENT_AWAITING")]})
    invoice = services.create_invoice(order)
    assert invoice.status == InvoiceStatus.AWAITING_PAYMENT
    assert [call.request.method for call in api.calls].count("POST") == 1
    order.refresh_from_db()
    assert order.needs_reconciliation is False


def test_a_refused_create_leaves_nothing_behind(api, order):
    api.post(
        CREATE_URL,
        status=400,
        json={"errors": [{"code": "BAD_REQUEST", "message": "asset is not supported"}]},
    )
    with pytest.raises(ProviderValidationError) as info:
        services.create_invoice(order)
    assert info.value.codes == ["BAD_REQUEST"]
    order.refresh_from_db()
    assert order.status == OrderStatus.NEW
    assert order.needs_reconciliation is False
    assert not Invoice.objects.exists()


# The sandbox's bad days at checkout, end to end: what a shop rehearsing one would write
# with the ``kunapay`` fixture.


def test_the_api_down_at_checkout(kunapay, order):
    kunapay.fail("api_error")
    with pytest.raises(KunaPayError):
        services.create_invoice(order)
    kunapay.fail()
    assert services.create_invoice(order).status == InvoiceStatus.CREATED


def test_a_create_that_times_out_is_found_again_not_made_twice(kunapay, order):
    kunapay.fail("api_timeout")
    with pytest.raises(ProviderTimeout):
        services.create_invoice(order)
    kunapay.fail()
    invoice = services.create_invoice(order)
    assert len(kunapay.invoices) == 1
    assert kunapay.get(invoice).external_order_id == "A-1"
    assert Invoice.objects.count() == 1


def test_a_paid_order_gets_no_new_invoice(api, order):
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PAID)
    with pytest.raises(InvoiceCreationError):
        services.create_invoice(order)
    assert not api.calls


def test_an_order_paid_late_gets_no_invoice_even_with_one_still_open(api, order):
    """An invoice paid after it expired settles the order while a newer invoice of it is
    still open: nobody must be sent to pay that one."""
    first = Invoice.objects.create(
        provider_id=uuid.uuid4(), order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )
    apply_status(first, "TIMEOUT")
    second = Invoice.objects.create(
        provider_id=uuid.uuid4(), order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )
    apply_status(first, "PAID")
    second.refresh_from_db()
    assert second.is_open

    with pytest.raises(InvoiceCreationError, match="already paid"):
        services.create_invoice(order)
    assert not api.calls


def test_a_partly_paid_order_gets_no_new_invoice_for_the_whole_amount(api, order):
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PARTIALLY_PAID)
    with pytest.raises(InvoiceCreationError, match="partly paid"):
        services.create_invoice(order)
    assert not api.calls


def test_an_expired_invoice_makes_room_for_a_new_one(api, order, received):
    api.post(CREATE_URL, json=CREATED)
    api.post(CREATE_URL, json={"data": {"id": "22222222-2222-2222-2222-222222222222"}})
    first = services.create_invoice(order)
    apply_status(first, "TIMEOUT")
    second = services.create_invoice(order)
    assert second.pk != first.pk
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT


def test_a_provider_answer_without_a_uuid_is_refused(api, order):
    api.post(CREATE_URL, json={"data": {"id": "not-a-uuid"}})
    with pytest.raises(InvalidResponse, match="invoice id") as info:
        services.create_invoice(order)
    assert info.value.ambiguous
    assert not Invoice.objects.exists()
    order.refresh_from_db()
    assert order.needs_reconciliation is True


@pytest.mark.parametrize("answer", [{"body": "<html>ok</html>"}, {"json": {"data": [1]}}])
def test_an_unreadable_create_answer_is_looked_up_never_created_twice(api, order, answer):
    api.post(CREATE_URL, status=200, **answer)
    api.get(CREATE_URL, status=503, json={"errors": []})
    with pytest.raises(InvalidResponse):
        services.create_invoice(order)
    order.refresh_from_db()
    assert order.needs_reconciliation is True
    api.replace("GET", CREATE_URL, json={"data": [invoice_payload("CREATED")]})
    invoice = services.create_invoice(order)
    assert str(invoice.provider_id) == INVOICE_ID
    assert [call.request.method for call in api.calls].count("POST") == 1


def make_invoice(order, status=InvoiceStatus.CREATED):
    return Invoice.objects.create(
        provider_id=INVOICE_ID,
        order=order,
        status=status,
        provider_status="CREATED",
        invoice_amount=order.amount,
        invoice_asset=order.asset,
    )


def test_refresh_applies_the_providers_status_and_mirrors_its_fields(
    api, order, received, django_capture_on_commit_callbacks
):
    invoice = make_invoice(order)
    api.get(
        DETAIL_URL,
        json={
            "data": invoice_payload(
                "PAID",
                paymentAmount="0.00042",
                paymentAssetCode="BTC",
                completedAt="2026-11-25T10:30:00.000Z",
                addressId="tb1qexample",
                transactions=[
                    {
                        "id": "tx-1",
                        "status": "Processed",
                        "asset": "BTC",
                        "amount": "0.00042",
                        "fee": "0.00001",
                        "processedAmount": "0.00041",
                    }
                ],
            )
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        invoice = services.refresh_invoice(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.provider_status == "PAID"
    assert invoice.payment_amount == Decimal("0.00042")
    assert invoice.payment_asset == "BTC"
    assert invoice.address == "tb1qexample"
    assert invoice.completed_at.isoformat() == "2026-11-25T10:30:00+00:00"
    assert invoice.paid_amount == Decimal("0.00041")
    assert invoice.synced_at is not None
    assert invoice.deposits.get().fee == Decimal("0.00001")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert sorted(names(received)) == sorted(
        [
            "deposit_received",
            "invoice_status_changed",
            "invoice_paid",
            "order_status_changed",
            "order_paid",
        ]
    )


def test_signals_are_sent_once_per_real_change(
    api, order, received, django_capture_on_commit_callbacks
):
    invoice = make_invoice(order)
    api.get(DETAIL_URL, json={"data": invoice_payload("PAID")})
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            services.refresh_invoice(invoice)
    assert names(received).count("invoice_paid") == 1
    assert names(received).count("order_paid") == 1
    assert names(received).count("invoice_status_changed") == 1
    changed = dict(received)["invoice_status_changed"]
    assert (changed["old_status"], changed["new_status"]) == ("created", "paid")


def test_signals_wait_for_the_commit(order, received, django_capture_on_commit_callbacks):
    invoice = make_invoice(order)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        apply_status(invoice, "PAID")
    assert received == []
    assert callbacks
    for callback in callbacks:
        callback()
    assert "order_paid" in names(received)


def test_a_paid_invoice_never_moves_back(order, received, django_capture_on_commit_callbacks):
    invoice = make_invoice(order)
    with django_capture_on_commit_callbacks(execute=True):
        assert apply_status(invoice, "PAID").changed
    for late in ("PAYMENT_AWAITING", "CREATED", "CONFIRMATION_AWAITING", "TIMEOUT", "WHATEVER"):
        with django_capture_on_commit_callbacks(execute=True):
            result = apply_status(invoice, late)
        assert result.changed is False
        assert result.invoice.status == InvoiceStatus.PAID
        assert result.invoice.provider_status == "PAID"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert names(received).count("invoice_status_changed") == 1


def test_open_statuses_only_move_forward(order):
    invoice = make_invoice(order)
    apply_status(invoice, "CONFIRMATION_AWAITING")
    result = apply_status(invoice, "PAYMENT_AWAITING")
    assert result.changed is False
    assert result.invoice.status == InvoiceStatus.CONFIRMING


def test_a_payment_after_expiry_still_settles_the_order(order):
    invoice = make_invoice(order)
    apply_status(invoice, "TIMEOUT")
    order.refresh_from_db()
    assert order.status == OrderStatus.EXPIRED
    assert apply_status(invoice, "PAID").changed
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


@pytest.mark.parametrize(
    ("provider", "ours", "order_status"),
    [
        ("CREATED", "created", "awaiting_payment"),
        ("PAYMENT_AWAITING", "awaiting_payment", "awaiting_payment"),
        ("CONFIRMATION_AWAITING", "confirming", "awaiting_payment"),
        ("PAID", "paid", "paid"),
        ("PARTIALLY_PAID", "partially_paid", "partially_paid"),
        ("TIMEOUT", "expired", "expired"),
        ("DEACTIVATED", "cancelled", "cancelled"),
        ("DECLINED", "declined", "failed"),
        ("LIMITS_OUT_OF_RANGE", "limits_out_of_range", "failed"),
        ("SOMETHING_NEW", "unknown", "awaiting_payment"),
    ],
)
def test_status_map(order, provider, ours, order_status):
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.AWAITING_PAYMENT)
    invoice = make_invoice(order)
    result = apply_status(invoice, provider)
    assert result.invoice.status == ours
    assert result.invoice.provider_status == provider
    order.refresh_from_db()
    assert order.status == order_status


def test_an_unknown_status_is_stored_logged_and_not_final(order, caplog):
    invoice = make_invoice(order)
    with caplog.at_level("WARNING", logger="django_invoices"):
        result = apply_status(invoice, "OVERPAID")
    assert result.invoice.status == InvoiceStatus.UNKNOWN
    assert result.invoice.provider_status == "OVERPAID"
    assert "OVERPAID" in caplog.text
    # Not final: the real outcome can still arrive.
    assert apply_status(invoice, "PAID").invoice.status == InvoiceStatus.PAID


def test_a_failing_receiver_does_not_break_the_transition(
    order, django_capture_on_commit_callbacks
):
    def broken(sender, **kwargs):
        raise RuntimeError("shop bug")

    signals.order_paid.connect(broken, weak=False)
    try:
        invoice = make_invoice(order)
        with django_capture_on_commit_callbacks(execute=True):
            apply_status(invoice, "PAID")
    finally:
        signals.order_paid.disconnect(broken)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_refresh_refuses_an_answer_about_another_invoice(api, order):
    invoice = make_invoice(order)
    api.get(DETAIL_URL, json={"data": invoice_payload("PAID", invoice_id="x")})
    with pytest.raises(Exception, match="answered with invoice"):
        services.refresh_invoice(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CREATED


def test_refresh_while_the_provider_is_down_changes_nothing(api, order):
    invoice = make_invoice(order)
    api.get(DETAIL_URL, status=500, json={"errors": [{"code": "X", "message": "down"}]})
    with pytest.raises(ProviderUnavailable):
        services.refresh_invoice(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CREATED
    assert invoice.synced_at is None


def test_assets_and_questionnaire_are_cached(api, db):
    api.get(f"{API}/v1/invoice/assets", json={"data": [{"code": "EUR", "precision": 2}]})
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": [{"name": "email"}]})
    assert services.list_assets() == [{"code": "EUR", "precision": 2}]
    assert services.list_assets() == [{"code": "EUR", "precision": 2}]
    assert services.questionnaire_fields() == [{"name": "email"}]
    assert services.questionnaire_fields() == [{"name": "email"}]
    assert len(api.calls) == 2
    services.list_assets(refresh=True)
    assert len(api.calls) == 3


CATALOGUE_SETTINGS = {"API_URL": API, "API_KEY": "k", "RETRIES": 0}
ASSETS_URL = f"{API}/v1/invoice/assets"


@override_settings(DJANGO_INVOICES=CATALOGUE_SETTINGS)
def test_a_failed_catalogue_fetch_is_remembered_for_a_short_while(api, db, monkeypatch):
    api.get(ASSETS_URL, status=503, body="down")
    with pytest.raises(ProviderUnavailable):
        services.list_assets()
    with pytest.raises(ProviderUnavailable, match="moments ago"):
        services.list_assets()  # not asked again
    assert len(api.calls) == 1

    # Each list has its own memory.
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": [{"name": "email"}]})
    assert services.questionnaire_fields() == [{"name": "email"}]
    assert len(api.calls) == 2

    # Once the memory has expired, the provider is asked again.
    later = time.time() + provider.CATALOGUE_FAILURE_MEMORY + 1
    monkeypatch.setattr(locmem, "time", SimpleNamespace(time=lambda: later))
    api.replace("GET", ASSETS_URL, json={"data": [{"code": "EUR"}]})
    assert services.list_assets() == [{"code": "EUR"}]
    assert len(api.calls) == 3


@override_settings(DJANGO_INVOICES=CATALOGUE_SETTINGS)
def test_refresh_asks_a_provider_that_failed_moments_ago(api, db):
    api.get(ASSETS_URL, status=503, body="down")
    with pytest.raises(ProviderUnavailable):
        services.list_assets()
    api.replace("GET", ASSETS_URL, json={"data": [{"code": "EUR"}]})
    assert services.list_assets(refresh=True) == [{"code": "EUR"}]
    assert len(api.calls) == 2
    # Success forgets the failure: with the list gone from the cache, it is asked for.
    cache.delete(f"django_invoices:assets:{conf.DEFAULT_ACCOUNT}")
    assert services.list_assets() == [{"code": "EUR"}]
    assert len(api.calls) == 3


@override_settings(DJANGO_INVOICES=CATALOGUE_SETTINGS)
def test_a_refusal_is_not_remembered_as_an_outage(api, db):
    api.get(ASSETS_URL, status=401, json={"errors": [{"code": "UNAUTHORIZED"}]})
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            services.list_assets()
    assert len(api.calls) == 2


def test_catalogues_keep_only_objects_with_a_string_code_or_name(db, monkeypatch, caplog):
    """Hostile provider data: whatever is not an object with a string ``code`` (assets)
    or ``name`` (questionnaire) is left out before it is cached, with a warning."""
    monkeypatch.setattr(
        KunaPayClient,
        "list_assets",
        lambda self: [{"code": "EUR"}, "junk", None, ["USDT"], {"code": 5}, {"name": "Euro"}],
    )
    monkeypatch.setattr(
        KunaPayClient,
        "questionnaire_fields",
        lambda self: [{"name": "email"}, {"label": "nameless"}, {"name": None}, 42],
    )
    assert services.list_assets() == [{"code": "EUR"}]
    assert services.questionnaire_fields() == [{"name": "email"}]
    assert services.list_assets() == [{"code": "EUR"}]  # what was cached
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "KUNA Pay's assets list had 5 item(s) without a string 'code'; left out",
        "KUNA Pay's questionnaire list had 3 item(s) without a string 'name'; left out",
    ]


ACCOUNTS = {
    "API_URL": API,
    "API_KEY": "default-key",
    "PRIVATE_KEY": "default-private",
    "BASE_URL": "https://shop.example",
    "ACCOUNTS": {"eu": {"API_KEY": "eu-key", "PRIVATE_KEY": "eu-private"}},
}


@override_settings(DJANGO_INVOICES=ACCOUNTS)
def test_an_invoice_remembers_its_account_and_uses_its_keys(api, order):
    api.post(CREATE_URL, json=CREATED)
    api.get(DETAIL_URL, json={"data": invoice_payload("CREATED")})
    invoice = services.create_invoice(order, account="eu")
    assert invoice.account == "eu"
    assert invoice.callback_url == "https://shop.example/invoices/callback/eu/"
    services.refresh_invoice(invoice)
    assert [call.request.headers["api-key"] for call in api.calls] == ["eu-key", "eu-key"]


# -- the provider's catalogues: order, memory, accounts -------------------------------------


def test_assets_are_listed_by_position_then_code_a_missing_or_odd_position_counting_as_0(
    db, monkeypatch
):
    listed = [
        {"code": "A", "position": 3},
        {"code": "B", "position": 2},
        {"code": "C"},
        {"code": "D", "position": "1"},
        {"code": "A0", "position": 1},
        {"code": "E", "position": True},
    ]
    monkeypatch.setattr(KunaPayClient, "list_assets", lambda self: listed)
    assert [item["code"] for item in services.list_assets()] == ["C", "D", "E", "A0", "B", "A"]


def test_a_catalogue_that_is_not_a_list_is_an_empty_one(db, monkeypatch):
    monkeypatch.setattr(KunaPayClient, "questionnaire_fields", lambda self: None)
    assert services.questionnaire_fields() == []


@override_settings(DJANGO_INVOICES=CATALOGUE_SETTINGS)
def test_a_failed_questionnaire_fetch_is_remembered_too_with_its_reason(api, db):
    url = f"{API}/v1/invoice/questionnaire"
    api.get(url, status=503, body="x" * 500)
    with pytest.raises(ProviderUnavailable):
        services.questionnaire_fields()
    with pytest.raises(ProviderUnavailable) as info:
        services.questionnaire_fields()
    reason = ("HTTP 503: " + "x" * 200)[:200]
    assert str(info.value) == (
        f"KUNA Pay's questionnaire list could not be fetched moments ago ({reason}); "
        f"not asking again for up to {provider.CATALOGUE_FAILURE_MEMORY} seconds"
    )
    assert len(api.calls) == 1


@override_settings(DJANGO_INVOICES={**CATALOGUE_SETTINGS, "CACHE_TIMEOUT": 60})
def test_a_catalogue_is_kept_for_cache_timeout_seconds(api, db, monkeypatch):
    api.get(ASSETS_URL, json={"data": [{"code": "EUR"}]})
    services.list_assets()
    now = time.time()
    monkeypatch.setattr(locmem, "time", SimpleNamespace(time=lambda: now + 59))
    services.list_assets()
    assert len(api.calls) == 1
    monkeypatch.setattr(locmem, "time", SimpleNamespace(time=lambda: now + 61))
    services.list_assets()
    assert len(api.calls) == 2


def test_the_questionnaire_is_asked_again_on_refresh(api, db):
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": [{"name": "email"}]})
    services.questionnaire_fields()
    services.questionnaire_fields(refresh=True)
    assert len(api.calls) == 2


@override_settings(DJANGO_INVOICES=ACCOUNTS)
def test_each_account_lists_and_caches_its_own_catalogues(api, db):
    api.get(ASSETS_URL, json={"data": [{"code": "EUR"}]})
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": [{"name": "email"}]})
    for account in ("eu", "default"):
        services.list_assets(account)
        services.questionnaire_fields(account)
    assert [call.request.headers["api-key"] for call in api.calls] == [
        "eu-key",
        "eu-key",
        "default-key",
        "default-key",
    ]
