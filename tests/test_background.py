"""Work queued for a task system (TASKS): what the request does, what a task does.

The task system here is django-tasks' DummyBackend, which stores what is enqueued and
runs nothing: the tests run the stored tasks by hand, as a worker would. Real workers
(Celery on Redis, the database backend on PostgreSQL) are in tests/workers/.
"""

import re
from datetime import timedelta

import django
import pytest
import requests
from django.core.checks import run_checks
from django.utils import timezone

from django_invoices import background
from django_invoices.models import CallbackEvent, Invoice, Order
from django_invoices.statuses import InvoiceStatus, OrderStatus
from django_invoices.tasks import jobs
from django_invoices.tasks.framework import task_backends

from .callbacks_kit import deposit_event, invoice_event
from .conftest import API, INVOICE_ID, invoice_payload
from .settings import DJANGO_INVOICES

pytest.importorskip("django_tasks")

DETAIL = f"{API}/v1/invoice/{INVOICE_ID}"
# The system checks below run Django's model checks too, which on Django 6 ask the
# database what it supports.
pytestmark = pytest.mark.django_db
# Django 6 has the Tasks framework built in; on 5.2 it is the django-tasks package.
BACKENDS = "django.tasks.backends" if django.VERSION >= (6, 0) else "django_tasks.backends"
DUMMY = {"default": {"BACKEND": f"{BACKENDS}.dummy.DummyBackend"}}
QUEUED = {**DJANGO_INVOICES, "TASKS": "django.tasks", "TASKS_RETRY_BACKOFF": 5}


@pytest.fixture
def queued(settings):
    settings.TASKS = DUMMY
    settings.DJANGO_INVOICES = QUEUED
    backend = task_backends["default"]
    backend.results.clear()
    return backend.results


@pytest.fixture
def run_queued(django_capture_on_commit_callbacks):
    """``run_queued(results)``: run what was enqueued so far, oldest first, as a worker
    would, with what waits for the commit (signals, retries); returns the return
    values. Tasks enqueued meanwhile (retries) stay queued."""

    def run(results):
        taken = list(results)
        results.clear()
        returned = []
        for result in taken:
            with django_capture_on_commit_callbacks(execute=True):
                returned.append(result.task.call(*result.args, **result.kwargs))
        return returned

    return run


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """A context in which what waits for the commit runs at its end."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def paid_body(**extra):
    return invoice_payload("PAID", paymentAmount="0.001", paymentAssetCode="BTC", **extra)


# -- the callback view -----------------------------------------------------------------


def test_with_a_worker_the_callback_view_stores_queues_and_answers_without_the_provider(
    deliver, btc_invoice, api, queued, run_queued, sent
):
    # No response is registered: any request to the provider would fail the test.
    response = deliver(invoice_event("PAID"))

    assert response.status_code == 200
    assert response.json()["state"] == "pending"
    event = CallbackEvent.objects.get()
    assert event.state == CallbackEvent.State.PENDING and event.attempts == 0
    assert [(r.task.name, r.args) for r in queued] == [("process_callback_event", [event.pk])]
    assert len(api.calls) == 0 and sent == []

    api.get(DETAIL, json={"data": paid_body()})
    assert run_queued(queued) == ["applied"]
    btc_invoice.refresh_from_db()
    assert btc_invoice.status == InvoiceStatus.PAID
    assert btc_invoice.order.status == OrderStatus.PAID
    assert sent.count("invoice_paid") == 1


def test_with_a_worker_the_callback_is_stored_with_one_query_and_placed_by_the_task(
    deliver, btc_invoice, api, queued, run_queued, django_assert_num_queries
):
    """The acknowledgement looks nothing up: one INSERT (the invoice's "queued" mark
    is in the cache). The task finds the invoice the event names and places it there."""
    with django_assert_num_queries(1):
        deliver(invoice_event("PAID"))
    event = CallbackEvent.objects.get()
    assert event.invoice_id is None

    api.get(DETAIL, json={"data": paid_body()})
    run_queued(queued)
    event.refresh_from_db()
    assert (event.state, event.invoice_id) == (CallbackEvent.State.APPLIED, btc_invoice.pk)


def test_a_task_places_the_events_it_gathered_on_their_invoice(db, btc_invoice, deliver, queued):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_invoices import services

    for tx_id in ("tx-1", "tx-2"):
        deliver(deposit_event(tx_id, invoiceId=INVOICE_ID))
    first, second = CallbackEvent.objects.order_by("pk")

    with CaptureQueriesContext(connection) as queries:
        gathered = services.pending_events_with(first)
    assert gathered == [first, second]
    # Placing needs the invoice's key only: its order is not read.
    assert not any("django_invoices_order" in q["sql"] for q in queries.captured_queries)
    assert [e.invoice_id for e in gathered] == [btc_invoice.pk] * 2
    assert set(CallbackEvent.objects.values_list("invoice", flat=True)) == {btc_invoice.pk}


def test_a_task_finds_the_events_about_its_invoice_by_subject_not_by_their_bodies(
    db, btc_invoice, deliver, queued
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_invoices import services

    deliver(invoice_event("PAID"))
    deliver(deposit_event("tx-1", invoiceId=INVOICE_ID.upper()))
    first, second = CallbackEvent.objects.order_by("pk")
    assert first.subject == second.subject == INVOICE_ID

    with CaptureQueriesContext(connection) as queries:
        assert services.pending_events_with(first) == [first, second]
    # An index answers it, whatever the backlog: no text search through bodies.
    assert not any("LIKE" in query["sql"].upper() for query in queries.captured_queries)


def test_the_queued_mark_is_one_per_account_and_a_key_memcached_takes():
    from django.core.cache.backends.base import memcache_key_warnings

    from django_invoices.services.dispatch import queued_mark

    def mark(account="default", subject=INVOICE_ID, verified=True):
        return queued_mark(CallbackEvent(account=account, subject=subject, verified=verified))

    assert mark() == "django_invoices:queued:37a8eec1ce19687d132fe29051dca629"
    assert mark() == mark(subject="order with spaces\tand:colons")
    assert mark() != mark(account="eu")
    assert list(memcache_key_warnings(mark(account="an account\twith:odd chars"))) == []
    assert mark(subject="") == mark(verified=False) == ""


def test_the_mark_names_the_event_whose_task_is_queued_and_expires_in_a_minute(
    db, btc_invoice, deliver, queued, monkeypatch
):
    from django.core.cache import cache

    from django_invoices.services.dispatch import QUEUED_MARK_SECONDS, queued_mark

    added = []
    original = cache.add

    def add(key, value, timeout, **kwargs):
        added.append((key, value, timeout))
        return original(key, value, timeout, **kwargs)

    monkeypatch.setattr(cache, "add", add)
    deliver(invoice_event("PAID"))
    event = CallbackEvent.objects.get()
    assert QUEUED_MARK_SECONDS == 60
    assert added == [(queued_mark(event), event.pk, 60)]
    assert cache.get(queued_mark(event)) == event.pk


def test_a_task_gathers_only_pending_authentic_events_of_its_account(db, btc_invoice, queued):
    from django_invoices import services

    def stored(**fields):
        values = {"verified": True, "subject": INVOICE_ID, "state": CallbackEvent.State.PENDING}
        return CallbackEvent.objects.create(invoice=btc_invoice, **{**values, **fields})

    event = stored()
    later = stored()
    stored(account="eu")
    stored(verified=False)
    stored(state=CallbackEvent.State.APPLIED)
    stored(subject="A-1")
    assert services.pending_events_with(event) == [event, later]

    # A callback that names nothing gathers nothing, not the others that name nothing.
    nameless = stored(subject="")
    stored(subject="")
    assert services.pending_events_with(nameless) == [nameless]


def test_a_task_takes_only_the_waiting_authentic_callbacks_of_its_account_oldest_first(
    db, btc_invoice, queued
):
    from django_invoices import services

    def stored(subject, **fields):
        values = {"verified": True, "state": CallbackEvent.State.PENDING}
        return CallbackEvent.objects.create(subject=subject, **{**values, **fields})

    event = stored(INVOICE_ID)
    newer, older = stored("B-2"), stored("B-1")  # stored in this order, received reversed
    CallbackEvent.objects.filter(pk=newer.pk).update(received_at=timezone.now())
    CallbackEvent.objects.filter(pk=older.pk).update(
        received_at=timezone.now() - timedelta(minutes=1)
    )
    untouched = [
        stored("C-1", account="eu"),
        stored("C-2", verified=False),
        stored("C-3", state=CallbackEvent.State.APPLIED),
        stored("C-4", taken_by=1),
        stored(""),
    ]

    assert services.hand_on_waiting(event) == 2
    # One task per other subject, the oldest callback's first.
    assert [r.args for r in queued] == [[[older.pk]], [[newer.pk]]]
    taken = dict(CallbackEvent.objects.values_list("pk", "taken_by"))
    assert [taken[e.pk] for e in (event, newer, older)] == [event.pk] * 3
    assert [taken[e.pk] for e in untouched] == [None, None, None, 1, None]


def test_without_a_task_system_a_callback_marks_and_queues_nothing(
    deliver, btc_invoice, api, caplog
):
    from django.core.cache import cache

    from django_invoices.services.dispatch import queued_mark

    api.get(DETAIL, json={"data": paid_body()})
    deliver(invoice_event("PAID"))
    assert cache.get(queued_mark(CallbackEvent.objects.get())) is None
    assert [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")] == []


def test_burst_of_callbacks_about_one_invoice_reads_the_api_once(
    deliver, btc_invoice, api, queued, run_queued, sent
):
    """Ten callbacks about one invoice arrive before the worker gets to them: one task,
    one read of the API, one payment, one signal."""
    bodies = [invoice_event("PAID", updatedAt=f"2026-11-25T10:00:0{i}.000Z") for i in range(5)]
    bodies += [invoice_event("PAID")] * 3
    bodies += [deposit_event("tx-1", amount="0.001"), invoice_event("PAYMENT_AWAITING")]
    # The same invoice id spelled in capitals is the same invoice.
    bodies[4]["data"]["id"] = INVOICE_ID.upper()
    for body in bodies:
        assert deliver(body).status_code == 200
    assert len(api.calls) == 0
    assert CallbackEvent.objects.count() == len(bodies) == 10
    first = CallbackEvent.objects.order_by("pk").first()
    assert [(r.task.name, r.args) for r in queued] == [("process_callback_event", [first.pk])]

    # The read lists the deposit the callbacks told of: nothing is left to ask again.
    deposit = {**deposit_event("tx-1", amount="0.001")["data"], "type": "Deposit"}
    api.get(DETAIL, json={"data": paid_body(transactions=[deposit])})
    run_queued(queued)

    assert len(api.calls) == 1
    assert queued == []  # nothing left to retry
    assert not CallbackEvent.objects.filter(state=CallbackEvent.State.PENDING).exists()
    btc_invoice.refresh_from_db()
    assert btc_invoice.status == InvoiceStatus.PAID
    assert btc_invoice.deposits.count() == 1
    assert sent.count("invoice_paid") == 1 and sent.count("order_paid") == 1


def test_callbacks_that_overtook_their_invoice_join_the_first_ones_task(db, deliver, queued):
    """Deposit callbacks that arrive before their invoice is recorded are placed on no
    invoice of ours; the first one's task still takes the others about the same
    invoice along (found by the invoice id in their bodies), and queues one task for
    the other invoice."""
    from django_invoices import services

    other = "0f0e0d0c-0b0a-4909-8807-060504030201"
    for tx_id, invoice_id in (("tx-1", INVOICE_ID), ("tx-2", INVOICE_ID.upper()), ("tx-3", other)):
        assert deliver(deposit_event(tx_id, invoiceId=invoice_id)).status_code == 200
    first, second, elsewhere = CallbackEvent.objects.order_by("pk")
    assert [first.invoice_id, second.invoice_id, elsewhere.invoice_id] == [None, None, None]
    # One task: the others joined it.
    assert [r.args for r in queued] == [[first.pk]]

    assert services.hand_on_waiting(first) == 1
    assert [(r.task.name, r.args) for r in queued] == [
        ("process_callback_event", [first.pk]),
        ("process_callback_events", [[elsewhere.pk]]),
    ]
    assert services.pending_events_with(first) == [first, second]


def test_a_callback_stored_once_the_task_started_queues_a_task_of_its_own(
    deliver, btc_invoice, api, queued, run_queued, monkeypatch
):
    from django_invoices import services

    api.get(DETAIL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    deliver(invoice_event("PAYMENT_AWAITING"))
    original = services.process_callback_events

    def another_arrives_meanwhile(events):
        deliver(invoice_event("CONFIRMING"))  # after the task looked for pending events
        return original(events)

    monkeypatch.setattr(services, "process_callback_events", another_arrives_meanwhile)
    run_queued(queued)
    monkeypatch.undo()

    second = CallbackEvent.objects.get(provider_status="CONFIRMING")
    # Queued on its own; the read that started after it arrived covered it already.
    assert [r.args for r in queued] == [[second.pk]]
    assert second.state == CallbackEvent.State.APPLIED
    assert second.outcome.startswith("covered by the read for event")
    reads = len(api.calls)
    run_queued(queued)
    assert len(api.calls) == reads  # its task finds nothing left to read
    second.refresh_from_db()
    assert second.state == CallbackEvent.State.APPLIED


OTHER_ID = "11111111-2222-4333-8444-555555555555"
THIRD_ID = "66666666-7777-4888-9999-aaaaaaaaaaaa"


def other_invoice(order_id="A-2", provider_id=OTHER_ID):
    other_order = Order.objects.create(external_order_id=order_id, amount="1", asset="EUR")
    return Invoice.objects.create(
        provider_id=provider_id, order=other_order, invoice_amount="1", invoice_asset="EUR"
    )


def test_callbacks_about_other_invoices_ride_with_the_queued_task_which_queues_one_each(
    deliver, btc_invoice, api, queued, run_queued, sent
):
    """While a task is queued, callbacks about other invoices send nothing to the
    broker; the task, once started, queues one task per other invoice, and each
    invoice is read once."""
    other_invoice()
    third = other_invoice("A-3", THIRD_ID)
    deliver(invoice_event("PAID"))
    for status in ("CONFIRMING", "PAID"):
        deliver(invoice_event(status, id=OTHER_ID))
    deliver(invoice_event("PAID", id=str(third.provider_id)))
    first, *about_other, about_third = CallbackEvent.objects.order_by("pk")
    assert [r.args for r in queued] == [[first.pk]]

    api.get(DETAIL, json={"data": paid_body()})
    for invoice_id in (OTHER_ID, THIRD_ID):
        other = invoice_payload("PAID", id=invoice_id, invoiceAmount="1", invoiceAssetCode="EUR")
        api.get(f"{API}/v1/invoice/{invoice_id}", json={"data": other})
    run_queued(queued)
    # The first task queued one per other invoice, with that invoice's callbacks.
    assert [(r.task.name, r.args) for r in queued] == [
        ("process_callback_events", [[e.pk for e in about_other]]),
        ("process_callback_events", [[about_third.pk]]),
    ]
    run_queued(queued)

    assert queued == []
    assert [call.request.url for call in api.calls] == [
        DETAIL,
        f"{API}/v1/invoice/{OTHER_ID}",
        f"{API}/v1/invoice/{THIRD_ID}",
    ]
    assert set(CallbackEvent.objects.values_list("state", flat=True)) == {"applied"}
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.PAID}
    assert sent.count("invoice_paid") == 3


def test_each_waiting_callback_is_taken_by_one_task(db, btc_invoice, deliver, queued):
    from django_invoices import services

    other_invoice()
    for payload in (invoice_event("PAID"), invoice_event("PAID", id=OTHER_ID)):
        deliver(payload)
    first, second = CallbackEvent.objects.order_by("pk")

    assert services.hand_on_waiting(first) == 1
    assert services.hand_on_waiting(second) == 0  # a second task finds nothing waiting
    assert set(CallbackEvent.objects.values_list("taken_by", flat=True)) == {first.pk}
    assert [r.args for r in queued][1:] == [[[second.pk]]]


def test_a_task_retried_queues_nothing_it_queued_before(
    deliver, btc_invoice, api, queued, run_queued
):
    """The provider is down: the first task and the one it queued are retried; the
    retry takes only what arrived since, so tasks never multiply."""
    other_invoice()
    deliver(invoice_event("PAID"))
    deliver(invoice_event("PAID", id=OTHER_ID))
    down = {"status": 503, "json": {"errors": [{"code": "down", "message": "down"}]}}
    api.get(DETAIL, **down)
    api.get(f"{API}/v1/invoice/{OTHER_ID}", **down)

    run_queued(queued)  # the first task: retried, and it queued the other invoice's
    assert sorted(r.task.name for r in queued) == [
        "process_callback_event",
        "process_callback_events",
    ]
    run_queued(queued)  # both fail again and are queued again, nothing more
    assert sorted(r.task.name for r in queued) == [
        "process_callback_event",
        "process_callback_events",
    ]
    assert CallbackEvent.objects.filter(state=CallbackEvent.State.PENDING).count() == 2


def test_callbacks_whose_task_cannot_be_queued_wait_for_the_next_task(
    db, btc_invoice, deliver, queued, monkeypatch
):
    from django_invoices import services
    from django_invoices.tasks import with_django

    other_invoice()
    deliver(invoice_event("PAID"))
    deliver(invoice_event("PAID", id=OTHER_ID))
    first, second = CallbackEvent.objects.order_by("pk")

    def broker_down(job, args):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(with_django, "send", broker_down)
    assert services.hand_on_waiting(first) == 0
    second.refresh_from_db()
    assert second.taken_by is None and second.state == CallbackEvent.State.PENDING
    monkeypatch.undo()
    assert services.hand_on_waiting(first) == 1  # the next task takes it
    assert [r.args for r in queued][-1] == [[second.pk]]


def test_the_migration_leaves_events_waiting_then_to_the_tasks_they_had(db):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("django_invoices.migrations.0006_callbackevent_taken_by")
    pending = CallbackEvent.objects.create(verified=True, state=CallbackEvent.State.PENDING)
    applied = CallbackEvent.objects.create(verified=True, state=CallbackEvent.State.APPLIED)

    migration.leave_waiting_events_to_their_tasks(apps, None)

    taken = dict(CallbackEvent.objects.values_list("pk", "taken_by"))
    assert taken == {pending.pk: pending.pk, applied.pk: None}


def test_when_the_cache_fails_every_callback_queues_its_task(
    deliver, btc_invoice, queued, monkeypatch
):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "add", down)
    deliver(invoice_event("PAYMENT_AWAITING"))
    deliver(invoice_event("CONFIRMING"))
    assert len(queued) == 2


def test_without_a_task_system_the_callback_is_applied_in_the_request(
    deliver, btc_invoice, api, sent
):
    api.get(DETAIL, json={"data": paid_body()})
    response = deliver(invoice_event("PAID"))
    assert response.json()["state"] == "applied"
    assert len(api.calls) == 1 and sent.count("invoice_paid") == 1


def test_when_the_task_cannot_be_queued_the_callback_is_applied_in_the_request(
    deliver, btc_invoice, api, queued, monkeypatch, sent
):
    def broker_down(job, args):
        raise ConnectionError("broker unreachable")

    from django_invoices.tasks import with_django

    monkeypatch.setattr(with_django, "send", broker_down)
    api.get(DETAIL, json={"data": paid_body()})
    response = deliver(invoice_event("PAID"))
    assert response.status_code == 200
    assert response.json()["state"] == "applied"
    assert sent.count("invoice_paid") == 1 and queued == []
    # No mark is left behind to hold up the next callback, about another invoice.
    other_invoice()
    other = invoice_payload("PAID", id=OTHER_ID, invoiceAmount="1", invoiceAssetCode="EUR")
    api.get(f"{API}/v1/invoice/{OTHER_ID}", json={"data": other})
    assert deliver(invoice_event("PAID", id=OTHER_ID)).json()["state"] == "applied"


def test_a_refused_callback_is_not_queued(deliver, btc_invoice, queued):
    response = deliver(invoice_event("PAID"), key="wrong-key")
    assert response.status_code == 401
    assert queued == []


# -- retries ---------------------------------------------------------------------------


def test_a_provider_outage_requeues_the_task_later_with_the_attempt_counted(
    deliver, btc_invoice, api, queued, run_queued, sent
):
    deliver(invoice_event("PAID"))
    api.get(DETAIL, status=503, json={"errors": [{"code": "down", "message": "down"}]})
    before = timezone.now()

    assert run_queued(queued) == [{"retry": 1}]

    event = CallbackEvent.objects.get()
    assert event.state == CallbackEvent.State.PENDING
    [again] = queued
    assert again.task.name == "process_callback_event"
    assert again.args == [event.pk] and again.kwargs == {"attempt": 1}
    assert again.task.run_after >= before + timedelta(seconds=5)

    api.replace("GET", DETAIL, json={"data": paid_body()})
    run_queued(queued)
    event.refresh_from_db()
    assert event.state == CallbackEvent.State.APPLIED
    assert sent.count("invoice_paid") == 1


def test_a_task_that_ran_out_of_retries_leaves_the_event_pending_for_the_sweep(
    deliver, btc_invoice, api, queued, run_queued, settings
):
    settings.DJANGO_INVOICES = {**QUEUED, "TASKS_MAX_RETRIES": 0}
    deliver(invoice_event("PAID"))
    api.get(DETAIL, body=requests.ConnectTimeout("slow"))
    [outcome] = run_queued(queued)
    assert "gave_up" in outcome and queued == []
    assert CallbackEvent.objects.get().state == CallbackEvent.State.PENDING


def test_running_a_callback_task_twice_applies_it_once(
    deliver, btc_invoice, api, queued, run_queued, sent
):
    deliver(invoice_event("PAID"))
    api.get(DETAIL, json={"data": paid_body()})
    [task] = list(queued)
    run_queued(queued)
    assert task.task.call(*task.args, **task.kwargs) == "applied"
    assert len(api.calls) == 1 and sent.count("invoice_paid") == 1


def test_a_task_for_a_deleted_event_does_nothing(db, queued):
    assert jobs.process_callback_event(123456) == "gone"


# -- chunks ----------------------------------------------------------------------------


def test_enqueue_chunks_cuts_the_ids_in_order(db, queued, settings, committed):
    settings.DJANGO_INVOICES = {**QUEUED, "TASKS_CHUNK_SIZE": 4}
    with committed():
        assert background.enqueue_chunks("refresh_invoices", range(1, 11)) == 3
    assert [r.args for r in queued] == [[[1, 2, 3, 4]], [[5, 6, 7, 8]], [[9, 10]]]


def test_enqueue_inside_a_transaction_waits_for_the_commit(
    db, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        background.enqueue("refresh_invoices", [1])
        assert queued == []
    assert len(callbacks) == 1
    assert [r.args for r in queued] == [[[1]]]


def test_refresh_task_retries_only_the_invoices_that_failed(db, api, queued):
    ok = make_invoice("A-1")
    down = make_invoice("A-2")
    api.get(f"{API}/v1/invoice/{ok.provider_id}", json={"data": _payload(ok, "PAID")})
    api.get(f"{API}/v1/invoice/{down.provider_id}", status=502)

    with pytest.raises(jobs.RetryLater) as raised:
        jobs.refresh_invoices([ok.pk, down.pk])

    assert raised.value.retry_args == [[down.pk]]
    ok.refresh_from_db()
    assert ok.status == InvoiceStatus.PAID


def test_admin_queues_a_large_selection_and_says_where_to_watch(
    admin_client, db, queued, settings, committed
):
    settings.DJANGO_INVOICES = {
        **QUEUED,
        "TASKS_ADMIN_THRESHOLD": 2,
        "TASKS_CHUNK_SIZE": 2,
        "TASKS_MONITOR_URL": "/flower/",
    }
    invoices = [make_invoice(f"A-{i}") for i in range(5)]
    with committed():
        response = admin_client.post(
            "/admin/django_invoices/invoice/",
            {"action": "refresh_invoices", "_selected_action": [i.pk for i in invoices]},
            follow=True,
        )
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        "Queued 5 invoices for a refresh from KUNA Pay in 3 tasks. Watch the workers at /flower/."
    ]
    assert [r.task.name for r in queued] == ["refresh_invoices"] * 3
    assert sorted(pk for r in queued for pk in r.args[0]) == sorted(i.pk for i in invoices)


def test_admin_runs_a_small_selection_at_once(admin_client, api, queued, settings):
    settings.DJANGO_INVOICES = {**QUEUED, "TASKS_ADMIN_THRESHOLD": 2}
    invoice = make_invoice("A-1")
    api.get(f"{API}/v1/invoice/{invoice.provider_id}", json={"data": _payload(invoice, "PAID")})
    response = admin_client.post(
        "/admin/django_invoices/invoice/",
        {"action": "refresh_invoices", "_selected_action": [invoice.pk]},
        follow=True,
    )
    assert queued == []
    assert "Refreshed 1 invoice" in str(next(iter(response.context["messages"])))


def test_admin_queues_pending_events_to_be_applied_again(
    admin_client, deliver, btc_invoice, queued, settings, committed
):
    settings.DJANGO_INVOICES = {**QUEUED, "TASKS_ADMIN_THRESHOLD": 1}
    for status in ("PAYMENT_AWAITING", "PAID"):
        deliver(invoice_event(status))
    queued.clear()
    events = list(CallbackEvent.objects.all())
    with committed():
        response = admin_client.post(
            "/admin/django_invoices/callbackevent/",
            {"action": "reapply_callbacks", "_selected_action": [e.pk for e in events]},
            follow=True,
        )
    assert "Queued 2 callback events" in str(next(iter(response.context["messages"])))
    assert [r.task.name for r in queued] == ["process_callback_events"]


def make_invoice(ref):
    import uuid
    from decimal import Decimal

    order = Order.objects.create(external_order_id=ref, amount=Decimal("10"), asset="EUR")
    return Invoice.objects.create(
        provider_id=uuid.uuid4(), order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )


def _payload(invoice, status):
    return invoice_payload(
        status,
        invoice_id=str(invoice.provider_id),
        externalOrderId=invoice.order.external_order_id,
        invoiceAmount="10",
    )


# -- system checks ---------------------------------------------------------------------


def check_ids(settings, **invoices):
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, **invoices}
    return [m.id for m in run_checks() if m.id in OURS]


OURS = {f"django_invoices.{n}" for n in ("E008", "E010", "E011", "E012", "W003", "W004")}


@pytest.mark.parametrize("value", ["rq", "Celery", "django_tasks", 1])
def test_check_refuses_an_unknown_task_system(settings, value):
    assert check_ids(settings, TASKS=value) == ["django_invoices.E011"]


def test_check_needs_celery_installed_for_celery(settings, monkeypatch):
    from django_invoices import checks

    monkeypatch.setattr(checks, "_importable", lambda module: module != "celery")
    assert check_ids(settings, TASKS="celery") == ["django_invoices.E011"]
    monkeypatch.setattr(checks, "_importable", lambda module: True)
    assert check_ids(settings, TASKS="celery") == []


def test_check_needs_the_tasks_framework_for_django_tasks(settings, monkeypatch):
    from django_invoices.tasks import framework

    monkeypatch.setattr(framework, "task_backends", None)
    assert check_ids(settings, TASKS="django.tasks") == ["django_invoices.E011"]


def test_check_needs_the_tasks_backend_to_exist(settings):
    settings.TASKS = DUMMY
    assert check_ids(settings, TASKS="django.tasks", TASKS_BACKEND="jobs") == [
        "django_invoices.E012"
    ]
    assert check_ids(settings, TASKS="django.tasks") == []


def test_check_warns_that_the_immediate_backend_runs_in_the_request(settings):
    settings.TASKS = {"default": {"BACKEND": f"{BACKENDS}.immediate.ImmediateBackend"}}
    assert check_ids(settings, TASKS="django.tasks") == ["django_invoices.W004"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TASKS_CHUNK_SIZE", 0),
        ("TASKS_ADMIN_THRESHOLD", -1),
        ("TASKS_MAX_RETRIES", "3"),
        ("TASKS_RETRY_BACKOFF", None),
        ("TASKS_RETRY_BACKOFF_MAX", -5),
    ],
)
def test_check_refuses_task_numbers_out_of_range(settings, key, value):
    assert check_ids(settings, **{key: value}) == ["django_invoices.E008"]


def test_retry_delay_doubles_up_to_the_cap(settings):
    settings.DJANGO_INVOICES = {
        **DJANGO_INVOICES,
        "TASKS_RETRY_BACKOFF": 5,
        "TASKS_RETRY_BACKOFF_MAX": 30,
    }
    assert [background.retry_delay(n) for n in range(5)] == [5, 10, 20, 30, 30]


def test_queue_named_by_setting(db, queued, settings, committed):
    settings.TASKS = {
        "default": {"BACKEND": f"{BACKENDS}.dummy.DummyBackend", "QUEUES": ["payments"]}
    }
    settings.DJANGO_INVOICES = {**QUEUED, "TASKS_QUEUE": "payments"}
    backend = task_backends["default"]
    with committed():
        background.enqueue("process_pending_callbacks")
    assert [r.task.queue_name for r in backend.results] == ["payments"]


def test_detail_pattern_matches_the_invoice_url():
    # Guards the stub URL the tests above register against a change of the client.
    assert re.fullmatch(rf"{re.escape(API)}/v1/invoice/[0-9a-f-]{{36}}", DETAIL)


def test_the_sync_command_queues_chunks_when_a_task_system_is_set(db, queued, settings, committed):
    from io import StringIO

    from django.core.management import call_command

    settings.DJANGO_INVOICES = {**QUEUED, "TASKS_CHUNK_SIZE": 2}
    invoices = [make_invoice(f"A-{i}") for i in range(3)]
    Invoice.objects.update(created_at=timezone.now() - timedelta(hours=1))
    out = StringIO()
    with committed():
        call_command("invoices_sync", stdout=out)
    assert out.getvalue().strip() == "Queued 3 invoices, 0 orders and 0 callback events in 2 tasks."
    assert {r.task.name for r in queued} == {"sync_invoices"}
    assert sorted(pk for r in queued for pk in r.args[0]) == sorted(i.pk for i in invoices)


def test_a_queued_sync_chunk_reads_each_invoice_and_retries_what_failed(
    db, api, queued, run_queued, settings
):
    settings.DJANGO_INVOICES = {**QUEUED, "RETRIES": 0}
    readable, failing = make_invoice("S-1"), make_invoice("S-2")
    api.get(
        f"{API}/v1/invoice/{readable.provider_id}",
        json={"data": {**_payload(readable, "PAID"), "transactions": []}},
    )
    api.get(f"{API}/v1/invoice/{failing.provider_id}", status=503)
    background.enqueue("sync_invoices", [readable.pk, failing.pk], at_once=True)
    assert run_queued(queued) == [{"retry": 1}]
    readable.refresh_from_db()
    assert readable.status == InvoiceStatus.PAID
    # Only what could not be read goes round again.
    assert [(r.task.name, r.args) for r in queued] == [("sync_invoices", [[failing.pk]])]


def test_a_database_error_requeues_the_task(db, queued, run_queued, monkeypatch):
    from django.db import OperationalError

    def database_down(event_id):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setitem(jobs.JOBS, "process_callback_event", database_down)
    background.enqueue("process_callback_event", 7, at_once=True)
    assert run_queued(queued) == [{"retry": 1}]
    assert [(r.args, r.kwargs) for r in queued] == [([7], {"attempt": 1})]


# -- Celery's tasks, without a broker ----------------------------------------------------


@pytest.fixture
def with_celery():
    pytest.importorskip("celery")
    from django_invoices.tasks import with_celery

    return with_celery


def test_celery_tasks_are_acknowledged_late_and_redelivered_when_their_worker_dies(with_celery):
    for job, task in with_celery.TASKS.items():
        assert task.name == f"django_invoices.{job}"
        assert task.acks_late is True and task.reject_on_worker_lost is True
    assert set(with_celery.TASKS) == set(jobs.JOBS)


@pytest.mark.parametrize(("queue", "routed"), [("", {}), ("payments", {"queue": "payments"})])
def test_celery_messages_name_their_ids_and_the_queue_if_set(
    with_celery, settings, monkeypatch, queue, routed
):
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "TASKS_QUEUE": queue}
    sent = []
    task = with_celery.TASKS["refresh_invoices"]
    monkeypatch.setattr(task, "apply_async", lambda **options: sent.append(options))
    with_celery.send("refresh_invoices", [[7, 8]])
    assert sent == [{"args": [[7, 8]], "argsrepr": "[[7, 8]]", "kwargsrepr": "{}", **routed}]


class FakeCeleryTask:
    name = "django_invoices.refresh_invoices"

    def __init__(self, retries):
        self.request = type("Request", (), {"retries": retries})()
        self.retried = None

    def retry(self, **kwargs):
        self.retried = kwargs
        return RuntimeError("retry")


def test_celery_retry_narrows_to_what_failed_and_backs_off(with_celery, settings, monkeypatch):
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "TASKS_RETRY_BACKOFF": 5}

    def fails(ids):
        raise jobs.RetryLater("two failed", [[3, 4]])

    monkeypatch.setitem(jobs.JOBS, "refresh_invoices", fails)
    task = FakeCeleryTask(retries=2)
    with pytest.raises(RuntimeError):
        with_celery.run(task, "refresh_invoices", ([1, 2, 3, 4],))
    assert task.retried["args"] == [[3, 4]]
    assert task.retried["countdown"] == 20


def test_celery_gives_up_after_the_last_retry(with_celery, settings, monkeypatch):
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "TASKS_MAX_RETRIES": 2}
    monkeypatch.setitem(
        jobs.JOBS, "refresh_invoices", lambda ids: (_ for _ in ()).throw(jobs.RetryLater("x"))
    )
    task = FakeCeleryTask(retries=2)
    assert with_celery.run(task, "refresh_invoices", ([1],)) == {"gave_up": "x"}
    assert task.retried is None
