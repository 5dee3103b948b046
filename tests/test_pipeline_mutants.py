"""Behaviour of the callback pipeline, the drain schedule and invoice reconciliation that
the mutation run showed no other test pinned: what ``services.queue`` answers and marks,
which invoices reconciliation skips, adopts or flags and in which words, what is placed
or ignored on receipt, and what ``callbacks_settled`` says of a failed read."""

import importlib
import json
from datetime import timedelta

import pytest
from django.db import DataError, connection
from django.test import override_settings
from django.utils import timezone

from django_invoices import background, signals, signing, wire
from django_invoices.exceptions import InvalidResponse, InvoiceCreationError
from django_invoices.models import CallbackEvent, Deposit, DrainSchedule, Invoice, Order
from django_invoices.services import pipeline, queue, reads, settle, transitions
from django_invoices.statuses import InvoiceStatus

from .callbacks_kit import deposit_event, invoice_event, post
from .conftest import API, INVOICE_ID, NEWER_ID, invoice_payload, spy_on_clients

invoice_service = importlib.import_module("django_invoices.services.invoices")

State = CallbackEvent.State
CREATE_URL = f"{API}/v1/invoice"
OTHER_ID = "22222222-3333-4444-8555-666666666666"


class Clock:
    """``django.utils.timezone.now`` under the test's hand: ``advance(seconds)``."""

    def __init__(self, monkeypatch):
        self.now = timezone.now()
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def jobs_of(results):
    return [(result.task.name, result.task.run_after) for result in results]


def drain_row():
    return DrainSchedule.objects.get(name="callbacks")


# -- waking workers and the deferred drain ---------------------------------------------


def test_a_wake_up_says_it_sent_a_message_and_the_next_one_that_it_sent_none(db, queued, clock):
    assert queue.wake() is True
    assert queue.wake() is False
    assert jobs_of(queued) == [
        ("drain_callbacks", None),
        ("drain_callbacks", clock.now + timedelta(seconds=10)),
    ]


def test_a_wake_up_is_not_held_back_by_another_schedules_mark(db, queued, clock):
    DrainSchedule.objects.create(name="other", requested_at=clock.now)
    assert queue.wake() is True
    assert len(queued) == 2
    assert drain_row().requested_at == clock.now


def test_without_a_task_system_no_deferred_drain_is_scheduled(db):
    assert queue.schedule(timezone.now() + timedelta(seconds=10)) is False
    assert not DrainSchedule.objects.exists()


def test_a_deferred_drain_is_sent_once_per_time_earlier_ones_and_after_a_stale_mark(
    db, queued, clock
):
    ten = clock.now + timedelta(seconds=10)
    assert queue.schedule(ten) is True
    assert queue.schedule(ten) is False  # one is due by then already
    five = clock.now + timedelta(seconds=5)
    assert queue.schedule(five) is True  # an earlier one is sent
    assert drain_row().scheduled_for == five
    clock.advance(20)  # the mark is in the past: that drain ran or was lost
    later = clock.now + timedelta(seconds=10)
    assert queue.schedule(later) is True
    assert drain_row().scheduled_for == later
    assert [run_after for _, run_after in jobs_of(queued)] == [ten, five, later]


def test_a_deferred_drain_that_cannot_be_sent_clears_only_its_own_mark(
    db, queued, clock, monkeypatch
):
    at = clock.now + timedelta(seconds=10)
    DrainSchedule.objects.create(name="other", scheduled_for=at)

    def refuse(*args, **kwargs):
        raise RuntimeError("broker down")

    monkeypatch.setattr(background, "enqueue", refuse)
    assert queue.schedule(at) is False
    assert drain_row().scheduled_for is None
    assert DrainSchedule.objects.get(name="other").scheduled_for == at


class RecordingRouter:
    def __init__(self):
        self.written = []

    def db_for_write(self, model, **hints):
        self.written.append(model)
        return None


def test_the_drain_marks_are_written_where_the_routers_send_the_drain_schedule(db, queued, clock):
    router = RecordingRouter()
    with override_settings(DATABASE_ROUTERS=[router]):
        assert queue.wake() is True
    # The mark is read where it is written too: a replica could lag behind a drain.
    assert router.written == [DrainSchedule, DrainSchedule, DrainSchedule]


def test_without_an_upsert_the_marks_are_set_through_the_locked_row(db, queued, clock, monkeypatch):
    # A database other than PostgreSQL and SQLite (MySQL, Oracle): no INSERT .. ON CONFLICT.
    monkeypatch.setattr(connection, "vendor", "mysql")
    assert queue.wake() is True
    row = drain_row()
    assert (row.requested_at, row.scheduled_for) == (
        clock.now,
        clock.now + timedelta(seconds=10),
    )
    assert queue.wake() is False
    assert queue.schedule(clock.now + timedelta(seconds=10)) is False
    assert queue.schedule(clock.now + timedelta(seconds=5)) is True
    assert drain_row().scheduled_for == clock.now + timedelta(seconds=5)
    assert len(queued) == 3


# -- when the next waiting invoice is due ------------------------------------------------


def _event(invoice, *, verified=True, state=State.PENDING, attempts=0):
    return CallbackEvent.objects.create(
        account="default",
        invoice=invoice,
        verified=verified,
        state=state,
        attempts=attempts,
        body=json.dumps(invoice_event("PAID")),
    )


def test_only_authentic_pending_events_make_an_invoice_due_later(invoice, clock):
    Invoice.objects.filter(pk=invoice.pk).update(
        callbacks_read_after=clock.now + timedelta(seconds=30)
    )
    _event(invoice, verified=False)
    assert queue.next_due(clock.now) is None
    _event(invoice, state=State.FAILED)
    assert queue.next_due(clock.now) is None
    _event(invoice)
    assert queue.next_due(clock.now) == clock.now + timedelta(seconds=30)


def test_an_invoice_another_reader_holds_is_due_when_its_lease_ends(invoice, clock):
    Invoice.objects.filter(pk=invoice.pk).update(read_lease_until=clock.now + timedelta(seconds=7))
    _event(invoice)
    assert queue.next_due(clock.now) == clock.now + timedelta(seconds=7)


def test_a_backoff_ending_now_is_not_what_is_due_later(invoice, clock):
    Invoice.objects.filter(pk=invoice.pk).update(
        callbacks_read_after=clock.now, read_lease_until=clock.now + timedelta(seconds=7)
    )
    _event(invoice)
    assert queue.next_due(clock.now) == clock.now + timedelta(seconds=7)


# -- in the callback request ---------------------------------------------------------------


def test_a_request_for_a_backed_off_invoice_does_not_wait_on_another_invoices_reader(
    client, order, invoice, monkeypatch
):
    now = timezone.now()
    Invoice.objects.filter(pk=invoice.pk).update(callbacks_read_after=now + timedelta(seconds=60))
    other_order = Order.objects.create(external_order_id="B-2", amount=1, asset="EUR")
    Invoice.objects.create(
        provider_id=OTHER_ID,
        order=other_order,
        invoice_amount=1,
        invoice_asset="EUR",
        read_lease_until=now + timedelta(seconds=60),
    )
    sleeps = []
    monkeypatch.setattr(pipeline.time, "sleep", sleeps.append)
    assert post(client, invoice_event("PAID")).json()["state"] == "pending"
    assert sleeps == []


def test_an_invoice_callback_for_an_invoice_not_recorded_yet_waits_to_be_placed(client, db, queued):
    assert post(client, invoice_event("PAID")).json()["state"] == "pending"
    assert CallbackEvent.objects.get().state == State.PENDING


def test_a_deposit_callback_naming_nothing_the_provider_could_know_is_ignored(client, db, queued):
    body = deposit_event("not-a-uuid", invoiceId=None)
    assert post(client, body).json()["state"] == "ignored"
    assert CallbackEvent.objects.get().state == State.IGNORED
    assert queued == []


# -- failed reads announce their failures, with no lags ------------------------------------


def test_a_read_that_cannot_be_stored_announces_its_failed_events_with_no_lags(
    api, invoice, monkeypatch, listen
):
    settled = listen("callbacks_settled", kwargs=True)

    def refuse(*args, **kwargs):
        raise DataError("value too long")

    monkeypatch.setattr(reads, "apply_data_locked", refuse)
    event = _event(invoice)
    CallbackEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(seconds=5)
    )
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    pipeline.process_invoice(Invoice.objects.get(pk=invoice.pk), fast=False)
    assert [(sent["states"], sent["lags"]) for _, sent in settled] == [({event.pk: "failed"}, [])]


def test_events_out_of_attempts_after_a_failed_read_are_announced_with_no_lags(invoice, listen):
    settled = listen("callbacks_settled", kwargs=True)
    event = _event(invoice, attempts=11)
    assert settle.record_failed_read(invoice, timezone.now(), "down") == 0
    assert [(sent["states"], sent["lags"]) for _, sent in settled] == [({event.pk: "failed"}, [])]


# -- creating an invoice --------------------------------------------------------------------


CREATED = {"data": {"id": INVOICE_ID, "paymentLink": "https://pay.example/i/1"}}


def test_an_invoice_created_without_an_asset_in_the_answer_keeps_the_orders(api, order):
    api.post(CREATE_URL, json=CREATED)
    invoice = invoice_service.create_invoice(order)
    assert Invoice.objects.get(pk=invoice.pk).invoice_asset == "EUR"


def test_an_invoice_created_without_customization_stores_an_empty_one(api, order):
    api.post(CREATE_URL, json=CREATED)
    invoice = invoice_service.create_invoice(order, return_url="", redirect_button_title="")
    assert "customization" not in json.loads(api.calls[0].request.body)
    assert Invoice.objects.get(pk=invoice.pk).customization == {}


def test_a_created_invoice_with_a_status_too_long_to_store_names_the_status(api, order):
    api.post(CREATE_URL, json={"data": {**CREATED["data"], "status": "S" * 65}})
    with pytest.raises(InvalidResponse) as info:
        invoice_service.create_invoice(order)
    assert "KUNA Pay sent a status of 65 characters (at most 64 are stored)" in str(info.value)
    assert not Invoice.objects.exists()


# -- reconciliation ----------------------------------------------------------------------------


def _owing(order):
    Order.objects.filter(pk=order.pk).update(needs_reconciliation=True)
    return order.pk


def _listed(api, *items):
    api.get(CREATE_URL, json={"data": list(items)})


def _expired(order, provider_id, account="default"):
    return Invoice.objects.create(
        provider_id=provider_id,
        order=order,
        account=account,
        status=InvoiceStatus.EXPIRED,
        invoice_amount=order.amount,
        invoice_asset=order.asset,
    )


def test_reconciliation_never_adopts_an_invoice_we_recorded_already(api, order):
    _expired(order, INVOICE_ID)
    _listed(api, invoice_payload("CREATED"))
    assert invoice_service.reconcile_order(_owing(order)) == ("nothing found", None)
    assert Invoice.objects.count() == 1
    order.refresh_from_db()
    assert (order.needs_reconciliation, order.reconciliation_issue) == (False, "")


def test_reconciliation_flags_an_amount_too_precise_to_store_quoting_it_cut_short(api, order):
    long_id = "x" * 50
    amount = "42.5000000000000000000000000000000000000001"
    _listed(
        api,
        invoice_payload(invoice_id=long_id, invoiceAmount=amount, invoiceAssetCode="E" * 20),
    )
    assert invoice_service.reconcile_order(_owing(order)) == ("flagged", None)
    order.refresh_from_db()
    assert order.reconciliation_issue == (
        "KUNA Pay has invoice xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx for this order with "
        "42.5000000000000000000000000000000000000 EEEEEEEEEEEEEEEE, "
        "not 42.5 EUR; not adopted"
    )
    assert not Invoice.objects.exists()


def test_reconciliation_flags_an_invoice_without_an_amount(api, order):
    _listed(api, invoice_payload(invoice_id=NEWER_ID, invoiceAmount=None))
    assert invoice_service.reconcile_order(_owing(order)) == ("flagged", None)
    order.refresh_from_db()
    assert order.reconciliation_issue == (
        f"KUNA Pay has invoice {NEWER_ID} for this order with  EUR, not 42.5 EUR; not adopted"
    )
    assert not Invoice.objects.exists()


def test_reconciliation_adopts_a_dated_match_listed_beside_an_undated_mismatch(api, order):
    undated = invoice_payload(invoice_id=OTHER_ID, invoiceAmount="1")
    del undated["createdAt"]
    _listed(api, undated, invoice_payload(invoice_id=NEWER_ID))
    result, adopted = invoice_service.reconcile_order(_owing(order))
    assert (result, str(adopted.provider_id)) == ("adopted", NEWER_ID)


def test_reconciliation_beside_an_open_invoice_flags_the_found_one_in_words(api, order, invoice):
    _listed(api, invoice_payload(invoice_id="y" * 45))
    assert invoice_service.reconcile_order(_owing(order)) == ("flagged", None)
    order.refresh_from_db()
    assert order.reconciliation_issue == (
        "KUNA Pay has invoice yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy for this order, "
        "which has another open invoice; not adopted"
    )
    assert order.needs_reconciliation is False
    assert Invoice.objects.count() == 1


@pytest.fixture
def eu_account(settings):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNTS": {"eu": {"API_KEY": "eu-api-key", "PRIVATE_KEY": "eu-private-key"}},
    }


def test_reconciliation_asks_with_the_account_of_the_orders_only_invoice(
    api, order, eu_account, monkeypatch
):
    _expired(order, INVOICE_ID, account="eu")
    _listed(api)
    asked = spy_on_clients(monkeypatch, invoice_service)
    assert invoice_service.reconcile_order(_owing(order)) == ("nothing found", None)
    assert asked == [("eu", False)]


def test_reconciliation_asks_with_the_account_of_the_most_recently_created_invoice(
    api, order, eu_account, monkeypatch
):
    newest = _expired(order, INVOICE_ID, account="eu")
    older = _expired(order, NEWER_ID)  # recorded after it, but created before it
    now = timezone.now()
    Invoice.objects.filter(pk=newest.pk).update(created_at=now)
    Invoice.objects.filter(pk=older.pk).update(created_at=now - timedelta(hours=1))
    _listed(api)
    asked = spy_on_clients(monkeypatch, invoice_service)
    invoice_service.reconcile_order(_owing(order))
    assert asked == [("eu", False)]


def test_reconciliation_takes_the_last_recorded_of_invoices_created_at_once(
    api, order, eu_account, monkeypatch
):
    _expired(order, INVOICE_ID)
    _expired(order, NEWER_ID, account="eu")
    Invoice.objects.update(created_at=timezone.now())
    _listed(api)
    asked = spy_on_clients(monkeypatch, invoice_service)
    invoice_service.reconcile_order(_owing(order))
    assert asked == [("eu", False)]


# -- creating an invoice: what is asked for, and what is refused ----------------------------


def test_an_invoice_is_created_with_the_return_url_given(api, order):
    api.post(CREATE_URL, json=CREATED)
    invoice_service.create_invoice(order, return_url="https://shop.example/back")
    body = json.loads(api.calls[0].request.body)
    assert body["customization"]["redirectUrl"] == "https://shop.example/back"


def test_without_a_button_title_setting_none_is_sent(api, order, settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "REDIRECT_BUTTON_TITLE": ""}
    api.post(CREATE_URL, json=CREATED)
    invoice_service.create_invoice(order)
    body = json.loads(api.calls[0].request.body)
    assert "redirectButtonTitle" not in body["customization"]


def test_the_product_description_given_is_sent(api, order):
    api.post(CREATE_URL, json=CREATED)
    invoice_service.create_invoice(order, product_description="Books")
    assert json.loads(api.calls[0].request.body)["productDescription"] == "Books"


def test_without_a_product_description_the_orders_description_is_sent(api, order):
    Order.objects.filter(pk=order.pk).update(description="Shoes")
    api.post(CREATE_URL, json=CREATED)
    invoice_service.create_invoice(order)
    assert json.loads(api.calls[0].request.body)["productDescription"] == "Shoes"


def test_a_paid_order_gets_no_invoice_and_the_error_says_its_status(db, order):
    Order.objects.filter(pk=order.pk).update(status="paid")
    with pytest.raises(InvoiceCreationError) as info:
        invoice_service.create_invoice(order)
    assert (str(info.value), info.value.order_status) == ("Order A-1 is already paid.", "paid")


def test_a_partly_paid_order_gets_no_invoice_and_the_error_says_why(db, order):
    Order.objects.filter(pk=order.pk).update(status="partially_paid")
    with pytest.raises(InvoiceCreationError) as info:
        invoice_service.create_invoice(order)
    assert str(info.value) == "Order A-1 was partly paid; settle the rest with the customer."
    assert info.value.order_status == "partially_paid"


def test_an_unreadable_create_answer_not_found_again_is_ambiguous(api, order):
    api.post(CREATE_URL, json={"data": "not an invoice"})
    _listed(api)
    with pytest.raises(InvalidResponse) as info:
        invoice_service.create_invoice(order)
    assert info.value.ambiguous is True
    order.refresh_from_db()
    assert order.needs_reconciliation is True


def test_a_created_invoice_that_cannot_be_recorded_is_ambiguous(api, order):
    api.post(CREATE_URL, json={"data": {**CREATED["data"], "status": "S" * 65}})
    with pytest.raises(InvalidResponse) as info:
        invoice_service.create_invoice(order)
    assert info.value.ambiguous is True
    order.refresh_from_db()
    assert order.needs_reconciliation is True


# -- deposits too long to store name their field ----------------------------------------------


@pytest.mark.parametrize(
    ("key", "length", "said"),
    [
        ("status", 33, "KUNA Pay sent a deposit status of 33 characters (at most 32 are stored)"),
        ("type", 33, "KUNA Pay sent a transaction type of 33 characters (at most 32 are stored)"),
        ("asset", 17, "KUNA Pay sent a deposit asset of 17 characters (at most 16 are stored)"),
        ("paymentCode", 33, "KUNA Pay sent a paymentCode of 33 characters (at most 32 are stored)"),
        (
            "address",
            257,
            "KUNA Pay sent a deposit address of 257 characters (at most 256 are stored)",
        ),
        ("txId", 257, "KUNA Pay sent a txId of 257 characters (at most 256 are stored)"),
    ],
)
def test_a_deposit_field_too_long_to_store_is_refused_by_name(btc_invoice, key, length, said):
    data = deposit_event("33333333-4444-4555-8666-777777777777")["data"]
    data[key] = "A" * length
    with pytest.raises(InvalidResponse) as info:
        transitions.write_deposit(btc_invoice, wire.Transaction.from_wire(data))
    assert str(info.value) == said
    assert not Deposit.objects.exists()


# -- what waits, and in which order -----------------------------------------------------------


def _second_invoice(provider_id=OTHER_ID, **values):
    other_order = Order.objects.create(external_order_id="B-2", amount=1, asset="EUR")
    return Invoice.objects.create(
        provider_id=provider_id, order=other_order, invoice_amount=1, invoice_asset="EUR", **values
    )


def _received(event, when):
    CallbackEvent.objects.filter(pk=event.pk).update(received_at=when)
    return event


def test_invoices_waiting_longest_are_due_first(invoice, clock):
    other = _second_invoice()
    _received(_event(invoice), clock.now - timedelta(seconds=5))
    _received(_event(other), clock.now - timedelta(seconds=50))
    assert queue.due_invoices(10, now=clock.now) == [other.pk, invoice.pk]


def test_an_invoice_another_reader_holds_is_not_due_even_when_backoffs_are_ignored(invoice, clock):
    Invoice.objects.filter(pk=invoice.pk).update(read_lease_until=clock.now + timedelta(seconds=9))
    _event(invoice)
    assert queue.due_invoices(10, now=clock.now) == []
    assert queue.due_invoices(10, now=clock.now, due_only=False) == []
    Invoice.objects.filter(pk=invoice.pk).update(read_lease_until=clock.now)
    assert queue.due_invoices(10, now=clock.now) == [invoice.pk]


def test_a_backed_off_invoice_is_due_only_when_backoffs_are_ignored(invoice, clock):
    Invoice.objects.filter(pk=invoice.pk).update(
        callbacks_read_after=clock.now + timedelta(seconds=9)
    )
    _event(invoice)
    assert queue.due_invoices(10, now=clock.now) == []
    assert queue.due_invoices(10, now=clock.now, due_only=False) == [invoice.pk]


def test_unplaced_events_are_the_authentic_ones_oldest_received_first(db, clock):
    first = _received(_event(None), clock.now - timedelta(seconds=5))
    older = _received(_event(None), clock.now - timedelta(seconds=50))
    _event(None, verified=False)
    assert queue.unlocated_events(10) == [older.pk, first.pk]


def test_a_drain_starting_clears_its_own_past_deferred_mark_only(db, clock):
    past = clock.now - timedelta(seconds=1)
    DrainSchedule.objects.create(name="callbacks", requested_at=past, scheduled_for=past)
    DrainSchedule.objects.create(name="other", scheduled_for=past)
    queue.drain_started()
    assert (drain_row().requested_at, drain_row().scheduled_for) == (None, None)
    assert DrainSchedule.objects.get(name="other").scheduled_for == past


# -- a drain --------------------------------------------------------------------------------


def test_a_drain_reads_no_more_invoices_than_its_limit(api, invoice, monkeypatch):
    other = _second_invoice()
    _event(invoice)
    _event(other)
    read = []
    monkeypatch.setattr(pipeline, "process_invoice", lambda found, **kw: read.append(found.pk))
    pipeline.drain(limit=1)
    assert len(read) == 1
    # Out of its limit with work left and no task system: no drain is asked for.
    assert not DrainSchedule.objects.filter(requested_at__isnull=False).exists()
    assert DrainSchedule.objects.count() == 0


def test_a_drain_goes_on_after_an_invoice_it_could_not_act_on(api, invoice, monkeypatch):
    other = _second_invoice()
    _received(_event(other), timezone.now() - timedelta(seconds=50))
    _event(invoice)
    read = []

    def process(found, **kwargs):
        read.append(found.pk)
        if found.pk == other.pk:
            raise RuntimeError("unforeseen")

    monkeypatch.setattr(pipeline, "process_invoice", process)
    pipeline.drain()
    assert read == [other.pk, invoice.pk]


def test_a_drain_goes_on_after_an_event_it_could_not_place(db, monkeypatch):
    first = _received(_event(None), timezone.now() - timedelta(seconds=50))
    second = _event(None)
    placed = []

    def resolve(event, **kwargs):
        placed.append(event.pk)
        if event.pk == first.pk:
            raise RuntimeError("unforeseen")

    monkeypatch.setattr(pipeline, "resolve", resolve)
    pipeline.drain()
    assert placed == [first.pk, second.pk]


def test_a_drain_places_an_event_due_after_one_still_backing_off(db, monkeypatch):
    now = timezone.now()
    waiting = _received(_event(None, attempts=1), now - timedelta(seconds=50))
    CallbackEvent.objects.filter(pk=waiting.pk).update(processed_at=now)
    due = _event(None)
    placed = []
    monkeypatch.setattr(pipeline, "resolve", lambda event, **kw: placed.append(event.pk))
    pipeline.drain()
    assert placed == [due.pk]


def test_a_drain_passes_over_a_backed_off_invoice_waiting_longer(api, invoice, monkeypatch):
    now = timezone.now()
    Invoice.objects.filter(pk=invoice.pk).update(callbacks_read_after=now + timedelta(seconds=60))
    _received(_event(invoice), now - timedelta(seconds=50))
    other = _second_invoice()
    _event(other)
    read = []
    monkeypatch.setattr(pipeline, "process_invoice", lambda found, **kw: read.append(found.pk))
    pipeline.drain(limit=1)
    assert read == [other.pk]


def test_failed_events_are_announced_by_callback_events_about_their_invoice(invoice):
    heard = []

    def receiver(sender, **sent):
        heard.append((sender, sent["invoice"].pk, sent["account"]))

    signals.callbacks_settled.connect(receiver, weak=False)
    try:
        _event(invoice, attempts=11)
        settle.record_failed_read(invoice, timezone.now(), "down")
    finally:
        signals.callbacks_settled.disconnect(receiver)
    assert heard == [(CallbackEvent, invoice.pk, "default")]


# -- what a callback signature is computed over -------------------------------------------------


def test_the_python_recipe_signs_the_body_as_json_dumps_writes_it(db):
    recipe = signing.Recipe.parse("sha384/hex/python")
    body = '{"event":"Invoice","data":{"id":"é"}}'.encode()
    assert signing.signed_message(body, recipe) == (
        b'{"event": "Invoice", "data": {"id": "\\u00e9"}}'
    )


# -- a request waiting on another reader of its invoice --------------------------------------


def _held_by_another_reader(invoice):
    later = timezone.now() + timedelta(seconds=60)
    Invoice.objects.filter(pk=invoice.pk).update(read_lease_until=later)


def test_a_request_waits_in_steps_of_fifty_ms_and_answers_what_the_other_reader_settled(
    client, api, invoice, monkeypatch
):
    _held_by_another_reader(invoice)
    sleeps = []

    def other_reader_settles(seconds):
        sleeps.append(seconds)
        CallbackEvent.objects.update(state=State.APPLIED, outcome="applied by the other reader")

    monkeypatch.setattr(pipeline.time, "sleep", other_reader_settles)
    assert post(client, invoice_event("PAID")).json()["state"] == "applied"
    assert sleeps == [0.05]
    assert CallbackEvent.objects.get().outcome == "applied by the other reader"


def test_a_request_reads_itself_once_the_other_reader_gives_the_invoice_back(
    client, api, invoice, monkeypatch
):
    _held_by_another_reader(invoice)
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    sleeps = []

    def other_reader_leaves(seconds):
        sleeps.append(seconds)
        Invoice.objects.update(read_lease_until=None)

    monkeypatch.setattr(pipeline.time, "sleep", other_reader_leaves)
    assert post(client, invoice_event("PAID")).json()["state"] == "applied"
    assert sleeps == [0.05]
    assert len(api.calls) == 1


def test_a_read_with_nothing_left_waiting_starts_the_schedule_afresh(invoice, clock):
    invoice.callbacks_unconfirmed = 3
    invoice.callbacks_read_after = clock.now + timedelta(seconds=8)
    queue.reschedule(invoice, confirmed=False, waiting=False)
    assert (invoice.callbacks_unconfirmed, invoice.callbacks_read_after) == (0, None)


def test_unconfirmed_reads_are_counted_up_to_thirty_two(invoice, clock):
    invoice.callbacks_unconfirmed = 32
    queue.reschedule(invoice, confirmed=False, waiting=True)
    assert invoice.callbacks_unconfirmed == 32
    assert invoice.callbacks_read_after == clock.now + timedelta(seconds=600)


def test_a_read_behind_its_callback_says_why_the_event_waits(api, invoice):
    event = _received(_event(invoice), timezone.now() - timedelta(seconds=5))
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAYMENT_AWAITING")})
    done = pipeline.process_invoice(Invoice.objects.get(pk=invoice.pk), fast=False)
    assert done.states == {event.pk: "pending"}
    assert done.outcomes[event.pk].endswith(
        "; the API says 'PAYMENT_AWAITING', not 'PAID'; will ask again"
    )


def test_a_fast_read_holds_its_invoice_for_the_fast_clients_longest_read(api, invoice, clock):
    _event(invoice)
    leases = []

    def answer(request):
        leases.append(Invoice.objects.get(pk=invoice.pk).read_lease_until)
        return 200, {}, json.dumps({"data": invoice_payload("CREATED")})

    api.add_callback("GET", f"{API}/v1/invoice/{INVOICE_ID}", callback=answer)
    pipeline.process_invoice(Invoice.objects.get(pk=invoice.pk), fast=True)
    # A connect of at most 0.5 s, CALLBACK_API_TIMEOUT (1.2 s) to read, and 5 s more.
    assert leases == [clock.now + timedelta(seconds=6.7)]
