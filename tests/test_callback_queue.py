"""The database as the queue of record (``services.queue``, ``services.pipeline``):
who reads an invoice and when, the read budget per invoice, waking workers, what a
drain finds whoever was or was not woken, and what acts on pending and failed callbacks
(``invoices_process_callbacks``, ``reapply_callbacks``): oldest first, verified only,
failed ones only on request.

Task systems here run nothing by themselves (django-tasks' DummyBackend, Celery
eager); real workers are in ``tests/workers/``.
"""

import json
from datetime import timedelta

import pytest
from django.db import DataError
from django.test import override_settings
from django.utils import timezone

from django_invoices import background, callbacks, services
from django_invoices.models import CallbackEvent, DrainSchedule, Invoice
from django_invoices.services import pipeline, queue, reads, settle
from django_invoices.statuses import InvoiceStatus

from .callbacks_kit import invoice_event, post
from .conftest import API, INVOICE_ID, invoice_payload
from .test_callback_view import UNCONFIRMED

State = CallbackEvent.State
DETAIL = f"{API}/v1/invoice/{INVOICE_ID}"


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


def fresh(invoice):
    return Invoice.objects.get(pk=invoice.pk)


# -- the numbers -----------------------------------------------------------------------


def test_reads_back_off_per_invoice_from_two_seconds_doubling_to_ten_minutes():
    assert queue.READ_BACKOFF == 2
    assert queue.READ_BACKOFF_MAX == 600
    assert [queue.read_backoff(n) for n in range(0, 11)] == [
        0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600,
    ]  # fmt: skip
    assert queue.read_backoff(40) == 600


def test_a_lost_wake_up_is_made_good_within_ten_seconds():
    assert queue.WAKE_CHECK == 10


def test_a_lease_lasts_the_longest_read_its_client_can_make_and_five_seconds(db, settings):
    assert queue.LEASE_MARGIN == 5
    # The fast client: a connect of at most 0.5 s, CALLBACK_API_TIMEOUT to read, no retry.
    assert queue.lease_seconds("default", fast=True) == pytest.approx(0.5 + 1.2 + 5)
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "CONNECT_TIMEOUT": 3,
        "READ_TIMEOUT": 15,
        "RETRIES": 2,
        "RETRY_BACKOFF": 0.5,
    }
    # Three tries of 18 s, with 0.5 and 1 s between them.
    assert queue.lease_seconds("default", fast=False) == pytest.approx(3 * 18 + 1.5 + 5)


# -- claims ----------------------------------------------------------------------------


def test_one_reader_at_a_time_until_the_lease_is_given_back_or_runs_out(invoice, clock):
    until = queue.claim(invoice, fast=True)
    assert until == clock.now + timedelta(seconds=queue.lease_seconds("default", fast=True))
    assert fresh(invoice).read_lease_until == until
    assert queue.claim(invoice, fast=True) is None
    assert queue.claim(invoice, fast=False, due_only=False) is None
    clock.advance(queue.lease_seconds("default", fast=True))
    assert queue.claim(invoice, fast=True) is not None  # a dead reader's lease ran out
    queue.release(fresh(invoice), confirmed=None)
    assert fresh(invoice).read_lease_until is None
    assert queue.claim(invoice, fast=True) is not None


def test_a_backed_off_invoice_is_claimed_only_when_due_or_when_told(invoice, clock):
    queue.release(fresh(invoice), confirmed=False)
    stored = fresh(invoice)
    assert (stored.callbacks_unconfirmed, stored.read_lease_until) == (1, None)
    assert stored.callbacks_read_after == clock.now + timedelta(seconds=2)
    assert queue.claim(invoice, fast=True) is None
    clock.advance(2)
    assert queue.claim(invoice, fast=True) is not None
    queue.release(fresh(invoice), confirmed=False)
    assert fresh(invoice).callbacks_read_after == clock.now + timedelta(seconds=4)
    assert queue.claim(invoice, fast=False, due_only=False) is not None


def test_a_reader_claims_for_callbacks_only_while_authentic_ones_still_wait(invoice, clock):
    """A drain that listed the invoice before another reader answered its callbacks must
    not read it again once they are answered: the claim itself asks whether any waits."""
    assert queue.claim(invoice, fast=True, waiting=True) is None
    refused = _waiting_on(invoice, received=clock.now, verified=False)
    answered = _waiting_on(invoice, received=clock.now, state=State.APPLIED)
    assert queue.claim(invoice, fast=True, waiting=True) is None
    assert fresh(invoice).read_lease_until is None
    waiting = _waiting_on(invoice, received=clock.now)
    assert queue.claim(invoice, fast=True, waiting=True) is not None
    queue.release(fresh(invoice), confirmed=None)
    CallbackEvent.objects.filter(pk=waiting.pk).update(state=State.APPLIED)
    assert queue.claim(invoice, fast=True, waiting=True) is None
    # The sweep reads open invoices whether or not a callback waits.
    assert queue.claim(invoice, fast=False, due_only=False) is not None
    assert {refused.pk, answered.pk} <= set(CallbackEvent.objects.values_list("pk", flat=True))


def test_an_invoice_whose_callbacks_were_answered_meanwhile_is_not_read_again(api, invoice):
    _waiting_on(invoice, received=timezone.now(), state=State.APPLIED)
    assert pipeline.process_invoice(fresh(invoice), fast=False) is None
    assert len(api.calls) == 0
    assert fresh(invoice).read_lease_until is None


# -- in the request --------------------------------------------------------------------


def test_news_the_api_does_not_show_backs_the_invoice_off_and_news_shown_resets_it(
    client, api, invoice, clock
):
    api.get(DETAIL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    assert post(client, invoice_event("PAID")).json()["state"] == "pending"
    stored = fresh(invoice)
    assert (stored.callbacks_unconfirmed, stored.read_lease_until) == (1, None)
    assert stored.callbacks_read_after == clock.now + timedelta(seconds=2)

    assert post(client, invoice_event("PAID", updatedAt="x")).json()["state"] == "pending"
    assert len(api.calls) == 1  # not due: stored, read later

    clock.advance(2)
    api.replace("GET", DETAIL, json={"data": invoice_payload("PAID")})
    answer = post(client, invoice_event("PAID", updatedAt="y")).json()
    assert answer == {
        "event": answer["event"],
        "state": "applied",
        "detail": "read 'PAID': awaiting_payment -> paid",
    }
    assert len(api.calls) == 2
    assert set(CallbackEvent.objects.values_list("state", flat=True)) == {State.APPLIED}
    stored = fresh(invoice)
    assert (stored.callbacks_unconfirmed, stored.callbacks_read_after) == (0, None)


def test_a_callback_waits_for_another_requests_read_of_its_invoice_then_reads(client, api, invoice):
    Invoice.objects.filter(pk=invoice.pk).update(
        read_lease_until=timezone.now() + timedelta(seconds=0.3)
    )
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    assert post(client, invoice_event("PAID")).json()["state"] == "applied"
    assert len(api.calls) == 1


def test_a_callback_does_not_wait_longer_than_a_second_for_another_reader(client, api, invoice):
    assert pipeline.WAIT_FOR_READER == 1.0
    Invoice.objects.filter(pk=invoice.pk).update(
        read_lease_until=timezone.now() + timedelta(seconds=30)
    )
    started = timezone.now()
    assert post(client, invoice_event("PAID")).json()["state"] == "pending"
    assert (timezone.now() - started).total_seconds() < 2
    assert len(api.calls) == 0


def test_a_failed_read_backs_off_and_leaves_the_event_pending(client, api, invoice, clock):
    api.get(DETAIL, status=503, json={"errors": []})
    answer = post(client, invoice_event("PAID")).json()
    assert answer["state"] == "pending"
    assert answer["detail"].startswith("will retry: ")
    stored = fresh(invoice)
    assert (stored.callbacks_unconfirmed, stored.read_lease_until) == (1, None)
    event = CallbackEvent.objects.get()
    assert event.attempts == 1


# -- the read budget -------------------------------------------------------------------


def _hundred_unconfirmed_callbacks(client, clock, after_each=lambda: None):
    """100 signed callbacks about one invoice, 1.2 s apart (120 s), each claiming PAID
    while the API keeps answering PAYMENT_AWAITING."""
    for n in range(100):
        response = post(client, invoice_event("PAID", updatedAt=f"2026-12-07T10:00:{n:03d}"))
        assert response.status_code == 200
        after_each()
        clock.advance(1.2)


def test_a_hundred_unconfirmed_callbacks_cost_at_most_ten_reads_in_two_minutes_in_the_request(
    client, api, invoice, clock
):
    api.get(DETAIL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    _hundred_unconfirmed_callbacks(client, clock)
    # Reads at 0, 2, 6, 14, 30 and 62 s: the next is due after the two minutes.
    assert len(api.calls) == 6
    assert CallbackEvent.objects.filter(state=State.PENDING).count() == 100


def test_a_hundred_unconfirmed_callbacks_cost_at_most_ten_reads_with_django_tasks(
    client, api, invoice, clock, queued, run_queued
):
    api.get(DETAIL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    _hundred_unconfirmed_callbacks(client, clock, lambda: run_queued(queued, due_only=True))
    assert 5 <= len(api.calls) <= 10
    assert CallbackEvent.objects.filter(state=State.PENDING).count() == 100


def test_a_hundred_unconfirmed_callbacks_cost_at_most_ten_reads_with_celery(
    client, api, invoice, clock, settings, celery_eager
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "TASKS": "celery"}
    api.get(DETAIL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    _hundred_unconfirmed_callbacks(client, clock)
    assert 5 <= len(api.calls) <= 10
    assert CallbackEvent.objects.filter(state=State.PENDING).count() == 100


# -- waking workers ----------------------------------------------------------------------


def jobs_of(results):
    return [(result.task.name, result.task.run_after) for result in results]


def test_a_burst_sends_one_wake_up_and_one_deferred_check(client, invoice, queued, clock):
    for n in range(5):
        assert post(client, invoice_event("PAID", updatedAt=str(n))).json()["state"] == "pending"
    assert jobs_of(queued) == [
        ("drain_callbacks", None),
        ("drain_callbacks", clock.now + timedelta(seconds=queue.WAKE_CHECK)),
    ]
    mark = DrainSchedule.objects.get()
    assert (mark.name, mark.requested_at) == ("callbacks", clock.now)
    assert mark.scheduled_for == clock.now + timedelta(seconds=10)


def test_callbacks_stored_once_the_drain_started_wake_another(
    client, api, invoice, queued, run_queued
):
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    post(client, invoice_event("PAID"))
    assert run_queued(queued, due_only=True) == [{State.APPLIED: 1}]
    assert DrainSchedule.objects.get().requested_at is None
    waiting = list(queued)  # the deferred check, not due yet
    post(client, invoice_event("PAID", updatedAt="later"))
    assert [name for name, run_after in jobs_of(queued[len(waiting) :])] == ["drain_callbacks"]
    assert queued[-1].task.run_after is None


def test_a_lost_wake_up_is_made_good_by_the_deferred_check(
    client, api, invoice, queued, run_queued, clock
):
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    post(client, invoice_event("PAID"))
    queued.pop(0)  # the wake-up message is lost
    assert run_queued(queued, due_only=True) == []  # the check is not due yet
    clock.advance(queue.WAKE_CHECK)
    assert run_queued(queued, due_only=True) == [{State.APPLIED: 1}]
    assert CallbackEvent.objects.get().state == State.APPLIED


def test_a_drain_schedules_itself_for_when_the_next_invoice_is_due(
    client, api, invoice, queued, run_queued, clock
):
    api.get(DETAIL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    post(client, invoice_event("PAID"))
    queued.clear()
    DrainSchedule.objects.update(scheduled_for=None)
    run = pipeline.drain()
    assert run.invoices_read == 1
    assert jobs_of(queued) == [("drain_callbacks", clock.now + timedelta(seconds=2))]


def test_a_drain_with_more_waiting_wakes_one_more_drain(client, api, queued, order, invoice):
    other = Invoice.objects.create(
        provider_id="22222222-3333-4444-8555-666666666666",
        order=order,
        status="expired",
        invoice_amount=1,
    )
    for provider_id in (INVOICE_ID, str(other.provider_id)):
        api.get(
            f"{API}/v1/invoice/{provider_id}", json={"data": invoice_payload("PAID", provider_id)}
        )
        post(client, {"event": "Invoice", "data": {"id": provider_id, "status": "PAID"}})
    queued.clear()
    DrainSchedule.objects.update(requested_at=None)
    run = pipeline.drain()
    assert run.invoices_read == 2 and run.more
    assert [name for name, _ in jobs_of(queued)][:1] == ["drain_callbacks"]


def test_when_no_task_can_be_queued_the_callback_is_applied_in_the_request(
    client, api, invoice, queued, monkeypatch
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(background, "enqueue", broker_down)
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    assert post(client, invoice_event("PAID")).json()["state"] == "applied"
    assert DrainSchedule.objects.get().requested_at is None  # the next callback asks again


@pytest.mark.parametrize(
    "cache",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    ],
)
def test_no_cache_backend_strands_a_callback(
    client, api, invoice, queued, run_queued, settings, cache
):
    settings.CACHES = {"default": {"BACKEND": cache}}
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    for n in range(3):
        post(client, invoice_event("PAID", updatedAt=str(n)))
        run_queued(queued, due_only=True)
    assert set(CallbackEvent.objects.values_list("state", flat=True)) == {State.APPLIED}


# -- what a drain finds ------------------------------------------------------------------


# The provider's transaction ids are UUIDs: only such an id is asked about.
TX_ID = "7f1c2f9e-0d6b-4b8e-9a3e-5c1d2e3f4a5b"


def unplaced(tx_id=TX_ID, **data):
    body = json.dumps({"event": "InvoiceDeposit", "data": {"id": tx_id, **data}})
    return CallbackEvent.objects.create(
        account="default", verified=True, state=State.PENDING, body=body
    )


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 404, "json": {"message": "not found"}},
        {"json": {"data": {"id": TX_ID, "invoiceId": "not-a-uuid"}}},
        {"json": {"data": {"id": TX_ID}}},
        {"json": {"data": {"id": TX_ID, "invoiceId": "22222222-3333-4444-8555-666666666666"}}},
    ],
    ids=["not-found", "not-a-uuid", "no-invoice", "unknown-invoice"],
)
def test_an_event_the_transaction_api_cannot_place_is_ignored(api, invoice, answer):
    api.get(f"{API}/v1/transaction/{TX_ID}", **answer)
    event = unplaced()
    assert pipeline.drain().counts == {State.IGNORED: 1}
    event.refresh_from_db()
    assert (event.state, event.outcome) == (State.IGNORED, pipeline.OUTCOME_UNKNOWN)
    assert event.attempts == 1


def test_an_event_the_transaction_api_places_is_read_with_its_invoice(api, invoice):
    api.get(f"{API}/v1/transaction/{TX_ID}", json={"data": {"invoiceId": INVOICE_ID}})
    api.get(DETAIL, json={"data": invoice_payload("PAID", transactions=[{"id": TX_ID}])})
    event = unplaced()
    assert pipeline.drain().counts == {State.APPLIED: 1}
    event.refresh_from_db()
    assert (event.state, event.invoice) == (State.APPLIED, invoice)


def test_an_invoice_recorded_after_its_event_arrived_is_found_without_the_transaction_api(
    api, invoice
):
    event = unplaced(invoiceId=INVOICE_ID)
    api.get(DETAIL, json={"data": invoice_payload("PAID", transactions=[{"id": TX_ID}])})
    pipeline.drain()
    event.refresh_from_db()
    assert (event.state, event.invoice) == (State.APPLIED, invoice)
    assert [call.request.url for call in api.calls] == [DETAIL]


def test_an_invoice_event_or_one_without_id_is_never_looked_up_as_a_transaction(api, invoice):
    nameless = unplaced(tx_id="")
    about_another = CallbackEvent.objects.create(
        verified=True,
        state=State.PENDING,
        body=json.dumps({"event": "Invoice", "data": {"id": "x", "status": "PAID"}}),
    )
    assert pipeline.drain().counts == {State.IGNORED: 2}
    assert {e.state for e in (nameless, about_another) if not e.refresh_from_db()} == {
        State.IGNORED
    }
    assert len(api.calls) == 0


def test_a_transaction_lookup_that_fails_is_asked_again_after_the_backoff(
    api, invoice, clock, settings
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "RETRIES": 0}
    api.get(f"{API}/v1/transaction/{TX_ID}", status=503, json={"errors": []})
    event = unplaced()
    pipeline.drain()
    pipeline.drain()
    assert len(api.calls) == 1
    event.refresh_from_db()
    assert (event.state, event.attempts) == (State.PENDING, 1)
    clock.advance(2)
    pipeline.drain()
    assert len(api.calls) == 2


def test_a_drain_reads_each_waiting_invoice_once_and_leaves_backed_off_ones(
    client, api, invoice, clock
):
    api.get(DETAIL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    post(client, invoice_event("PAID"))  # read once in the request: backed off
    assert pipeline.drain().invoices_read == 0
    assert pipeline.drain(due_only=False).invoices_read == 1  # the commands: due or not
    assert len(api.calls) == 2


def test_an_invoice_whose_callbacks_break_does_not_stop_the_others(
    client, api, order, invoice, monkeypatch
):
    other = Invoice.objects.create(
        provider_id="22222222-3333-4444-8555-666666666666",
        order=order,
        status="expired",
        invoice_amount=1,
    )
    for provider_id in (INVOICE_ID, str(other.provider_id)):
        CallbackEvent.objects.create(
            verified=True,
            state=State.PENDING,
            invoice=Invoice.objects.get(provider_id=provider_id),
            body=json.dumps({"event": "Invoice", "data": {"id": provider_id, "status": "PAID"}}),
        )
    api.get(
        f"{API}/v1/invoice/{other.provider_id}",
        json={"data": invoice_payload("PAID", str(other.provider_id))},
    )
    real = pipeline.process_invoice

    def breaks_for_the_first(invoice, **kwargs):
        if invoice.pk == Invoice.objects.get(provider_id=INVOICE_ID).pk:
            raise RuntimeError("nobody foresaw this")
        return real(invoice, **kwargs)

    monkeypatch.setattr(pipeline, "process_invoice", breaks_for_the_first)
    assert pipeline.drain().counts == {State.APPLIED: 1}
    assert CallbackEvent.objects.get(invoice=other).state == State.APPLIED


# -- which client reads --------------------------------------------------------------------

OTHER_API = "https://other.kunapay.test"


@pytest.fixture
def asked(monkeypatch):
    """``(account, fast)`` of every client the pipeline asks for."""
    from django_invoices.services import reads

    from .conftest import spy_on_clients

    calls = spy_on_clients(monkeypatch, reads)
    monkeypatch.setattr(pipeline, "get_client", reads.get_client)
    return calls


def test_a_callback_read_in_the_request_uses_the_fast_client(client, api, invoice, asked):
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    post(client, invoice_event("PAID"))
    assert asked == [("default", True)]


def test_a_drain_reads_with_the_patient_client(client, api, invoice, queued, asked):
    post(client, invoice_event("PAID"))
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    pipeline.drain()
    assert asked == [("default", False)]


def test_an_invoice_and_a_transaction_are_read_with_their_accounts_client(
    api, invoice, settings, asked
):
    accounts = {"other": {"API_URL": OTHER_API, "API_KEY": "k2", "PRIVATE_KEY": "p2"}}
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "ACCOUNTS": accounts}
    Invoice.objects.filter(pk=invoice.pk).update(account="other")
    api.get(f"{OTHER_API}/v1/transaction/{TX_ID}", json={"data": {"invoiceId": INVOICE_ID}})
    api.get(
        f"{OTHER_API}/v1/invoice/{INVOICE_ID}",
        json={"data": invoice_payload("PAID", transactions=[{"id": TX_ID}])},
    )
    event = unplaced()
    CallbackEvent.objects.filter(pk=event.pk).update(account="other")
    assert pipeline.drain().counts == {State.APPLIED: 1}
    assert asked == [("other", False), ("other", False)]


def test_the_transaction_api_cannot_place_an_event_on_another_accounts_invoice(
    api, invoice, settings
):
    accounts = {"other": {"API_URL": OTHER_API, "API_KEY": "k2", "PRIVATE_KEY": "p2"}}
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "ACCOUNTS": accounts}
    Invoice.objects.filter(pk=invoice.pk).update(account="other")
    api.get(f"{API}/v1/transaction/{TX_ID}", json={"data": {"invoiceId": INVOICE_ID}})
    event = unplaced()
    assert pipeline.drain().counts == {State.IGNORED: 1}
    event.refresh_from_db()
    assert event.invoice_id is None
    assert Invoice.objects.get().status == "created"


def test_an_event_of_an_account_no_longer_configured_is_not_looked_up(api, invoice):
    event = unplaced()
    CallbackEvent.objects.filter(pk=event.pk).update(account="gone")
    assert pipeline.drain().counts == {State.IGNORED: 1}
    assert len(api.calls) == 0


# -- pending callbacks: oldest first, verified only, failed only on request ----------------
# Written for mutants that once survived a mutation run (docs/mutation.rst): the order
# pending events are taken in, the ``verified`` filter, failed events retried only on
# request, and the counting.


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


# Callbacks are hints: a KUNA Pay that agrees with what they report answers the reads.
@pytest.mark.usefixtures("echo_provider")
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


# -- invoices_process_callbacks: what it takes, what it says ------------------------------


def _command(*args):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("invoices_process_callbacks", *args, stdout=out)
    return out.getvalue()


def _about_no_invoice(*, received, state=CallbackEvent.State.PENDING, verified=True):
    """A stored event naming an invoice this shop does not have: ignored when acted on,
    with no read."""
    import uuid

    body = json.dumps({"event": "Invoice", "data": {"id": str(uuid.uuid4()), "status": "PAID"}})
    event = CallbackEvent.objects.create(
        account="default",
        body=body,
        dedupe_key=callbacks.parse(body.encode()).dedupe_key,
        verified=verified,
        state=state,
    )
    CallbackEvent.objects.filter(pk=event.pk).update(received_at=received)
    return event


def test_a_dry_run_lists_what_would_be_acted_on_and_acts_on_nothing(db, api):
    now = timezone.now()
    oldest = _about_no_invoice(received=now - timedelta(minutes=3))
    newer = _about_no_invoice(received=now - timedelta(minutes=2))
    failed = _about_no_invoice(received=now - timedelta(minutes=1), state=State.FAILED)
    _about_no_invoice(received=now - timedelta(minutes=4), verified=False)  # never
    _about_no_invoice(received=now - timedelta(minutes=5), state=State.APPLIED)  # done

    assert _command("--dry-run").splitlines() == [
        f"would act on callback event {oldest.pk}",
        f"would act on callback event {newer.pk}",
        "Dry run: 2 callback events to act on; nothing was done.",
    ]
    assert _command("--dry-run", "--limit", "1").splitlines() == [
        f"would act on callback event {oldest.pk}",
        "Dry run: 1 callback event to act on; nothing was done.",
    ]
    assert _command("--dry-run", "--include-failed").splitlines() == [
        f"would act on callback event {oldest.pk}",
        f"would act on callback event {newer.pk}",
        f"would act on callback event {failed.pk}",
        "Dry run: 3 callback events to act on; nothing was done.",
    ]
    assert sorted(CallbackEvent.objects.values_list("state", flat=True)) == sorted(
        [State.PENDING, State.PENDING, State.FAILED, State.PENDING, State.APPLIED]
    )


def test_events_received_at_the_same_moment_are_taken_in_the_order_they_were_stored(db, api):
    at = timezone.now() - timedelta(minutes=1)
    first = _about_no_invoice(received=at)
    second = _about_no_invoice(received=at, state=State.FAILED)
    assert _command("--dry-run", "--include-failed").splitlines()[:2] == [
        f"would act on callback event {first.pk}",
        f"would act on callback event {second.pk}",
    ]


def test_a_run_takes_at_most_500_events_unless_told_otherwise(db, api):
    body = json.dumps(invoice_event("PAID"))
    CallbackEvent.objects.bulk_create(
        CallbackEvent(account="default", body=body, verified=True, state=State.PENDING)
        for _ in range(501)
    )
    assert _command("--dry-run").splitlines()[-1] == (
        "Dry run: 500 callback events to act on; nothing was done."
    )


def test_the_limit_holds_for_a_run_too(db, api):
    now = timezone.now()
    for seconds in (2, 1):
        _about_no_invoice(received=now - timedelta(seconds=seconds))
    assert _command("--limit", "1") == (
        "Acted on 1 callback event: 1 ignored (names no invoice we know).\n"
    )
    assert _command() == "Acted on 1 callback event: 1 ignored (names no invoice we know).\n"
    assert _command() == "No pending callback events.\n"


@pytest.mark.usefixtures("echo_provider")
@override_settings(DJANGO_INVOICES=UNCONFIRMED)
def test_failed_events_are_acted_on_again_when_asked_authentic_ones_only(btc_invoice, api):
    now = timezone.now()
    failed = _stored("PAYMENT_AWAITING", received=now - timedelta(minutes=2), state=State.FAILED)
    # Both newer than the failed one: what a limit of one would take, were they looked at.
    forged = _stored(
        "PAID", received=now - timedelta(seconds=90), state=State.FAILED, verified=False
    )
    _about_no_invoice(received=now - timedelta(minutes=1), state=State.APPLIED)

    assert _command() == "No pending callback events.\n"
    assert _command("--include-failed", "--limit", "1") == (
        "Acted on 1 callback event: 1 applied (the invoice read from KUNA Pay).\n"
    )
    failed.refresh_from_db()
    forged.refresh_from_db()
    assert (failed.state, forged.state) == (State.APPLIED, State.FAILED)
    assert Invoice.objects.get().status == InvoiceStatus.AWAITING_PAYMENT


def test_the_command_says_what_became_of_the_events_in_full_sentences():
    from django_invoices.management.commands.invoices_process_callbacks import describe_counts

    pending = (
        "not applied yet, still pending (KUNA Pay could not be read or does not show the news yet)"
    )
    one_each = {
        State.FAILED: 1,
        State.PENDING: 1,
        State.IGNORED: 1,
        State.DUPLICATE: 1,
        State.APPLIED: 1,
    }
    assert describe_counts(one_each) == (
        "Acted on 5 callback events: 1 applied (the invoice read from KUNA Pay); "
        f"1 duplicate; 1 ignored (names no invoice we know); 1 {pending}; "
        "1 failed for good."
    )
    assert describe_counts(dict.fromkeys(one_each, 2)) == (
        "Acted on 10 callback events: 2 applied (the invoices read from KUNA Pay); "
        f"2 duplicates; 2 ignored (name no invoice we know); 2 {pending}; "
        "2 failed for good."
    )
    assert describe_counts({State.DUPLICATE: 1}) == "Acted on 1 callback event: 1 duplicate."


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_the_command_refuses_a_limit_below_one_in_so_many_words(db, limit):
    from django.core.management import CommandError

    with pytest.raises(CommandError) as refused:
        _command("--limit", limit)
    assert str(refused.value) == "--limit must be 1 or more."


def test_the_commands_options_say_what_they_do():
    from django.core.management import load_command_class

    command = load_command_class("django_invoices", "invoices_process_callbacks")
    parser = command.create_parser("manage.py", "invoices_process_callbacks")
    options = {a.dest: a.help for a in parser._actions if a.dest in OPTIONS}
    assert options == OPTIONS


OPTIONS = {
    "limit": "At most this many events.",
    "include_failed": "Also retry events whose last attempt failed for good.",
    "dry_run": "List the events, and act on none.",
}


# -- a read that brings no answer ----------------------------------------------------------


def _waiting_on(invoice, *, received, verified=True, state=State.PENDING, attempts=0):
    event = CallbackEvent.objects.create(
        account="default",
        invoice=invoice,
        verified=verified,
        state=state,
        attempts=attempts,
        body=json.dumps(invoice_event("PAID")),
    )
    CallbackEvent.objects.filter(pk=event.pk).update(received_at=received)
    return event


def _as_stored(event):
    event.refresh_from_db()
    return (event.state, event.outcome, event.attempts, event.processed_at)


@pytest.fixture
def no_retries(settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "RETRIES": 0}


def test_a_failed_read_counts_one_attempt_at_each_event_it_was_for_and_no_other(
    api, order, invoice, clock, no_retries
):
    other_order = order.__class__.objects.create(external_order_id="B-2", amount=1, asset="EUR")
    other = Invoice.objects.create(
        provider_id="22222222-3333-4444-8555-666666666666", order=other_order, invoice_amount=1
    )
    before = clock.now - timedelta(seconds=10)
    first, second = (_waiting_on(invoice, received=before) for _ in range(2))
    untouched = [
        _waiting_on(invoice, received=clock.now + timedelta(seconds=1)),  # after the read began
        _waiting_on(invoice, received=before, verified=False),
        _waiting_on(invoice, received=before, state=State.APPLIED, attempts=1),
        _waiting_on(other, received=before),
    ]
    was = [_as_stored(event) for event in untouched]
    api.get(DETAIL, status=503, body="")
    done = pipeline.process_invoice(fresh(invoice), fast=False)
    said = "will retry: HTTP 503: Service Unavailable"
    for event in (first, second):
        assert _as_stored(event) == (State.PENDING, said, 1, clock.now)
    assert done.states == {first.pk: State.PENDING, second.pk: State.PENDING}
    assert done.outcomes == {first.pk: said, second.pk: said}
    assert [_as_stored(event) for event in untouched] == was
    stored = fresh(invoice)
    assert (stored.callbacks_unconfirmed, stored.read_lease_until) == (1, None)
    assert stored.callbacks_read_after == clock.now + timedelta(seconds=2)


def test_a_failed_read_fails_an_event_on_its_last_attempt_and_says_so(
    api, invoice, clock, no_retries, listen
):
    settled = listen("callbacks_settled", kwargs=True)
    before = clock.now - timedelta(seconds=10)
    last = _waiting_on(invoice, received=before, attempts=11)
    one_more = _waiting_on(invoice, received=before, attempts=10)
    api.get(DETAIL, status=503, body="")
    done = pipeline.process_invoice(fresh(invoice), fast=False)
    said = "will retry: HTTP 503: Service Unavailable"
    assert _as_stored(last) == (State.FAILED, f"{said}; gave up", 12, clock.now)
    assert _as_stored(one_more) == (State.PENDING, said, 11, clock.now)
    assert done.states == {last.pk: State.FAILED, one_more.pk: State.PENDING}
    assert [sent["states"] for _, sent in settled] == [{last.pk: "failed"}]


def test_a_long_reason_is_kept_to_two_thousand_characters(invoice, clock):
    before = clock.now - timedelta(seconds=10)
    last = _waiting_on(invoice, received=before, attempts=11)
    waiting = _waiting_on(invoice, received=before)
    assert settle.record_failed_read(fresh(invoice), clock.now, "x" * 3000) == 1
    for event in (last, waiting):
        event.refresh_from_db()
        assert event.outcome == ("will retry: " + "x" * 3000)[:2000]


def test_a_read_that_cannot_be_stored_fails_its_events_and_keeps_the_schedule(
    api, invoice, clock, monkeypatch, listen
):
    settled = listen("callbacks_settled", kwargs=True)
    Invoice.objects.filter(pk=invoice.pk).update(callbacks_unconfirmed=3)

    def refuse(*args, **kwargs):
        raise DataError("value too long for type character varying(64)")

    monkeypatch.setattr(reads, "apply_data_locked", refuse)
    waiting = _waiting_on(invoice, received=clock.now - timedelta(seconds=10))
    later = _waiting_on(invoice, received=clock.now + timedelta(seconds=1))
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    done = pipeline.process_invoice(fresh(invoice), fast=False)
    said = "cannot store: value too long for type character varying(64)"
    assert _as_stored(waiting) == (State.FAILED, said, 1, clock.now)
    assert _as_stored(later)[:3] == (State.PENDING, "", 0)
    assert (done.states, done.outcomes) == ({waiting.pk: "failed"}, {waiting.pk: said})
    assert [sent["states"] for _, sent in settled] == [{waiting.pk: "failed"}]
    stored = fresh(invoice)
    assert (stored.read_lease_until, stored.callbacks_unconfirmed) == (None, 3)


# -- placing events by the transaction API, and staff's reapply ----------------------------


@pytest.fixture
def lazy_loads(monkeypatch):
    """Every column or related row the code loads after the fact (a deferred field, a
    foreign key not selected with its row): each costs one more query."""
    from django.db.models import Model
    from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor

    loads = []
    refresh, get_object = Model.refresh_from_db, ForwardManyToOneDescriptor.get_object

    def refresh_from_db(self, using=None, fields=None, **kwargs):
        if fields is not None:
            loads.append((type(self).__name__, *fields))
        return refresh(self, using=using, fields=fields, **kwargs)

    def lazy_related(self, instance):
        loads.append((type(instance).__name__, self.field.name))
        return get_object(self, instance)

    monkeypatch.setattr(Model, "refresh_from_db", refresh_from_db)
    monkeypatch.setattr(ForwardManyToOneDescriptor, "get_object", lazy_related)
    return loads


def test_a_callback_placed_by_the_transaction_api_in_the_request_is_read_fast_and_lean(
    client, api, invoice, asked, lazy_loads
):
    api.get(f"{API}/v1/transaction/{TX_ID}", json={"data": {"invoiceId": INVOICE_ID}})
    api.get(DETAIL, json={"data": invoice_payload("PAID", transactions=[{"id": TX_ID}])})
    body = {"event": "InvoiceDeposit", "data": {"id": TX_ID, "type": "InvoiceDeposit"}}
    assert post(client, body).json()["state"] == State.APPLIED
    assert asked == [("default", True), ("default", True)]
    assert lazy_loads == []


def test_an_unplaced_event_whose_stored_body_no_longer_parses_is_ignored(api, db):
    event = CallbackEvent.objects.create(
        account="default", verified=True, state=State.PENDING, body="{not json"
    )
    assert pipeline.drain().counts == {State.IGNORED: 1}
    event.refresh_from_db()
    assert (event.state, event.outcome, event.attempts) == (
        State.IGNORED,
        pipeline.OUTCOME_UNKNOWN,
        1,
    )


def test_a_transaction_lookup_gives_up_on_the_last_attempt_and_says_why(
    api, invoice, clock, no_retries
):
    other_tx = "8e2d3f0a-1c7b-4c9f-8b4f-6d2e3f4a5b6c"
    api.get(
        f"{API}/v1/transaction/{TX_ID}",
        status=503,
        json={"errors": [{"code": "DOWN", "message": "try later"}]},
    )
    api.get(
        f"{API}/v1/transaction/{other_tx}",
        status=503,
        json={"errors": [{"code": "DOWN", "message": "x" * 3000}]},
    )
    last, one_more = unplaced(), unplaced(other_tx)
    # Asked about before, by a version that wrote no time: due at once.
    CallbackEvent.objects.filter(pk=last.pk).update(attempts=11)
    CallbackEvent.objects.filter(pk=one_more.pk).update(attempts=10)
    assert pipeline.drain().counts == {State.FAILED: 1}
    assert _as_stored(last)[:3] == (
        State.FAILED,
        "will retry: HTTP 503: DOWN: try later; gave up",
        12,
    )
    assert _as_stored(one_more) == (
        State.PENDING,
        ("will retry: HTTP 503: DOWN: " + "x" * 3000)[:2000],
        11,
        clock.now,
    )


def test_placing_one_event_places_no_other(api, invoice):
    api.get(f"{API}/v1/transaction/{TX_ID}", json={"data": {"invoiceId": INVOICE_ID}})
    api.get(DETAIL, json={"data": invoice_payload("PAID", transactions=[{"id": TX_ID}])})
    unknown_tx = "8e2d3f0a-1c7b-4c9f-8b4f-6d2e3f4a5b6c"
    api.get(f"{API}/v1/transaction/{unknown_tx}", status=404, json={"errors": []})
    placed = unplaced()
    unknown = unplaced(unknown_tx)
    CallbackEvent.objects.filter(pk=placed.pk).update(
        received_at=timezone.now() - timedelta(seconds=5)
    )
    assert pipeline.drain().counts == {State.APPLIED: 1, State.IGNORED: 1}
    unknown.refresh_from_db()
    assert (unknown.invoice_id, unknown.state) == (None, State.IGNORED)


def test_an_event_placed_by_another_worker_during_the_lookup_stays_where_it_was_put(
    api, order, invoice
):
    other_order = order.__class__.objects.create(external_order_id="B-2", amount=1, asset="EUR")
    other = Invoice.objects.create(
        provider_id="22222222-3333-4444-8555-666666666666", order=other_order, invoice_amount=1
    )
    event = unplaced()

    def placed_meanwhile(request):
        CallbackEvent.objects.filter(pk=event.pk).update(invoice=other)
        return 200, {}, json.dumps({"data": {"id": TX_ID, "invoiceId": INVOICE_ID}})

    api.add_callback("GET", f"{API}/v1/transaction/{TX_ID}", callback=placed_meanwhile)
    assert pipeline.resolve(event, fast=False) == invoice
    assert event.invoice == invoice
    assert CallbackEvent.objects.get(pk=event.pk).invoice == other


def test_an_unplaced_event_never_processed_but_counted_is_due_at_once(api, invoice, clock):
    api.get(f"{API}/v1/transaction/{TX_ID}", status=404, json={"errors": []})
    event = unplaced()
    CallbackEvent.objects.filter(pk=event.pk).update(attempts=3, processed_at=None)
    assert pipeline.drain().counts == {State.IGNORED: 1}


def test_the_invoice_of_an_event_no_record_places_is_none(db):
    unknown = unplaced()
    garbled = CallbackEvent.objects.create(account="default", verified=True, body="{not json")
    assert pipeline.invoice_of_event(unknown) is None
    assert pipeline.invoice_of_event(garbled) is None


def test_reapplying_acts_on_the_chosen_authentic_retryable_events_only(api, invoice):
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    earlier = timezone.now() - timedelta(seconds=5)
    chosen = _waiting_on(invoice, received=earlier, state=State.FAILED)
    not_chosen = _waiting_on(invoice, received=earlier, state=State.FAILED)
    unverified = _waiting_on(invoice, received=earlier, state=State.FAILED, verified=False)
    ignored = unplaced()
    CallbackEvent.objects.filter(pk=ignored.pk).update(state=State.IGNORED, attempts=1)
    assert pipeline.reapply([chosen, unverified.pk, ignored]) == {State.APPLIED: 1}
    assert _as_stored(chosen)[0] == State.APPLIED
    assert _as_stored(not_chosen)[0] == State.FAILED
    assert _as_stored(unverified)[0] == State.FAILED
    assert _as_stored(ignored)[:3] == (State.IGNORED, "", 1)


def test_reapplying_reads_a_backed_off_invoice_at_once(api, invoice, clock):
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    Invoice.objects.filter(pk=invoice.pk).update(
        callbacks_unconfirmed=3, callbacks_read_after=clock.now + timedelta(seconds=8)
    )
    event = _waiting_on(invoice, received=clock.now - timedelta(seconds=5), state=State.FAILED)
    assert pipeline.reapply([event]) == {State.APPLIED: 1}
    assert len(api.calls) == 1


def test_reapplying_a_lookup_that_fails_again_counts_nothing(api, invoice, no_retries):
    api.get(f"{API}/v1/transaction/{TX_ID}", status=503, body="")
    event = unplaced()
    CallbackEvent.objects.filter(pk=event.pk).update(state=State.FAILED)
    assert pipeline.reapply([event]) == {}
    assert _as_stored(event)[:3] == (State.PENDING, "will retry: HTTP 503: Service Unavailable", 1)


def test_reapplying_reads_with_the_patient_client_unless_told_otherwise(
    api, invoice, asked, lazy_loads
):
    api.get(f"{API}/v1/transaction/{TX_ID}", json={"data": {"invoiceId": INVOICE_ID}})
    api.get(DETAIL, json={"data": invoice_payload("PAID", transactions=[{"id": TX_ID}])})
    first, second = unplaced(), unplaced()
    pipeline.reapply([first])
    assert asked == [("default", False), ("default", False)]
    asked.clear()
    CallbackEvent.objects.filter(pk=second.pk).update(state=State.FAILED)
    pipeline.reapply([second], fast=True)
    assert asked == [("default", True)]  # our records place it now: no lookup
    assert lazy_loads == []


def test_reapplying_when_the_read_fails_backs_the_invoice_off_without_another_query(
    api, invoice, no_retries, lazy_loads
):
    api.get(DETAIL, status=503, body="")
    event = _waiting_on(invoice, received=timezone.now(), state=State.FAILED)
    assert pipeline.reapply([event]) == {State.PENDING: 1}
    assert fresh(invoice).callbacks_unconfirmed == 1
    assert lazy_loads == []


def test_reapplying_looks_events_up_in_the_order_they_were_received(api, invoice):
    other_tx = "8e2d3f0a-1c7b-4c9f-8b4f-6d2e3f4a5b6c"
    for tx in (TX_ID, other_tx):
        api.get(f"{API}/v1/transaction/{tx}", status=404, json={"errors": []})
    stored_first, received_first = unplaced(), unplaced(other_tx)
    CallbackEvent.objects.filter(pk=received_first.pk).update(
        received_at=timezone.now() - timedelta(seconds=5)
    )
    assert pipeline.reapply([stored_first, received_first]) == {State.IGNORED: 2}
    assert [call.request.url for call in api.calls] == [
        f"{API}/v1/transaction/{other_tx}",
        f"{API}/v1/transaction/{TX_ID}",
    ]


# -- a refused callback has its invoice read (a recipe we do not know, a late payment) ----


def test_a_refused_callback_about_an_invoice_declined_lately_has_it_read(
    client, api, invoice, lazy_loads
):
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.DECLINED, expires_at=timezone.now() - timedelta(days=1)
    )
    api.get(DETAIL, json={"data": invoice_payload("DECLINED")})
    assert post(client, invoice_event("PAID"), signature="0" * 96).status_code == 401
    assert [call.request.url for call in api.calls] == [DETAIL]
    assert lazy_loads == []
