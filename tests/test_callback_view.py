"""The callback view: its HTTP answers, what it stores of each callback, and what an
authentic callback applies through it."""

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection
from django.test import override_settings

from django_invoices import services
from django_invoices.models import CallbackEvent, Deposit, Invoice, Order
from django_invoices.services import reads
from django_invoices.signing import sign_callback
from django_invoices.statuses import InvoiceStatus, OrderStatus

from .callbacks_kit import KEY, deposit_event, invoice_event, post
from .conftest import API, ECHO_URL, INVOICE_ID, invoice_payload

DETAIL_URL = f"{API}/v1/invoice/{INVOICE_ID}"
State = CallbackEvent.State


@pytest.fixture
def invoice(btc_invoice, echo_provider):
    """The invoice; KUNA Pay agrees with the signed callbacks unless a test says otherwise."""
    return btc_invoice


# -- authentic callbacks ---------------------------------------------------------------


def test_a_signed_status_callback_is_stored_and_applied(deliver, invoice, sent):
    response = deliver(invoice_event("PAYMENT_AWAITING", paymentAssetCode="BTC"))
    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert response.json() == {"event": event.pk, "state": "applied", "detail": event.outcome}
    assert event.verified and event.signature_variant == "sha384/hex/raw"
    assert (event.event_name, event.object_id, event.provider_status) == (
        "Invoice",
        INVOICE_ID,
        "PAYMENT_AWAITING",
    )
    assert event.invoice_id == invoice.pk
    assert event.outcome == "read 'PAYMENT_AWAITING': created -> awaiting_payment"
    assert event.headers["kun-signature"] == "present"
    assert event.remote_addr == "127.0.0.1"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AWAITING_PAYMENT
    assert sent == ["invoice_status_changed"]


def test_paid_is_confirmed_by_reading_the_invoice_first(deliver, api, invoice, sent):
    api.replace("GET", ECHO_URL, json={"data": invoice_payload("PAID", paymentAmount="0.001")})
    response = deliver(invoice_event("PAID"))
    assert response.json()["state"] == "applied"
    assert len(api.calls) == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.synced_at is not None
    assert Order.objects.get().status == OrderStatus.PAID
    assert sent.count("order_paid") == 1
    assert CallbackEvent.objects.get().outcome == "read 'PAID': created -> paid"


def test_a_paid_callback_the_api_does_not_confirm_does_not_settle(deliver, api, invoice, sent):
    api.replace("GET", ECHO_URL, json={"data": invoice_payload("CONFIRMATION_AWAITING")})
    deliver(invoice_event("PAID"))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CONFIRMING
    assert Order.objects.get().status == OrderStatus.AWAITING_PAYMENT
    assert "order_paid" not in sent


def test_confirm_paid_callbacks_off_no_longer_trusts_a_body(deliver, api, invoice, settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CONFIRM_PAID_CALLBACKS": False}
    api.replace("GET", ECHO_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    deliver(invoice_event("PAID"))
    assert len(api.calls) == 1
    assert Order.objects.get().status == OrderStatus.AWAITING_PAYMENT


def test_the_confirming_read_uses_a_short_timeout_and_no_retries(invoice):
    client = services.get_client(invoice.account, fast=True)
    assert client.timeout == (0.5, 1.2)
    assert client.retries == 0
    assert services.get_client(invoice.account) is not client


def test_a_reserialised_signature_is_accepted_and_recorded(deliver, invoice):
    raw = b'{"event": "Invoice", "data": {"id": "%s", "status": "PAYMENT_AWAITING"}}' % (
        INVOICE_ID.encode()
    )
    compact = json.dumps(json.loads(raw), separators=(",", ":")).encode()
    response = deliver(raw=raw, signature=sign_callback(KEY, compact))
    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert event.signature_variant == "sha384/hex/compact"
    # Issue 11: what is stored is what the signature covers, not the bytes that came.
    assert event.body.encode() == compact


def test_each_account_verifies_with_its_own_key(client, invoice, settings):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNTS": {"eu": {"API_KEY": "eu", "PRIVATE_KEY": "eu-private"}},
    }
    payload = invoice_event("PAYMENT_AWAITING")
    assert post(client, payload, account="eu").status_code == 401
    assert post(client, payload, account="eu", key="eu-private").status_code == 200


# -- refused callbacks -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"signature": "0" * 96}, 401, "bad_signature"),
        ({"signature": ""}, 401, "missing_signature"),
        ({"key": "another-private-key"}, 401, "bad_signature"),
        ({"signature": "Ж" * 10}, 401, "bad_signature"),
    ],
)
def test_forged_callbacks_are_refused_and_kept(client, invoice, sent, kwargs, status, error):
    response = post(client, invoice_event("PAID"), **kwargs)
    assert response.status_code == status
    assert response.json()["error"] == error
    event = CallbackEvent.objects.get()
    assert event.state == State.REJECTED
    assert event.verified is False
    assert event.body.startswith('{"event": "Invoice"')
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CREATED
    assert sent == []


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b'{"event": "Invoice", "data": ', "body is not valid JSON"),
        (b'[{"event": "Invoice"}]', "body is not a JSON object"),
        (b'"PAID"', "body is not a JSON object"),
        (b"\xff\xfe\x00garbage", "body is not UTF-8"),
    ],
)
def test_signed_but_malformed_bodies_get_400(client, invoice, raw, detail):
    response = post(client, raw=raw)
    assert response.status_code == 400
    assert response.json() == {"error": "malformed", "detail": detail}
    event = CallbackEvent.objects.get()
    assert (event.verified, event.state) == (True, State.REJECTED)


def test_a_one_megabyte_body_gets_413_and_is_logged_without_its_body(client, invoice):
    raw = b'{"event": "Invoice", "data": {"pad": "' + b"x" * 1_000_000 + b'"}}'
    response = post(client, raw=raw)
    assert response.status_code == 413
    event = CallbackEvent.objects.get()
    assert event.state == State.REJECTED
    assert event.body == ""
    assert str(len(raw)) in event.outcome


def test_an_unknown_account_gets_404_and_is_logged(client, invoice):
    response = post(client, invoice_event("PAID"), account="nobody")
    assert response.status_code == 404
    assert CallbackEvent.objects.get().account == "nobody"


@pytest.mark.parametrize("broken", [None, "oops", {"API_KEY": "k", "RETRIES": "x"}])
def test_an_account_with_unusable_settings_gets_503_so_the_provider_retries(
    client, invoice, settings, broken
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "ACCOUNTS": {"eu": broken}}

    response = post(client, invoice_event("PAID"), account="eu")

    assert response.status_code == 503
    event = CallbackEvent.objects.get()
    assert (event.state, event.account) == (State.REJECTED, "eu")
    assert event.outcome.startswith("account settings unusable: ")
    assert Invoice.objects.get().status == InvoiceStatus.CREATED


def test_only_post_is_accepted(client, db):
    assert client.get("/invoices/callback/default/").status_code == 405
    assert not CallbackEvent.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"event": None, "data": None},
        {"event": ["Invoice"], "data": {"id": {"x": 1}}},
        {"event": "Invoice", "data": {"id": "not-a-uuid", "status": "PAID"}},
        {"event": "Invoice", "data": {"id": INVOICE_ID, "status": 7}},
        {"event": "InvoiceDeposit", "data": {"id": "", "invoiceId": INVOICE_ID}},
        {"event": "InvoiceDeposit", "data": {"id": "t", "invoiceId": INVOICE_ID, "amount": "1e"}},
        {"event": "Invoice", "data": {"id": INVOICE_ID, "status": "PAID", "expireAt": "nope"}},
    ],
)
def test_odd_but_authentic_payloads_never_give_a_500(deliver, api, invoice, payload):
    api.replace("GET", ECHO_URL, json={"data": invoice_payload("CREATED")})
    response = deliver(payload)
    assert response.status_code == 200
    # PENDING: a PAID the API does not confirm waits for a later attempt.
    assert CallbackEvent.objects.get().state in {
        State.APPLIED,
        State.IGNORED,
        State.FAILED,
        State.PENDING,
    }


# -- what authentic callbacks do -------------------------------------------------------


def test_an_event_naming_no_invoice_we_know_is_stored_and_acknowledged(deliver, api, invoice, sent):
    # Its id may be a transaction: the API is asked which invoice it paid into.
    api.get(f"{API}/v1/transaction/w-1", json={"data": {"id": "w-1", "type": "Withdraw"}})
    response = deliver({"event": "Withdraw", "data": {"id": "w-1", "status": "Processed"}})
    assert response.status_code == 200
    assert response.json()["state"] == "ignored"
    assert CallbackEvent.objects.get().outcome == "names no invoice we know; nothing changed"
    assert sent == []


def test_a_callback_for_an_invoice_we_do_not_know_changes_nothing(deliver, invoice, sent):
    payload = invoice_event("PAID")
    payload["data"]["id"] = "99999999-9999-9999-9999-999999999999"
    response = deliver(payload)
    assert response.status_code == 200
    assert response.json()["state"] == "ignored"
    assert response.json()["detail"] == "names no invoice we know; nothing changed"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CREATED
    assert sent == []


def test_a_deposit_callback_records_the_deposit_once(deliver, invoice, sent):
    first = deliver(deposit_event("tx-1", txId="0xabc"))
    assert first.json()["state"] == "applied"
    deposit = Deposit.objects.get()
    assert (deposit.provider_id, deposit.invoice_id, deposit.tx_id) == ("tx-1", invoice.pk, "0xabc")
    assert deposit.amount == Decimal("0.0005")
    invoice.refresh_from_db()
    assert invoice.paid_amount == Decimal("0.0005")
    again = deliver(deposit_event("tx-1", txId="0xabc"))
    assert again.json()["state"] == "duplicate"
    assert sent == ["deposit_received"]
    assert Deposit.objects.count() == 1


def test_a_deposit_found_by_external_order_id(deliver, invoice):
    payload = deposit_event("tx-2")
    del payload["data"]["invoiceId"]
    payload["data"]["externalOrderId"] = "A-1"
    deliver(payload)
    assert Deposit.objects.get().invoice_id == invoice.pk


def test_the_same_callback_twice_changes_nothing_the_second_time(deliver, api, invoice, sent):
    api.replace("GET", ECHO_URL, json={"data": invoice_payload("PAID")})
    payload = invoice_event("PAID")
    assert deliver(payload).json()["state"] == "applied"
    assert deliver(payload).json()["state"] == "duplicate"  # the same bytes: counted
    # Same news in other bytes (key order, an extra field) is the same news.
    reordered = {"data": {"status": "PAID", "id": INVOICE_ID, "x": 1}, "event": "Invoice"}
    assert deliver(reordered).json()["state"] == "duplicate"
    assert list(CallbackEvent.objects.order_by("pk").values_list("state", "times_received")) == [
        (State.APPLIED, 2),
        (State.DUPLICATE, 1),
    ]
    assert len(api.calls) == 1
    assert sent.count("order_paid") == 1
    assert sent.count("invoice_status_changed") == 1


def test_a_late_payment_awaiting_never_moves_paid_back(deliver, api, invoice, sent):
    api.replace("GET", ECHO_URL, json={"data": invoice_payload("PAID")})
    deliver(invoice_event("PAID"))
    response = deliver(invoice_event("PAYMENT_AWAITING"))
    assert response.json()["state"] == "applied"
    assert response.json()["detail"] == "read 'PAID': no change (stays paid)"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert Order.objects.get().status == OrderStatus.PAID
    assert sent.count("invoice_status_changed") == 1


def test_provider_down_during_confirmation_leaves_the_event_pending(deliver, api, invoice, sent):
    api.replace("GET", ECHO_URL, status=503, json={"errors": [{"code": "DOWN", "message": "down"}]})
    response = deliver(invoice_event("PAID"))
    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert event.state == State.PENDING
    assert event.attempts == 1
    assert "will retry" in event.outcome
    assert Order.objects.get().status == OrderStatus.AWAITING_PAYMENT

    api.replace("GET", ECHO_URL, json={"data": invoice_payload("PAID")})
    call_command("invoices_process_callbacks")
    event.refresh_from_db()
    assert event.state == State.APPLIED
    assert event.attempts == 2
    assert Order.objects.get().status == OrderStatus.PAID
    assert "order_paid" in sent or Order.objects.get().status == OrderStatus.PAID


def test_the_command_reports_what_it_did(api, invoice, client, capsys):
    api.replace("GET", ECHO_URL, status=503, json={"errors": []})
    post(client, invoice_event("PAID"))
    call_command("invoices_process_callbacks")
    assert "1 not applied yet, still pending" in capsys.readouterr().out
    api.replace("GET", ECHO_URL, json={"data": invoice_payload("PAID")})
    call_command("invoices_process_callbacks", "--limit", "10")
    assert "1 applied (the invoice read from KUNA Pay)" in capsys.readouterr().out
    call_command("invoices_process_callbacks")
    assert "No pending callback events." in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_under_atomic_requests_the_event_survives_a_database_error(
    client, api, order, monkeypatch, echo_provider
):
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    Invoice.objects.create(
        provider_id=INVOICE_ID, order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )

    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(reads, "apply_data_locked", broken)
    response = post(client, invoice_event("PAYMENT_AWAITING"))
    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert event.state == State.PENDING
    assert "disk full" in event.outcome
    assert Invoice.objects.get().status == InvoiceStatus.CREATED


@pytest.mark.django_db(transaction=True)
def test_under_atomic_requests_an_acknowledged_callback_is_kept_whatever_the_request_does(
    client, api, order, monkeypatch
):
    """The view opts out of ``ATOMIC_REQUESTS`` (``transaction.non_atomic_requests``):
    the event is committed as it is stored. Were the view inside the request's
    transaction, a step after the store that spoils that transaction would roll the
    event back after a 200, and the provider would never send it again (a mutant the
    test above, whose fault stays inside an inner savepoint, let live)."""
    from django.db import transaction

    from django_invoices.services import queue

    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    Invoice.objects.create(
        provider_id=INVOICE_ID, order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )

    def spoils_the_transaction(*args, **kwargs):
        transaction.set_rollback(True)  # raises outside a transaction, as it should here
        return None

    monkeypatch.setattr(queue, "claim", spoils_the_transaction)
    response = post(client, invoice_event("PAYMENT_AWAITING"))
    assert response.status_code == 200
    assert CallbackEvent.objects.get().state == State.PENDING


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 413)])
def test_a_body_of_exactly_the_size_limit_is_taken_one_byte_more_is_not(
    client, invoice, settings, api, extra, status
):
    """Mutant: a body of exactly ``CALLBACK_MAX_BODY_SIZE`` bytes refused."""
    api.get(ECHO_URL, json={"data": invoice_payload("CREATED")})
    body = json.dumps(invoice_event("CREATED")).encode()
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "CALLBACK_MAX_BODY_SIZE": len(body) - extra,
    }
    response = post(client, raw=body)
    assert response.status_code == status
    if status == 413:
        assert response.json()["error"] == "too_large"


def test_an_unexpected_error_while_applying_is_not_a_500(client, invoice, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(reads, "apply_data_locked", broken)
    response = post(client, invoice_event("PAYMENT_AWAITING"))
    assert response.status_code == 200
    assert CallbackEvent.objects.get().state == State.PENDING


# -- the odd endings of a crypto payment -----------------------------------------------

UNCONFIRMED = {
    "API_URL": API,
    "API_KEY": "k",
    "PRIVATE_KEY": KEY,
    "BASE_URL": "https://shop.example",
    "CONFIRM_PAID_CALLBACKS": False,
}


@override_settings(DJANGO_INVOICES=UNCONFIRMED)
@pytest.mark.parametrize(
    ("steps", "invoice_status", "order_status", "signal"),
    [
        (["PARTIALLY_PAID"], "partially_paid", "partially_paid", "invoice_partially_paid"),
        (["TIMEOUT", "PAID"], "paid", "paid", "invoice_paid_late"),
        (["DECLINED"], "declined", "failed", "invoice_declined"),
        (["LIMITS_OUT_OF_RANGE"], "limits_out_of_range", "failed", "invoice_declined"),
        (["TIMEOUT"], "expired", "expired", None),
    ],
)
def test_crypto_outcomes(deliver, invoice, sent, steps, invoice_status, order_status, signal):
    for status in steps:
        deliver(invoice_event(status))
    invoice.refresh_from_db()
    assert invoice.status == invoice_status
    assert Order.objects.get().status == order_status
    if signal:
        assert sent.count(signal) == 1
    if order_status != "paid":
        assert "order_paid" not in sent


@override_settings(DJANGO_INVOICES=UNCONFIRMED)
def test_an_overpayment_is_paid_and_announced(deliver, invoice, sent):
    deliver(deposit_event("tx-1", amount="0.0008"))
    deliver(deposit_event("tx-2", amount="0.0004"))
    deliver(invoice_event("PAID"))
    assert sent.count("invoice_overpaid") == 1
    assert Order.objects.get().status == OrderStatus.PAID
    # Another deposit on a paid invoice is announced too.
    deliver(deposit_event("tx-3", amount="0.0001"))
    assert sent.count("invoice_overpaid") == 2


def test_applying_one_callback_takes_a_fixed_number_of_queries(
    client, api, invoice, django_assert_num_queries
):
    api.replace("GET", ECHO_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    # Store: SELECT the invoice it names, with whether the same news was applied
    # already; INSERT event. Claim: UPDATE the invoice's lease. Then the read (GET
    # /v1/invoice/{id}, INSERT its record), and under the locks: SELECT ... FOR UPDATE
    # invoice and order;
    # SELECT ... FOR UPDATE the pending events the read may settle; UPDATE invoice (the
    # changed fields, the lease given back); UPDATE events. The SAVEPOINT pair stands
    # for the transaction (BEGIN and COMMIT outside tests).
    with django_assert_num_queries(10):
        response = post(client, invoice_event("PAYMENT_AWAITING"))
    assert response.json()["state"] == "applied"
    assert len(api.calls) == 1


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event": "Invoice\\u0000", "data": {"id": "x"}}',
        b'{"event": "Invoice", "data": {"id": "x\\U0000"}}',
        b'{"event": "Invoice", "data": {"id": "\x00"}}',
    ],
)
def test_nul_characters_are_refused_not_a_500(client, invoice, raw):
    response = post(client, raw=raw)
    assert response.status_code == 400
    assert CallbackEvent.objects.get().state == State.REJECTED


def test_the_same_news_in_another_uuid_spelling_is_a_duplicate(deliver, invoice):
    assert deliver(invoice_event("PAYMENT_AWAITING")).json()["state"] == "applied"
    shouted = {
        "event": "Invoice",
        "data": {"id": "{" + INVOICE_ID.upper() + "}", "status": "PAYMENT_AWAITING"},
    }
    assert deliver(shouted).json()["state"] == "duplicate"


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_the_command_refuses_a_limit_below_one(db, limit):
    with pytest.raises(CommandError, match="--limit"):
        call_command("invoices_process_callbacks", "--limit", limit)


# -- how much of a body is read ----------------------------------------------------------


def test_a_body_declared_too_large_is_refused_before_any_of_it_is_read(db, settings):
    import io

    from django.test import RequestFactory

    from django_invoices import views

    class Unread(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise AssertionError("the body was read")

    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_MAX_BODY_SIZE": 100}
    request = RequestFactory().generic(
        "POST",
        "/invoices/callback/default/",
        data=b"{}",
        content_type="application/json",
        CONTENT_LENGTH="1000000",
        **{"wsgi.input": Unread()},
    )

    response = views.callback(request, "default")

    assert response.status_code == 413
    assert CallbackEvent.objects.get().body_size == 1_000_000


def test_a_body_sent_without_its_length_is_read_one_byte_past_the_limit_at_most(db, settings):
    import hashlib
    import io

    from django.core.handlers.asgi import ASGIRequest

    from django_invoices import views

    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_MAX_BODY_SIZE": 100}
    scope = {  # an ASGI server's request sent in chunks: no Content-Length
        "type": "http",
        "method": "POST",
        "path": "/invoices/callback/default/",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 40000),
    }
    request = ASGIRequest(scope, io.BytesIO(b'{"pad": "' + b"x" * 1000 + b'"}'))

    response = views.callback(request, "default")

    assert response.status_code == 413
    event = CallbackEvent.objects.get()
    assert event.body_size == 101  # more than the limit, counted no further
    assert (event.body, event.body_sha256) == ("", hashlib.sha256(b"").hexdigest())
