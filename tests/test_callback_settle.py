"""Settle: what one read of an invoice means for the callbacks waiting on it
(``services.settle``, applied by ``services.reads.apply_read`` for every read)."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from django_invoices import wire
from django_invoices.callbacks import ParsedCallback
from django_invoices.models import CallbackEvent, Invoice
from django_invoices.services import reads, settle

from .callbacks_kit import deposit_event, invoice_event
from .conftest import API, INVOICE_ID, invoice_payload

State = CallbackEvent.State
OTHER_ID = "22222222-3333-4444-8555-666666666666"


def waiting(invoice, payload, **fields):
    """A pending authentic event located on ``invoice``, as the receipt stores it."""
    values = {"account": "default", "verified": True, "state": State.PENDING, **fields}
    return CallbackEvent.objects.create(invoice=invoice, body=json.dumps(payload), **values)


def apply(invoice, payload, started=None):
    stored = Invoice.objects.get(pk=invoice.pk)
    data = wire.Invoice.from_wire(payload)
    return reads.apply_read(stored, data, started or timezone.now())


def state(event):
    event.refresh_from_db()
    return event.state


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
    data = wire.Invoice.from_wire({"id": INVOICE_ID, "status": read})
    assert settle.news_ahead_of_read(parsed, data, invoice) == ahead


def test_a_read_without_status_is_behind_no_invoice_event():
    invoice = Invoice(provider_id=uuid.UUID(INVOICE_ID))
    parsed = ParsedCallback("Invoice", {"id": INVOICE_ID, "status": "PAID"})
    data = wire.Invoice.from_wire({"id": INVOICE_ID, "status": None})
    assert settle.news_ahead_of_read(parsed, data, invoice) == ""


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
    ],
)
def test_a_deposit_is_ahead_while_the_read_does_not_list_it(event, data, listed, ahead):
    invoice = Invoice(provider_id=uuid.UUID(INVOICE_ID))
    read = wire.Invoice.from_wire({"id": INVOICE_ID, "status": "PAID", "transactions": listed})
    assert settle.news_ahead_of_read(ParsedCallback(event, data), read, invoice) == ahead


# -- what a read settles -------------------------------------------------------------------


def test_a_read_settles_every_earlier_event_of_its_invoice_it_answers(invoice):
    earlier = waiting(invoice, invoice_event("PAYMENT_AWAITING"))
    also = waiting(invoice, invoice_event("PAID", updatedAt="2026-11-25T10:05:00Z"))
    done = apply(invoice, invoice_payload("PAID"))
    assert done.outcome == "read 'PAID': created -> paid"
    for event in (earlier, also):
        event.refresh_from_db()
        assert (event.state, event.outcome, event.attempts) == (
            State.APPLIED,
            "read 'PAID': created -> paid",
            1,
        )
        assert event.processed_at is not None


def test_a_read_leaves_later_unverified_and_other_invoices_events_alone(invoice):
    other = Invoice.objects.create(
        provider_id=OTHER_ID, order=invoice.order, status="expired", invoice_amount=1
    )
    started = timezone.now()
    later = waiting(invoice, invoice_event("PAID"))
    CallbackEvent.objects.filter(pk=later.pk).update(received_at=started + timedelta(seconds=1))
    unverified = waiting(invoice, invoice_event("PAID"), verified=False)
    theirs = waiting(other, {"event": "Invoice", "data": {"id": OTHER_ID, "status": "PAID"}})
    unplaced = waiting(None, invoice_event("PAID"))
    settled = waiting(invoice, invoice_event("PAID"), state=State.FAILED)
    apply(invoice, invoice_payload("PAID"), started)
    assert [state(e) for e in (later, unverified, theirs, unplaced, settled)] == [
        State.PENDING,
        State.PENDING,
        State.PENDING,
        State.PENDING,
        State.FAILED,
    ]


def test_an_event_telling_more_than_the_read_waits_and_counts_an_attempt(invoice):
    ahead = waiting(invoice, invoice_event("PAID"))
    told = waiting(invoice, invoice_event("PAYMENT_AWAITING"))
    done = apply(invoice, invoice_payload("PAYMENT_AWAITING"))
    assert done.settlement.ahead == {
        ahead.pk: "the API says 'PAYMENT_AWAITING', not 'PAID'; will ask again"
    }
    assert done.settlement.applied == [told.pk]
    ahead.refresh_from_db()
    assert (ahead.state, ahead.attempts) == (State.PENDING, 1)
    assert ahead.outcome == (
        "read 'PAYMENT_AWAITING': created -> awaiting_payment; "
        "the API says 'PAYMENT_AWAITING', not 'PAID'; will ask again"
    )
    assert state(told) == State.APPLIED


def test_news_never_shown_fails_on_the_last_attempt_not_the_one_before(invoice):
    assert settle.CONFIRM_ATTEMPTS == 12
    last = 12
    event = waiting(invoice, invoice_event("PAID"), attempts=last - 2)
    apply(invoice, invoice_payload("PAYMENT_AWAITING"))
    event.refresh_from_db()
    assert (event.state, event.attempts) == (State.PENDING, last - 1)
    apply(invoice, invoice_payload("PAYMENT_AWAITING"))
    event.refresh_from_db()
    assert (event.state, event.attempts) == (State.FAILED, last)
    assert event.outcome.endswith("will ask again; gave up")


def test_a_deposit_event_is_settled_once_the_read_lists_it(invoice):
    event = waiting(invoice, deposit_event("tx-1"))
    apply(invoice, invoice_payload("PAYMENT_AWAITING"))
    assert state(event) == State.PENDING
    listed = {"id": "tx-1", "status": "Processing", "amount": "0.0005"}
    apply(invoice, invoice_payload("CONFIRMATION_AWAITING", transactions=[listed]))
    assert state(event) == State.APPLIED


def test_a_stored_body_that_no_longer_parses_fails_without_stopping_the_others(invoice):
    before = waiting(invoice, invoice_event("PAID", updatedAt="1"))
    broken = waiting(invoice, {})
    CallbackEvent.objects.filter(pk=broken.pk).update(body="not json")
    after = waiting(invoice, invoice_event("PAID", updatedAt="2"))
    apply(invoice, invoice_payload("PAID"))
    assert [state(e) for e in (before, broken, after)] == [
        State.APPLIED,
        State.FAILED,
        State.APPLIED,
    ]
    assert CallbackEvent.objects.get(pk=broken.pk).outcome.endswith(
        "its stored body no longer parses"
    )


def test_an_answer_about_another_invoice_is_never_applied_or_settling(invoice):
    event = waiting(invoice, invoice_event("PAID"))
    with pytest.raises(Exception, match="answered with invoice"):
        apply(invoice, invoice_payload("PAID", OTHER_ID))
    assert state(event) == State.PENDING
    assert Invoice.objects.get().status == "created"


# -- every read settles: staff's refresh and the sweep too ---------------------------------


def test_staffs_refresh_settles_the_callbacks_waiting_on_the_invoice(api, invoice):
    from django_invoices import services

    event = waiting(invoice, invoice_event("PAID"))
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    services.refresh_invoices([Invoice.objects.get()])
    assert state(event) == State.APPLIED


def test_the_sweeps_read_settles_them_and_names_what_it_read(api, invoice):
    from datetime import timedelta as td

    from django_invoices.services import sync

    event = waiting(invoice, invoice_event("PAID"))
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    report = sync.run_sync(sync.plan_sync(older_than=td(0)))
    assert report.events_settled == 1
    event.refresh_from_db()
    assert (event.state, event.outcome) == (State.APPLIED, "read 'PAID': created -> paid")


def test_a_customers_refresh_settles_what_waits_and_leaves_a_workers_lease_alone(api, invoice):
    from django_invoices import services

    until = timezone.now() + timedelta(seconds=30)
    Invoice.objects.filter(pk=invoice.pk).update(read_lease_until=until)
    event = waiting(invoice, invoice_event("PAID"))
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    stored = Invoice.objects.select_related("order").get()
    assert services.refresh_if_stale(stored, min_interval=0).refreshed
    assert state(event) == State.APPLIED
    assert Invoice.objects.get().read_lease_until == until


def test_settling_without_a_read_counts_one_attempt_and_settling_nothing_writes_nothing(
    invoice,
):
    event = waiting(invoice, invoice_event("PAID"))
    assert settle.settle_as([], State.IGNORED, "nothing") == 0
    assert settle.settle_as([event.pk], State.IGNORED, "about no invoice of ours") == 1
    event.refresh_from_db()
    assert (event.state, event.outcome, event.attempts) == (
        State.IGNORED,
        "about no invoice of ours",
        1,
    )
    assert event.processed_at is not None
