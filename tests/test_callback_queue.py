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
from django.test import override_settings
from django.utils import timezone

from django_invoices import background, callbacks, services
from django_invoices.models import CallbackEvent, DrainSchedule, Invoice
from django_invoices.services import pipeline, queue
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
