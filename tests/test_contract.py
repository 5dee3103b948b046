"""Tests that pin the contract where hand-made mutants of the core once survived.

Each test names the mutant it kills; each was checked by applying that mutant by hand
(the test fails) and removing it again (the test passes). docs/mutation.rst has the
full run.
"""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import QuerySet
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from django_invoices import callbacks, services
from django_invoices.models import CallbackEvent, Deposit, Invoice, Order
from django_invoices.signing import verify_callback
from django_invoices.statuses import InvoiceStatus, OrderStatus

from .callbacks_kit import KEY, deposit_event, invoice_event, post
from .conftest import API, INVOICE_ID, apply_status
from .test_callbacks import UNCONFIRMED

NEWER_ID = "11111111-2222-4333-8444-555555555555"

# A callback as KUNA Pay would send it, with its kun-signature written out literally:
# HMAC-SHA384 over these exact bytes with tests/settings.py's PRIVATE_KEY, computed once
# outside this project with Python's hmac module.
CALLBACK_BODY = (
    b'{"event":"Invoice","data":{"id":"506c695a-4187-4463-ac41-07dc0782cb0e",'
    b'"status":"PAYMENT_AWAITING"}}'
)
CALLBACK_SIGNATURE = (
    "3afd3f101d810ff9b9e3b9c1ed2c919cc80ab41ff0effe41af3ee09af01edade"
    "27ef3f8190df3e5c348f2b2fd48207e8"
)

# Callbacks are hints: a KUNA Pay that agrees with what they report answers the reads.
pytestmark = pytest.mark.usefixtures("echo_provider")


def _flip(hex_digit: str) -> str:
    return "0" if hex_digit != "0" else "1"


# -- signatures: all 96 hex characters count --------------------------------------------


def test_a_callback_signed_with_the_literal_vector_is_accepted(client, btc_invoice):
    response = post(client, raw=CALLBACK_BODY, signature=CALLBACK_SIGNATURE)
    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert event.verified is True
    assert event.signature_variant == "sha384/hex/raw"
    btc_invoice.refresh_from_db()
    assert btc_invoice.status == InvoiceStatus.AWAITING_PAYMENT


@pytest.mark.parametrize(
    "signature",
    [
        CALLBACK_SIGNATURE[:32] + "0" * 64,  # right first half, wrong rest
        CALLBACK_SIGNATURE[:32],  # only the first half
        CALLBACK_SIGNATURE[:-1] + _flip(CALLBACK_SIGNATURE[-1]),  # last digit wrong
        CALLBACK_SIGNATURE + "0",  # one digit too many
    ],
    ids=["half-right", "half-only", "last-digit", "too-long"],
)
def test_a_signature_that_is_right_only_in_part_is_refused(client, btc_invoice, signature):
    """Mutant: the signature check compares only the first 32 hex characters."""
    assert verify_callback(KEY, CALLBACK_BODY, signature) is None
    response = post(client, raw=CALLBACK_BODY, signature=signature)
    assert response.status_code == 401
    event = CallbackEvent.objects.get()
    assert (event.verified, event.state) == (False, CallbackEvent.State.REJECTED)
    btc_invoice.refresh_from_db()
    assert btc_invoice.status == InvoiceStatus.CREATED


# -- an order's status follows the invoice that matters --------------------------------


@override_settings(DJANGO_INVOICES=UNCONFIRMED)
def test_a_paid_orders_other_open_invoice_expiring_leaves_the_order_paid(
    deliver, btc_invoice, listen
):
    """Mutant: a paid order whose other, still-open invoice later expires changes the
    order's status."""
    order = btc_invoice.order
    deliver(invoice_event("PAID"))
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    # Another invoice of the same order, still open (made before the payment was known).
    other = Invoice.objects.create(
        provider_id=NEWER_ID,
        order=order,
        provider_status="CREATED",
        invoice_amount=order.amount,
        invoice_asset=order.asset,
    )
    seen = listen("order_status_changed", "order_paid")

    deliver({"event": "Invoice", "data": {"id": NEWER_ID, "status": "TIMEOUT"}})

    other.refresh_from_db()
    assert other.status == InvoiceStatus.EXPIRED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert seen == []


@override_settings(DJANGO_INVOICES=UNCONFIRMED)
def test_an_old_invoices_late_decline_does_not_override_a_newer_open_invoice(
    deliver, btc_invoice, listen
):
    """Mutant: an old invoice's late DECLINED overrides the order while a newer invoice
    is open."""
    order = btc_invoice.order
    deliver(invoice_event("TIMEOUT"))
    assert Order.objects.get(pk=order.pk).status == OrderStatus.EXPIRED
    # A newer invoice, as create_invoice leaves it.
    Invoice.objects.create(
        provider_id=NEWER_ID, order=order, invoice_amount=order.amount, invoice_asset=order.asset
    )
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.AWAITING_PAYMENT)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_PAYMENT
    seen = listen("order_status_changed", "invoice_declined")

    deliver(invoice_event("DECLINED"))  # money for the old invoice came and was refused

    btc_invoice.refresh_from_db()
    assert btc_invoice.status == InvoiceStatus.DECLINED  # the invoice itself moves
    assert seen == ["invoice_declined"]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_PAYMENT


# -- overpayment: only more than was asked ---------------------------------------------


@override_settings(DJANGO_INVOICES=UNCONFIRMED)
@pytest.mark.parametrize(
    ("amounts", "overpaid"),
    [(["0.001"], False), (["0.0004", "0.0006"], False), (["0.0004", "0.00061"], True)],
    ids=["exact", "exact-in-two", "more"],
)
def test_invoice_overpaid_only_for_more_than_the_payment_amount(
    deliver, btc_invoice, listen, amounts, overpaid
):
    """Mutant: ``invoice_overpaid`` sent for an exact payment (``<`` for ``<=``)."""
    seen = listen("invoice_overpaid")
    for number, amount in enumerate(amounts):
        deliver(deposit_event(f"tx-{number}", amount=amount))
    deliver(invoice_event("PAID"))
    # A deposit status repeated after PAID (with a new updatedAt) adds nothing.
    deliver(deposit_event("tx-0", amount=amounts[0], updatedAt="2026-11-25T10:30:00Z"))
    assert Invoice.objects.get().status == InvoiceStatus.PAID
    assert seen == (["invoice_overpaid"] if overpaid else [])


# -- return forwards: https never drops to http -------------------------------------------


def _forward(client, target, *, secure):
    settings = {
        **UNCONFIRMED,
        "RETURN_URLS": {"paid": target},
        "ALLOWED_REDIRECT_HOSTS": ["partner.example"],
    }
    with override_settings(DJANGO_INVOICES=settings):
        return client.get(
            reverse("django_invoices:return"),
            {"invoiceId": INVOICE_ID, "orderId": "A-1"},
            secure=secure,
        )


def test_a_secure_return_is_not_forwarded_to_plain_http_on_an_allowed_host(client, invoice):
    """Mutant: a return forward from https to an http host in ALLOWED_REDIRECT_HOSTS."""
    apply_status(invoice, "PAID")
    refused = _forward(client, "http://partner.example/thanks/", secure=True)
    assert refused.status_code == 200  # the built-in page instead
    assert "Location" not in refused
    # The same host over https is fine, and a plain-http visit may go to plain http.
    allowed = _forward(client, "https://partner.example/thanks/", secure=True)
    assert (allowed.status_code, allowed["Location"]) == (302, "https://partner.example/thanks/")
    plain = _forward(client, "http://partner.example/thanks/", secure=False)
    assert (plain.status_code, plain["Location"]) == (302, "http://partner.example/thanks/")


# -- row locks: SQLite cannot show them missing, so watch them being taken -------------


@pytest.fixture
def locks(monkeypatch):
    """The models locked with ``select_for_update`` during the test, in order.

    SQLite has no row locks (the whole file is locked), so removing a lock changes no
    outcome there; tests/test_races.py shows the effect on PostgreSQL, where concurrent
    workers really race. This fixture makes the omission visible on SQLite too.
    """
    taken = []
    original = QuerySet.select_for_update

    def spy(self, *args, **kwargs):
        taken.append(self.model.__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "select_for_update", spy)
    return taken


def test_applying_a_status_locks_the_invoice(btc_invoice, locks):
    apply_status(btc_invoice, "PAYMENT_AWAITING")
    assert locks == ["Invoice"]


def test_applying_provider_data_locks_the_invoice(btc_invoice, locks):
    apply_invoice_data(btc_invoice, {"id": INVOICE_ID, "status": "PAYMENT_AWAITING"})
    assert locks == ["Invoice"]


@override_settings(DJANGO_INVOICES=UNCONFIRMED)
def test_a_callback_is_applied_under_the_invoices_lock(deliver, btc_invoice, locks):
    deliver(invoice_event("PAYMENT_AWAITING"))
    deliver(deposit_event("tx-1"))
    # Each callback's read is applied under its invoice's lock, taken before any other
    # (the event rows it settles are locked after it).
    assert locks[0] == "Invoice" and locks.count("Invoice") == 2


def test_a_confirmed_paid_callback_is_applied_under_the_invoices_lock(
    deliver, btc_invoice, api, locks
):
    api.get(
        f"{API}/v1/invoice/{INVOICE_ID}",
        json={"data": {"id": INVOICE_ID, "status": "PAID", "transactions": []}},
    )
    deliver(invoice_event("PAID"))
    assert Invoice.objects.get().status == InvoiceStatus.PAID
    assert locks[0] == "Invoice" and locks.count("Invoice") == 1


@override_settings(DJANGO_INVOICES=UNCONFIRMED)
def test_moving_a_deposit_locks_the_invoice_it_leaves(deliver, btc_invoice, locks):
    order = btc_invoice.order
    deliver(deposit_event("tx-1", amount="0.001"))
    assert Invoice.objects.get(pk=btc_invoice.pk).paid_amount == Decimal("0.001")
    Invoice.objects.filter(pk=btc_invoice.pk).update(status=InvoiceStatus.EXPIRED)
    newer = Invoice.objects.create(
        provider_id=NEWER_ID, order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )
    locks.clear()

    apply_invoice_data(
        newer,
        {
            "id": NEWER_ID,
            "status": "PAID",
            "transactions": [deposit_event("tx-1", amount="0.001")["data"]],
        },
    )

    assert Deposit.objects.get().invoice_id == newer.pk
    assert Invoice.objects.get(pk=btc_invoice.pk).paid_amount == Decimal("0")
    assert locks == ["Invoice", "Invoice"]  # the newer one, then the one it leaves


# -- the api fixture: an unregistered request fails the test ---------------------------

STRICT_FIXTURE_TESTS = """
import pytest
import requests


def test_an_unregistered_request_swallowed_by_tolerant_code(api):
    api.get("https://api.kunapay.test/v1/invoice/assets", json={"data": []})
    requests.get("https://api.kunapay.test/v1/invoice/assets", timeout=1)
    try:
        requests.get("https://api.kunapay.test/v1/invoice/other", timeout=1)
    except requests.ConnectionError:
        pass  # what code tolerating a provider outage does


def test_a_registered_outage_is_no_stray_request(api):
    api.get("https://api.kunapay.test/v1/x", body=requests.ConnectionError("down"))
    with pytest.raises(requests.ConnectionError):
        requests.get("https://api.kunapay.test/v1/x", timeout=1)
"""


def test_the_api_fixture_fails_a_test_whose_unregistered_request_was_swallowed(pytester):
    """The suite's own ``api`` fixture, run on two small tests of its own."""
    pytester.makeconftest("from tests.conftest import api  # noqa: F401")
    pytester.makepyfile(test_strict=STRICT_FIXTURE_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:django", "-p", "no:cacheprovider")
    # The swallowing test errors at teardown, so the run fails; the outage test passes.
    result.assert_outcomes(passed=2, errors=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*Requests that no test registered: GET https://api.kunapay.test/v1/invoice/other*"]
    )


# -- process_pending_callbacks: oldest first, verified only, failed only on request ----


def apply_invoice_data(invoice, payload):
    """Apply a provider answer (a dict, as the wire carries it) to the invoice."""
    from django_invoices import wire
    from django_invoices.services import transitions

    return transitions.apply_invoice_data(invoice, wire.Invoice.from_wire(payload))


def _stored(status, *, received, state=CallbackEvent.State.PENDING, verified=True):
    body = json.dumps(invoice_event(status))
    event = CallbackEvent.objects.create(
        account="default",
        body=body,
        dedupe_key=callbacks.parse(body.encode()).dedupe_key,
        verified=verified,
        state=state,
    )
    CallbackEvent.objects.filter(pk=event.pk).update(received_at=received)
    return event


@override_settings(DJANGO_INVOICES=UNCONFIRMED)
def test_pending_callbacks_are_listed_oldest_first(btc_invoice, api):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    api.get(
        f"{API}/v1/invoice/{INVOICE_ID}",
        json={"data": {"id": INVOICE_ID, "status": "PAYMENT_AWAITING", "transactions": []}},
    )
    now = timezone.now()
    newer = _stored("PAYMENT_AWAITING", received=now)  # stored first, received later
    older = _stored("PAYMENT_AWAITING", received=now - timedelta(minutes=1))

    call_command("invoices_process_callbacks", "--dry-run", "--limit", "1", stdout=out)
    # The one event a limit of one takes is the oldest received, not the first stored.
    assert out.getvalue().splitlines()[0] == f"would act on callback event {older.pk}"
    assert newer.pk != older.pk


@override_settings(DJANGO_INVOICES=UNCONFIRMED)
def test_failed_callbacks_are_retried_only_on_request_and_unverified_never(btc_invoice, api):
    now = timezone.now()
    _stored("PAYMENT_AWAITING", received=now, state=CallbackEvent.State.FAILED)
    _stored("CONFIRMATION_AWAITING", received=now, verified=False)  # never applied
    api.get(
        f"{API}/v1/invoice/{INVOICE_ID}",
        json={"data": {"id": INVOICE_ID, "status": "PAYMENT_AWAITING", "transactions": []}},
    )
    assert services.drain_callbacks(due_only=False).counts == {}
    failed = CallbackEvent.objects.filter(state=CallbackEvent.State.FAILED)
    assert services.reapply_callbacks(failed) == {"applied": 1}
    assert Invoice.objects.get().status == InvoiceStatus.AWAITING_PAYMENT


def test_counts_add_up_per_state(db):
    now = timezone.now()
    events = [_stored("PAID", received=now) for _ in range(3)]  # of no known invoice
    assert services.reapply_callbacks(events) == {"ignored": 3}


# -- a deposit is mirrored whole, and updated whole --------------------------------------

FULL_DEPOSIT = {
    "id": "tx-full",
    "status": "Processing",
    "asset": "BTC",
    "paymentCode": "BTC_NETWORK",
    "amount": "0.0011",
    "fee": "0.0001",
    "processedAmount": "0.001",
    "address": "bc1qexampleaddress",
    "txId": "f00d",
    "createdAt": "2026-11-25T10:05:00Z",
    "updatedAt": "2026-11-25T10:05:00Z",
}


def _columns(deposit):
    return {
        "provider_id": deposit.provider_id,
        "status": deposit.status,
        "asset": deposit.asset,
        "payment_code": deposit.payment_code,
        "amount": deposit.amount,
        "fee": deposit.fee,
        "processed_amount": deposit.processed_amount,
        "address": deposit.address,
        "tx_id": deposit.tx_id,
        "provider_created_at": deposit.provider_created_at.isoformat(),
        "raw_payload": deposit.raw_payload,
    }


def test_every_field_of_a_deposit_is_recorded_then_updated(btc_invoice):
    apply_invoice_data(
        btc_invoice,
        {"id": INVOICE_ID, "status": "PAYMENT_AWAITING", "transactions": [FULL_DEPOSIT]},
    )
    assert _columns(Deposit.objects.get()) == {
        "provider_id": "tx-full",
        "status": "Processing",
        "asset": "BTC",
        "payment_code": "BTC_NETWORK",
        "amount": Decimal("0.0011"),
        "fee": Decimal("0.0001"),
        "processed_amount": Decimal("0.001"),
        "address": "bc1qexampleaddress",
        "tx_id": "f00d",
        "provider_created_at": "2026-11-25T10:05:00+00:00",
        "raw_payload": FULL_DEPOSIT,
    }
    assert Invoice.objects.get().paid_amount == Decimal("0")  # not credited yet

    later = {
        **FULL_DEPOSIT,
        "status": "Processed",
        "txId": "beef",
        "updatedAt": "2026-11-25T10:09:00Z",
    }
    apply_invoice_data(
        btc_invoice, {"id": INVOICE_ID, "status": "CONFIRMATION_AWAITING", "transactions": [later]}
    )
    columns = _columns(Deposit.objects.get())
    assert (columns["status"], columns["tx_id"], columns["raw_payload"]) == (
        "Processed",
        "beef",
        later,
    )
    assert Invoice.objects.get().paid_amount == Decimal("0.001")

    older = {**later, "status": "Processed", "txId": "old", "updatedAt": "2026-11-25T10:07:00Z"}
    apply_invoice_data(
        btc_invoice, {"id": INVOICE_ID, "status": "CONFIRMATION_AWAITING", "transactions": [older]}
    )
    assert Deposit.objects.get().tx_id == "beef"  # older news changes nothing
