"""Storing callbacks and acting on them (``services.callback_events``), called directly:
what a stored event keeps, which invoice it is placed on, what a read settles, and
which events are picked up again."""

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from django_invoices.callbacks import ParsedCallback, parse
from django_invoices.models import CallbackEvent, Deposit, Invoice, Order
from django_invoices.services import callback_events
from django_invoices.signing import sign_callback

from .callbacks_kit import KEY, deposit_event, invoice_event
from .conftest import API, INVOICE_ID, invoice_payload, spy_on_clients

State = CallbackEvent.State
OTHER_ID = "22222222-3333-4444-8555-666666666666"


def receive(payload, *, account="default", key=KEY, remote_addr=None, headers=None):
    body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    sent = {"kun-signature": sign_callback(key, body), **(headers or {})}
    return callback_events.receive_callback(account, body, sent, remote_addr)


# -- what a stored event keeps ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("2001:DB8::0001", "2001:db8::1"),
        ("not an address", None),
        ("", None),
        (None, None),
    ],
)
def test_the_senders_address_is_kept_in_one_spelling_or_not_at_all(invoice, given, stored):
    event, rejection = receive(invoice_event("PAID"), remote_addr=given)
    assert rejection == ""
    assert CallbackEvent.objects.get(pk=event.pk).remote_addr == stored


def test_an_authentic_event_keeps_what_it_names(invoice):
    payload = invoice_event("PAID", updatedAt="2026-11-25T10:05:00Z")
    payload["event"] = "Invoice" + "x" * 100
    event, rejection = receive(payload)
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert rejection == ""
    assert stored.state == State.PENDING
    assert stored.verified is True
    assert stored.signature_variant == "sha384/hex/raw"
    assert stored.event_name == ("Invoice" + "x" * 100)[:64]
    assert (stored.object_id, stored.provider_status) == (INVOICE_ID, "PAID")
    assert stored.dedupe_key == parse(json.dumps(payload).encode()).dedupe_key
    assert stored.subject == INVOICE_ID
    assert stored.invoice == invoice
    assert stored.outcome == ""
    assert stored.body == json.dumps(payload)
    assert stored.body_size == len(json.dumps(payload).encode())


def test_a_refused_callback_is_about_nothing(invoice):
    event, rejection = receive(invoice_event("PAID"), key="not the key")
    assert rejection == callback_events.REJECT_BAD_SIGNATURE
    assert CallbackEvent.objects.get(pk=event.pk).subject == ""


def test_the_migration_gives_events_still_waiting_the_subject_they_would_get_now(db):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("django_invoices.migrations.0005_callbackevent_subject")
    body = json.dumps(invoice_event("PAID"))
    states = (State.PENDING, State.FAILED, State.APPLIED)
    waiting = [
        CallbackEvent.objects.create(verified=True, state=state, body=body) for state in states
    ]
    forged = CallbackEvent.objects.create(verified=False, state=State.PENDING, body=body)
    broken = CallbackEvent.objects.create(verified=True, state=State.PENDING, body="{")

    migration.fill_subjects(apps, None)

    subjects = dict(CallbackEvent.objects.values_list("pk", "subject"))
    assert [subjects[event.pk] for event in waiting] == [INVOICE_ID, INVOICE_ID, ""]
    assert subjects[forged.pk] == subjects[broken.pk] == ""


def test_a_body_over_the_limit_is_refused_with_its_size(db):
    event, rejection = callback_events.receive_callback(
        "default", b'{"event":', {"kun-signature": "x"}, body_size=2_000_001
    )
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert rejection == callback_events.REJECT_TOO_LARGE
    assert stored.state == State.REJECTED
    assert stored.outcome == "body of 2000001 bytes is over the limit"
    assert stored.body_size == 2_000_001


def test_an_unknown_account_is_refused_and_its_name_cut_short(db):
    event, rejection = receive(invoice_event("PAID"), account="n" * 100)
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert rejection == callback_events.REJECT_UNKNOWN_ACCOUNT
    assert stored.account == "n" * 64
    assert stored.outcome == callback_events.REJECT_UNKNOWN_ACCOUNT
    assert stored.verified is False


def test_a_bad_signature_is_kept_cut_short_and_the_body_cut_to_the_setting(db, settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "REJECTED_BODY_KEEP": 10}
    body = json.dumps(invoice_event("PAID")).encode()
    event, rejection = callback_events.receive_callback(
        "default", body, {"kun-signature": "f" * 300}
    )
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert rejection == callback_events.REJECT_BAD_SIGNATURE
    assert stored.signature == "f" * 256
    assert stored.body == body[:10].decode()
    assert stored.body_size == len(body)
    assert stored.outcome == "bad_signature"


def test_a_negative_body_keep_keeps_nothing(db, settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "REJECTED_BODY_KEEP": -5}
    event, _ = callback_events.receive_callback("default", b'{"a": 1}', {})
    assert CallbackEvent.objects.get(pk=event.pk).body == ""


def test_an_authentic_body_that_is_not_utf8_is_refused_as_malformed(db):
    body = b'{"event":"Invoice","data":{"id":"\xff"}}'
    event, rejection = receive(body)
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert rejection == callback_events.REJECT_MALFORMED
    assert stored.verified is True
    assert stored.outcome == "body is not UTF-8"


# -- which invoice an event is placed on ---------------------------------------------------


@pytest.fixture
def two_invoices(invoice):
    other_order = Order.objects.create(external_order_id="B-1", amount=Decimal("1"), asset="EUR")
    other = Invoice.objects.create(
        provider_id=OTHER_ID, order=other_order, invoice_amount=Decimal("1"), invoice_asset="EUR"
    )
    return invoice, other


def find(data, event="InvoiceDeposit", account="default"):
    return callback_events.find_named_invoice(ParsedCallback(event, data), account)


def test_the_invoice_id_named_comes_before_the_events_own_id(two_invoices):
    first, second = two_invoices
    assert find({"id": INVOICE_ID, "invoiceId": OTHER_ID}) == second
    assert find({"id": INVOICE_ID}) == first
    assert find({"id": INVOICE_ID.upper()}) == first
    assert find({"id": "tx-1", "invoiceId": "not-a-uuid", "externalOrderId": "B-1"}) == second


def test_an_order_id_names_the_orders_newest_invoice(two_invoices):
    first, _ = two_invoices
    Invoice.objects.filter(pk=first.pk).update(status="expired")
    newer = Invoice.objects.create(
        provider_id="33333333-3333-4444-8555-666666666666",
        order=first.order,
        status="awaiting_payment",
        invoice_amount=Decimal("1"),
        invoice_asset="EUR",
    )
    Invoice.objects.filter(pk=first.pk).update(created_at=newer.created_at - timedelta(minutes=5))
    assert find({"externalOrderId": "A-1"}) == newer
    assert find({"externalOrderId": "nobody"}) is None


def test_a_recorded_deposit_names_its_invoice(two_invoices):
    _, second = two_invoices
    Deposit.objects.create(provider_id="tx-9", invoice=second, status="Processed")
    assert find({"id": "tx-9"}) == second
    assert find({"id": "tx-unknown"}) is None
    assert find({}) is None


def test_another_accounts_invoices_are_never_named(two_invoices, settings):
    _, second = two_invoices
    Invoice.objects.filter(pk=second.pk).update(account="other")
    Deposit.objects.create(provider_id="tx-9", invoice=second, status="Processed")
    assert find({"invoiceId": OTHER_ID}) is None
    assert find({"externalOrderId": "B-1"}) is None
    assert find({"id": "tx-9"}) is None
    assert find({"invoiceId": OTHER_ID}, account="other") == Invoice.objects.get(pk=second.pk)


def test_the_invoice_of_an_event_not_applied_is_found_from_its_body(invoice):
    event, _ = receive(invoice_event("PAID"))
    CallbackEvent.objects.filter(pk=event.pk).update(invoice=None)
    assert callback_events.invoice_of_event(CallbackEvent.objects.get(pk=event.pk)) == invoice
    CallbackEvent.objects.filter(pk=event.pk).update(verified=False)
    assert callback_events.invoice_of_event(CallbackEvent.objects.get(pk=event.pk)) is None
    CallbackEvent.objects.filter(pk=event.pk).update(verified=True, body="not json")
    assert callback_events.invoice_of_event(CallbackEvent.objects.get(pk=event.pk)) is None


# -- placing an event through the transaction API --------------------------------------------


def unplaced(tx_id="tx-new", **data):
    event, _ = receive({"event": "InvoiceDeposit", "data": {"id": tx_id, **data}})
    assert event.invoice_id is None
    return CallbackEvent.objects.get(pk=event.pk)


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 404, "json": {"message": "not found"}},
        {"json": {"data": {"id": "tx-new", "invoiceId": "not-a-uuid"}}},
        {"json": {"data": {"id": "tx-new"}}},
        {"json": {"data": {"id": "tx-new", "invoiceId": OTHER_ID}}},  # none of ours
    ],
    ids=["not-found", "not-a-uuid", "no-invoice", "unknown-invoice"],
)
def test_an_event_the_transaction_api_cannot_place_is_ignored(api, invoice, answer):
    api.get(f"{API}/v1/transaction/tx-new", **answer)
    event = callback_events.process_callback_event(unplaced())
    assert (event.state, event.outcome) == (State.IGNORED, callback_events.OUTCOME_UNKNOWN)
    assert event.attempts == 1
    assert event.processed_at is not None


def test_an_invoice_event_or_one_without_id_is_never_looked_up_as_a_transaction(api, invoice):
    nameless = unplaced(tx_id="")
    event, _ = receive({"event": "Invoice", "data": {"id": OTHER_ID, "status": "PAID"}})
    for stored in (nameless, CallbackEvent.objects.get(pk=event.pk)):
        assert callback_events.process_callback_event(stored).state == State.IGNORED
    assert len(api.calls) == 0


def test_an_event_of_an_account_no_longer_configured_is_not_looked_up(api, invoice):
    stored = unplaced()
    CallbackEvent.objects.filter(pk=stored.pk).update(account="gone")
    event = callback_events.process_callback_event(CallbackEvent.objects.get(pk=stored.pk))
    assert event.state == State.IGNORED
    assert len(api.calls) == 0


# -- acting on an event -----------------------------------------------------------------------


def test_an_event_not_verified_or_already_settled_is_returned_untouched(invoice, api):
    event, _ = receive(invoice_event("PAID"))
    for changes in ({"verified": False}, {"state": State.APPLIED}, {"state": State.IGNORED}):
        CallbackEvent.objects.filter(pk=event.pk).update(verified=True, state=State.PENDING)
        CallbackEvent.objects.filter(pk=event.pk).update(**changes)
        stored = CallbackEvent.objects.get(pk=event.pk)
        assert callback_events.process_callback_event(stored) is stored
        assert stored.attempts == 0
        assert stored.processed_at is None
    assert len(api.calls) == 0


def test_a_failed_event_is_tried_again_when_asked_to(invoice, api):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    event, _ = receive(invoice_event("PAID"))
    CallbackEvent.objects.filter(pk=event.pk).update(state=State.FAILED, attempts=3)
    done = callback_events.process_callback_event(CallbackEvent.objects.get(pk=event.pk))
    assert (done.state, done.attempts) == (State.APPLIED, 4)
    assert done.outcome == "read 'PAID': created -> paid"


def test_a_read_that_changes_nothing_says_so(invoice, api):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("CREATED")})
    event, _ = receive(invoice_event("CREATED"))
    done = callback_events.process_callback_event(event)
    assert done.state == State.APPLIED
    assert done.outcome == "read 'CREATED': no change (stays created)"


def test_a_read_about_another_invoice_is_retried(invoice, api):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID", OTHER_ID)})
    event, _ = receive(invoice_event("PAID"))
    done = callback_events.process_callback_event(event)
    assert (done.state, done.attempts) == (State.PENDING, 1)
    assert done.outcome.startswith("will retry: KUNA Pay answered with invoice ")
    assert Invoice.objects.get().status == "created"


def test_the_last_attempt_gives_up_the_one_before_does_not(invoice, api):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", status=503)
    event, _ = receive(invoice_event("PAID"))
    last = callback_events.CONFIRM_ATTEMPTS
    CallbackEvent.objects.filter(pk=event.pk).update(attempts=last - 2)
    once = callback_events.process_callback_event(CallbackEvent.objects.get(pk=event.pk))
    assert (once.state, once.attempts) == (State.PENDING, last - 1)
    assert once.outcome.startswith("will retry: ")
    assert not once.outcome.endswith("gave up")
    again = callback_events.process_callback_event(CallbackEvent.objects.get(pk=event.pk))
    assert (again.state, again.attempts) == (State.FAILED, last)
    assert again.outcome.startswith("will retry: ")
    assert again.outcome.endswith("; gave up")


def test_a_read_settles_the_earlier_pending_events_it_answers(invoice, api):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    earlier, _ = receive(invoice_event("PAYMENT_AWAITING"))
    also, _ = receive(invoice_event("PAID", updatedAt="2026-11-25T10:05:00Z"))
    event, _ = receive(invoice_event("PAID"))

    done = callback_events.process_callback_event(event)

    assert done.outcome == "read 'PAID': created -> paid; covered 2 other event(s)"
    for pk in (earlier.pk, also.pk):
        covered = CallbackEvent.objects.get(pk=pk)
        assert covered.state == State.APPLIED
        assert covered.outcome == f"covered by the read for event {event.pk} (provider said 'PAID')"
        assert covered.attempts == 1
        assert covered.processed_at is not None
    assert len(api.calls) == 1


def test_a_sweeps_read_names_itself_and_leaves_later_and_unverified_events(invoice):
    earlier, _ = receive(invoice_event("PAID"))
    unverified, _ = receive(invoice_event("PAID"))
    CallbackEvent.objects.filter(pk=unverified.pk).update(verified=False)
    started = timezone.now()
    later, _ = receive(invoice_event("PAID"))
    CallbackEvent.objects.filter(pk=later.pk).update(received_at=started + timedelta(seconds=1))

    stored = Invoice.objects.get(pk=invoice.pk)
    covered = callback_events.settle_covered_events(stored, invoice_payload("PAID"), started)

    assert covered == 1
    assert CallbackEvent.objects.get(pk=earlier.pk).outcome == (
        "covered by the read for invoices_sync (provider said 'PAID')"
    )
    assert CallbackEvent.objects.get(pk=unverified.pk).state == State.PENDING
    assert CallbackEvent.objects.get(pk=later.pk).state == State.PENDING


def test_a_read_covers_its_invoices_unplaced_events_of_the_same_account_and_places_them(
    invoice,
):
    """Events acknowledged by a worker backend are stored on no invoice; a read of the
    invoice they name (their ``subject``) covers them, but only those of its account."""

    def unplaced(account, payload):
        parsed = parse(json.dumps(payload).encode())
        return CallbackEvent.objects.create(
            account=account,
            verified=True,
            state=State.PENDING,
            body=json.dumps(payload),
            object_id=parsed.object_id,
            subject=parsed.subject,
        )

    own = unplaced("default", invoice_event("PAID"))
    deposit = unplaced("default", deposit_event("tx-1", invoiceId=INVOICE_ID.upper()))
    elsewhere = unplaced("eu", invoice_event("PAID"))
    another = invoice_event("PAID")
    another["data"]["id"] = OTHER_ID
    about_another = unplaced("default", another)
    by_order = unplaced("default", deposit_event("tx-2", invoiceId=None, externalOrderId="A-1"))
    stored = Invoice.objects.get(pk=invoice.pk)
    read = invoice_payload("PAID", transactions=[{"id": "tx-1", "type": "Deposit"}])

    covered = callback_events.settle_covered_events(stored, read, timezone.now())

    assert covered == 2
    for event in (own, deposit):
        event.refresh_from_db()
        assert (event.state, event.invoice_id) == (State.APPLIED, invoice.pk)
    for other in (elsewhere, about_another, by_order):
        other.refresh_from_db()
        assert (other.state, other.invoice_id) == (State.PENDING, None)


def test_an_event_placed_on_another_invoice_is_not_covered_by_its_own_id(two_invoices):
    """Placed by the ``invoiceId`` it names, an event belongs to that invoice even when
    its ``data.id`` spells this one's id: this invoice's read neither covers nor moves it."""
    first, second = two_invoices
    event, _ = receive(invoice_event("PAID", invoiceId=OTHER_ID))
    assert (event.object_id, event.invoice_id) == (INVOICE_ID, second.pk)

    stored = Invoice.objects.get(pk=first.pk)
    assert (
        callback_events.settle_covered_events(stored, invoice_payload("PAID"), timezone.now()) == 0
    )
    event.refresh_from_db()
    assert (event.state, event.invoice_id) == (State.PENDING, second.pk)


def test_an_event_telling_more_than_the_read_is_not_covered(invoice):
    ahead, _ = receive(invoice_event("PAID"))
    told, _ = receive(invoice_event("PAYMENT_AWAITING"))
    data = invoice_payload("PAYMENT_AWAITING")
    stored = Invoice.objects.get(pk=invoice.pk)
    assert callback_events.settle_covered_events(stored, data, timezone.now()) == 1
    assert CallbackEvent.objects.get(pk=ahead.pk).state == State.PENDING
    assert CallbackEvent.objects.get(pk=told.pk).state == State.APPLIED


# -- what a callback tells that the read does not show ------------------------------------


@pytest.mark.parametrize(
    ("claimed", "read", "ahead"),
    [
        ("PAID", "PAYMENT_AWAITING", "the API says 'PAYMENT_AWAITING', not 'PAID'; will ask again"),
        (
            "paid ",
            "PAYMENT_AWAITING",
            "the API says 'PAYMENT_AWAITING', not 'paid '; will ask again",
        ),
        ("PAYMENT_AWAITING", "PAID", ""),  # the read is further on: nothing to wait for
        ("PAID", "PAID", ""),
        ("SOMETHING_NEW", "PAYMENT_AWAITING", ""),
        ("PAID", "SOMETHING_NEW", ""),
        ("TIMEOUT", "PAID", ""),
    ],
)
def test_an_invoice_event_is_ahead_when_the_read_may_still_move_to_it(claimed, read, ahead):
    invoice = Invoice(provider_id=uuid.UUID(INVOICE_ID))
    parsed = ParsedCallback("Invoice", {"id": INVOICE_ID, "status": claimed})
    data = {"id": INVOICE_ID, "status": read}
    assert callback_events.news_ahead_of_read(parsed, data, invoice) == ahead


def test_a_read_without_status_is_behind_no_invoice_event():
    invoice = Invoice(provider_id=uuid.UUID(INVOICE_ID))
    parsed = ParsedCallback("Invoice", {"id": INVOICE_ID, "status": "PAID"})
    assert callback_events.news_ahead_of_read(parsed, {"status": None}, invoice) == ""


@pytest.mark.parametrize(
    ("event", "data", "listed", "ahead"),
    [
        (
            "InvoiceDeposit",
            {"id": "tx-1"},
            [],
            "the API lists no transaction 'tx-1'; will ask again",
        ),
        ("InvoiceDeposit", {"id": "tx-1"}, [{"id": "tx-1"}], ""),
        (
            "InvoiceDeposit",
            {"id": "tx-1"},
            "not a list",
            "the API lists no transaction 'tx-1'; will ask again",
        ),
        (
            "InvoiceDeposit",
            {"id": "tx-1"},
            ["tx-1"],
            "the API lists no transaction 'tx-1'; will ask again",
        ),
        ("InvoiceDeposit", {"id": ""}, [], ""),
        (
            "Transfer",
            {"id": "tx-1", "type": "Deposit"},
            [],
            "the API lists no transaction 'tx-1'; will ask again",
        ),
        (
            "Transfer",
            {"id": "tx-1", "type": "InvoiceDeposit"},
            [],
            "the API lists no transaction 'tx-1'; will ask again",
        ),
        ("Transfer", {"id": "tx-1", "type": "Refund"}, [], ""),
        (
            "InvoiceDeposit",
            {"id": "tx-1"},
            None,
            "the API lists no transaction 'tx-1'; will ask again",
        ),
        (
            "InvoiceDeposit",
            {"id": "tx-1"},
            5,
            "the API lists no transaction 'tx-1'; will ask again",
        ),
    ],
)
def test_a_deposit_is_ahead_while_the_read_does_not_list_it(event, data, listed, ahead):
    invoice = Invoice(provider_id=uuid.UUID(INVOICE_ID))
    read = {"id": INVOICE_ID, "status": "PAID", "transactions": listed}
    assert callback_events.news_ahead_of_read(ParsedCallback(event, data), read, invoice) == ahead


# -- which events are picked up again -------------------------------------------------------


def test_pending_ids_are_verified_oldest_first_within_the_limit(invoice):
    events = [receive(invoice_event("PAID"))[0] for _ in range(4)]
    now = timezone.now()
    for age, event in zip((1, 3, 2, 4), events, strict=True):
        CallbackEvent.objects.filter(pk=event.pk).update(received_at=now - timedelta(minutes=age))
    CallbackEvent.objects.filter(pk=events[3].pk).update(state=State.FAILED)
    rejected, _ = callback_events.receive_callback("default", b"{}", {})
    assert rejected.state == State.REJECTED

    pks = [event.pk for event in events]
    assert callback_events.pending_event_ids() == [pks[1], pks[2], pks[0]]
    assert callback_events.pending_event_ids(limit=2) == [pks[1], pks[2]]
    assert callback_events.pending_event_ids(include_failed=True) == [
        pks[3],
        pks[1],
        pks[2],
        pks[0],
    ]


def test_an_event_id_that_no_longer_exists_is_skipped(invoice):
    assert callback_events.process_event_by_id(10**9) is None
    assert callback_events.process_callback_events([10**9]) == {}


def test_prune_deletes_refused_events_from_the_age_given_on(db):
    old, _ = callback_events.receive_callback("default", b"{}", {})
    young, _ = callback_events.receive_callback("default", b"{}", {})
    now = timezone.now()
    CallbackEvent.objects.filter(pk=old.pk).update(received_at=now - timedelta(days=30, seconds=1))
    CallbackEvent.objects.filter(pk=young.pk).update(received_at=now - timedelta(days=29))

    assert callback_events.prune_rejected_events(older_than=timedelta(days=30), dry_run=True) == 1
    assert CallbackEvent.objects.count() == 2
    assert callback_events.prune_rejected_events(older_than=timedelta(days=30)) == 1
    assert list(CallbackEvent.objects.values_list("pk", flat=True)) == [young.pk]


# -- which client a read goes through --------------------------------------------------------

OTHER_API = "https://other.kunapay.test"


@pytest.fixture
def asked(monkeypatch):
    """``(account, fast)`` of every client ``callback_events`` asks for."""
    return spy_on_clients(monkeypatch, callback_events)


def test_a_transaction_is_looked_up_with_the_events_account_and_the_fast_flag(
    api, invoice, settings, asked
):
    accounts = {"other": {"API_URL": OTHER_API, "API_KEY": "k2", "PRIVATE_KEY": "p2"}}
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "ACCOUNTS": accounts}
    api.get(f"{OTHER_API}/v1/transaction/tx-new", json={"data": {"id": "tx-new"}})
    event = CallbackEvent.objects.create(
        account="other",
        verified=True,
        state=State.PENDING,
        body=json.dumps({"event": "InvoiceDeposit", "data": {"id": "tx-new"}}),
    )
    callback_events.process_callback_event(event)
    assert asked == [("other", True)]
    assert CallbackEvent.objects.get(pk=event.pk).state == State.IGNORED


def test_the_transaction_api_cannot_place_an_event_on_another_accounts_invoice(
    api, invoice, settings
):
    accounts = {"other": {"API_URL": OTHER_API, "API_KEY": "k2", "PRIVATE_KEY": "p2"}}
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "ACCOUNTS": accounts}
    Invoice.objects.filter(pk=invoice.pk).update(account="other")
    api.get(f"{API}/v1/transaction/tx-new", json={"data": {"invoiceId": INVOICE_ID}})
    event = callback_events.process_callback_event(unplaced())
    assert event.state == State.IGNORED
    assert event.invoice_id is None
    assert Invoice.objects.get().status == "created"


def test_an_invoice_recorded_after_its_event_arrived_is_found_without_the_transaction_api(
    api, order
):
    event = unplaced(invoiceId=INVOICE_ID)
    Invoice.objects.create(
        provider_id=INVOICE_ID, order=order, invoice_amount=Decimal("1"), invoice_asset="EUR"
    )
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    done = callback_events.process_callback_event(event)
    assert done.invoice.provider_id == uuid.UUID(INVOICE_ID)
    assert Invoice.objects.get().status == "paid"
    assert [call.request.url for call in api.calls] == [f"{API}/v1/invoice/{INVOICE_ID}"]


def test_events_taken_up_later_are_read_with_the_patient_client_unless_told(api, invoice, asked):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("CREATED")})
    # One at a time: a read settles the pending events that arrived before it.
    first, _ = receive(invoice_event("CREATED", updatedAt="1"))
    callback_events.process_event_by_id(first.pk)
    second, _ = receive(invoice_event("CREATED", updatedAt="2"))
    callback_events.process_callback_events([second.pk])
    third, _ = receive(invoice_event("CREATED", updatedAt="3"))
    callback_events.process_callback_events([third], fast=True)
    assert asked == [("default", False), ("default", False), ("default", True)]


def test_a_sweep_passes_its_limit_and_speed_on(invoice, monkeypatch):
    seen = []
    monkeypatch.setattr(
        callback_events,
        "process_callback_events",
        lambda ids, *, fast: seen.append((list(ids), fast)) or {},
    )
    events = [receive(invoice_event("PAID"))[0].pk for _ in range(3)]
    callback_events.process_pending_callbacks()
    callback_events.process_pending_callbacks(limit=2, fast=True)
    assert seen == [(events, False), (events[:2], True)]


def test_at_most_five_hundred_events_are_taken_up_by_default(invoice, monkeypatch):
    body = json.dumps(invoice_event("PAID"))
    CallbackEvent.objects.bulk_create(
        CallbackEvent(account="default", verified=True, state=State.PENDING, body=body)
        for _ in range(501)
    )
    assert len(callback_events.pending_event_ids()) == 500
    seen = []
    monkeypatch.setattr(
        callback_events, "process_callback_events", lambda ids, *, fast: seen.append(ids) or {}
    )
    callback_events.process_pending_callbacks()
    assert len(seen[0]) == 500


def test_an_event_that_breaks_is_counted_in_its_state_and_the_rest_go_on(api, invoice, monkeypatch):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    breaking, _ = receive(invoice_event("PAID", updatedAt="1"))
    later, _ = receive(invoice_event("PAID", updatedAt="2"))
    real = callback_events.process_callback_event

    def breaks_once(event, **kwargs):
        if event.pk == breaking.pk:
            raise RuntimeError("nobody foresaw this")
        return real(event, **kwargs)

    monkeypatch.setattr(callback_events, "process_callback_event", breaks_once)
    counts = callback_events.process_callback_events([10**9, breaking.pk, later.pk])
    # Counted as it stayed; the later event's read then covered it.
    assert counts == {State.PENDING: 1, State.APPLIED: 1}


def test_taking_up_an_event_loads_it_with_its_invoice_in_one_query(
    invoice, django_assert_num_queries, monkeypatch
):
    event, _ = receive(invoice_event("PAID"))
    monkeypatch.setattr(
        callback_events, "process_callback_event", lambda event, **kwargs: event.invoice
    )
    with django_assert_num_queries(1):
        assert callback_events.process_event_by_id(event.pk) == invoice


# -- a refused callback's read ------------------------------------------------------------


def test_a_refused_callback_about_an_invoice_that_just_expired_reads_it(api, invoice, settings):
    Invoice.objects.filter(pk=invoice.pk).update(status="expired", expires_at=timezone.now())
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    body = json.dumps(invoice_event("PAID")).encode()
    _, rejection = callback_events.receive_callback("default", body, {"kun-signature": "0" * 96})
    assert rejection == callback_events.REJECT_BAD_SIGNATURE
    assert Invoice.objects.get().status == "paid"


def test_a_read_named_after_an_event_leaves_that_event_to_its_caller(invoice):
    own, _ = receive(invoice_event("PAID", updatedAt="1"))
    other, _ = receive(invoice_event("PAID", updatedAt="2"))
    stored = Invoice.objects.get(pk=invoice.pk)
    data = invoice_payload("PAID")
    assert callback_events.settle_covered_events(stored, data, timezone.now(), by=own.pk) == 1
    assert CallbackEvent.objects.get(pk=own.pk).state == State.PENDING
    assert CallbackEvent.objects.get(pk=other.pk).outcome == (
        f"covered by the read for event {own.pk} (provider said 'PAID')"
    )


def test_a_stored_body_that_no_longer_parses_does_not_stop_the_others_being_covered(invoice):
    # One good event on either side of the broken one, whichever order rows come in.
    before, _ = receive(invoice_event("PAID", updatedAt="1"))
    broken = CallbackEvent.objects.create(
        account="default", verified=True, state=State.PENDING, body="not json", invoice=invoice
    )
    after, _ = receive(invoice_event("PAID", updatedAt="2"))
    stored = Invoice.objects.get(pk=invoice.pk)
    data = invoice_payload("PAID")
    assert callback_events.settle_covered_events(stored, data, timezone.now()) == 2
    assert CallbackEvent.objects.get(pk=broken.pk).state == State.PENDING
    assert CallbackEvent.objects.get(pk=before.pk).state == State.APPLIED
    assert CallbackEvent.objects.get(pk=after.pk).state == State.APPLIED


def test_the_same_news_applied_to_another_invoice_is_no_duplicate(api, two_invoices):
    first, second = two_invoices
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    event, _ = receive(invoice_event("PAID"))
    CallbackEvent.objects.create(
        account="default",
        verified=True,
        state=State.APPLIED,
        body="{}",
        invoice=second,
        dedupe_key=event.dedupe_key,
    )
    done = callback_events.process_callback_event(CallbackEvent.objects.get(pk=event.pk))
    assert done.state == State.APPLIED
    assert Invoice.objects.get(pk=first.pk).status == "paid"


def test_the_same_news_taken_up_later_is_a_duplicate(api, invoice):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    first, _ = receive(invoice_event("PAID"))
    callback_events.process_event_by_id(first.pk)
    again, _ = receive(invoice_event("PAID"))
    done = callback_events.process_event_by_id(again.pk)
    assert (done.state, done.outcome) == (State.DUPLICATE, "same news already applied")
    assert len(api.calls) == 1


def test_a_callback_acted_on_as_it_arrives_is_read_with_the_fast_client(api, invoice, asked):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    event, _ = receive(invoice_event("PAID"))
    callback_events.process_callback_event(event)
    assert asked == [("default", True)]


def test_a_read_covers_only_the_events_of_its_own_invoice(api, two_invoices):
    _, second = two_invoices
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    theirs, _ = receive({"event": "Invoice", "data": {"id": OTHER_ID, "status": "PAID"}})
    assert theirs.invoice_id == second.pk
    event, _ = receive(invoice_event("PAID"))
    callback_events.process_callback_event(event)
    assert CallbackEvent.objects.get(pk=theirs.pk).state == State.PENDING


def test_an_invoice_is_read_with_its_own_accounts_client(api, invoice, settings, asked):
    accounts = {"other": {"API_URL": OTHER_API, "API_KEY": "k2", "PRIVATE_KEY": "p2"}}
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "ACCOUNTS": accounts}
    Invoice.objects.filter(pk=invoice.pk).update(account="other")
    api.get(f"{OTHER_API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    event = CallbackEvent.objects.create(
        account="other",
        verified=True,
        state=State.PENDING,
        invoice=invoice,
        body=json.dumps(invoice_event("PAID")),
    )
    done = callback_events.process_callback_event(CallbackEvent.objects.get(pk=event.pk))
    assert asked == [("other", True)]
    assert done.state == State.APPLIED


def test_an_authentic_body_that_is_no_json_object_is_kept_whole(db):
    body = b'["Invoice", {"id": "x"}]'
    event, rejection = receive(body)
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert rejection == callback_events.REJECT_MALFORMED
    assert (stored.verified, stored.body, stored.outcome) == (
        True,
        body.decode(),
        "body is not a JSON object",
    )
