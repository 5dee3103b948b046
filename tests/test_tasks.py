"""Work queued for a task system (TASKS): what each job does, how each task system is
asked to run it, retries, the admin's and the sweep's queued work, the system checks.

The task system here is django-tasks' DummyBackend, which stores what is enqueued and
runs nothing: the tests run the stored tasks by hand, as a worker would (``queued`` and
``run_queued`` in ``conftest.py``). How callbacks wake workers and what a drain finds
is in ``test_callback_queue.py``; real workers (Celery on Redis, the database backend on
PostgreSQL) in ``tests/workers/``.
"""

import re
from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.utils import timezone

from django_invoices import background
from django_invoices.models import CallbackEvent, Invoice, Order
from django_invoices.statuses import InvoiceStatus, OrderStatus
from django_invoices.tasks import jobs
from django_invoices.tasks.framework import task_backends

from .callbacks_kit import invoice_event
from .conftest import API, DUMMY_TASKS, INVOICE_ID, TASKS_BACKENDS, invoice_payload
from .settings import DJANGO_INVOICES

pytest.importorskip("django_tasks")

DETAIL = f"{API}/v1/invoice/{INVOICE_ID}"
# The system checks below run Django's model checks too, which on Django 6 ask the
# database what it supports.
pytestmark = pytest.mark.django_db
QUEUED = {**DJANGO_INVOICES, "TASKS": "django.tasks", "TASKS_RETRY_BACKOFF": 5}
DUMMY = DUMMY_TASKS
BACKENDS = TASKS_BACKENDS


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """A context in which what waits for the commit runs at its end."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def paid_body(**extra):
    return invoice_payload("PAID", paymentAmount="0.001", paymentAssetCode="BTC", **extra)


# -- callbacks -------------------------------------------------------------------------


def test_with_a_worker_the_callback_view_stores_wakes_and_answers_without_the_provider(
    deliver, btc_invoice, api, queued, run_queued, sent
):
    response = deliver(invoice_event("PAID"))
    assert response.status_code == 200
    assert response.json()["state"] == "pending"
    assert len(api.calls) == 0  # nothing asked of the provider inside the request
    assert [r.task.name for r in queued] == ["drain_callbacks", "drain_callbacks"]

    api.get(DETAIL, json={"data": paid_body()})
    assert run_queued(queued, due_only=True) == [{"applied": 1}]
    btc_invoice.refresh_from_db()
    assert btc_invoice.status == InvoiceStatus.PAID
    assert btc_invoice.order.status == OrderStatus.PAID
    assert sent.count("invoice_paid") == 1


def test_with_a_worker_a_callback_is_stored_located_and_woken_in_three_queries(
    deliver, btc_invoice, queued, django_assert_num_queries
):
    deliver(invoice_event("CREATED"))  # the first ever also creates the schedule's row
    queued.clear()
    from django_invoices.models import DrainSchedule

    DrainSchedule.objects.update(requested_at=None)
    # SELECT the invoice it names (and whether the same news was applied); INSERT the
    # event; UPDATE the schedule's row, which says a drain is asked for (one upsert);
    # the message sent, the deferred check too (its upsert finds one due already).
    with django_assert_num_queries(4):
        deliver(invoice_event("PAID"))
    assert CallbackEvent.objects.latest("pk").invoice_id == btc_invoice.pk
    # Once a drain is asked for, the next callbacks find it so: the same three, no message.
    queued.clear()
    with django_assert_num_queries(3):
        deliver(invoice_event("PAID", updatedAt="later"))
    assert queued == []


def test_a_burst_of_callbacks_about_one_invoice_reads_the_api_once(
    deliver, btc_invoice, api, queued, run_queued, sent
):
    for n in range(5):
        deliver(invoice_event("PAID", updatedAt=f"2026-11-25T10:00:0{n}.000Z"))
    api.get(DETAIL, json={"data": paid_body()})
    assert run_queued(queued, due_only=True) == [{"applied": 5}]
    assert len(api.calls) == 1
    assert sent.count("invoice_paid") == 1


def test_a_refused_callback_wakes_nobody(deliver, btc_invoice, queued):
    response = deliver(invoice_event("PAID"), key="wrong-key")
    assert response.status_code == 401
    assert queued == []


def test_news_applied_already_wakes_nobody(deliver, btc_invoice, api, queued, run_queued):
    deliver(invoice_event("PAID"))
    api.get(DETAIL, json={"data": paid_body()})
    run_queued(queued, due_only=True)
    queued.clear()
    assert deliver(invoice_event("PAID")).json()["state"] == "duplicate"
    assert queued == []


def test_a_provider_outage_backs_the_invoice_off_and_a_deferred_drain_reads_it(
    deliver, btc_invoice, api, queued, run_queued, sent, settings
):
    settings.DJANGO_INVOICES = {**QUEUED, "RETRIES": 0}
    deliver(invoice_event("PAID"))
    api.get(DETAIL, status=503, json={"errors": [{"code": "down", "message": "down"}]})
    before = timezone.now()

    assert run_queued(queued, due_only=True) == [{"pending": 1}]

    event = CallbackEvent.objects.get()
    assert (event.state, event.attempts) == (CallbackEvent.State.PENDING, 1)
    # The drain left a deferred one for when the invoice is due again (and the check).
    due = sorted(r.task.run_after for r in queued)
    assert before + timedelta(seconds=2) <= due[0] <= timezone.now() + timedelta(seconds=2)
    api.replace("GET", DETAIL, json={"data": paid_body()})
    Invoice.objects.update(callbacks_read_after=None)
    run_queued(queued)
    event.refresh_from_db()
    assert event.state == CallbackEvent.State.APPLIED
    assert sent.count("invoice_paid") == 1


def test_running_a_drain_twice_applies_the_callback_once(
    deliver, btc_invoice, api, queued, run_queued, sent
):
    deliver(invoice_event("PAID"))
    api.get(DETAIL, json={"data": paid_body()})
    task = queued[0]
    run_queued(queued, due_only=True)
    assert task.task.call(*task.args, **task.kwargs) == {}
    assert len(api.calls) == 1 and sent.count("invoice_paid") == 1


def test_tasks_queued_by_an_earlier_release_drain_the_callbacks(
    deliver, btc_invoice, api, queued, sent, committed
):
    deliver(invoice_event("PAID"))
    api.get(DETAIL, json={"data": paid_body()})
    with committed():
        assert jobs.process_callback_event(123456) == {"applied": 1}
    assert jobs.process_callback_events([123456]) == {}
    assert sent.count("invoice_paid") == 1


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
    assert sorted(queued[0].args[0]) == sorted(e.pk for e in events)


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

    def database_down(ids):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setitem(jobs.JOBS, "refresh_invoices", database_down)
    background.enqueue("refresh_invoices", 7, at_once=True)
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
    sent.clear()
    at = timezone.now() + timedelta(seconds=10)
    with_celery.send("refresh_invoices", [[7]], run_after=at)
    assert sent == [{"args": [[7]], "argsrepr": "[[7]]", "kwargsrepr": "{}", "eta": at, **routed}]


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
