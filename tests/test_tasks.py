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
    # event; SELECT whether a drain is asked for; UPDATE the schedule's row to say one is
    # (one upsert); the message sent, the deferred check too (its upsert finds one due).
    with django_assert_num_queries(5):
        deliver(invoice_event("PAID"))
    assert CallbackEvent.objects.latest("pk").invoice_id == btc_invoice.pk
    # Once a drain is asked for, the next callbacks find it so: three queries, the last a
    # plain read (no row lock, nothing written), and no message.
    queued.clear()
    with django_assert_num_queries(3) as captured:
        deliver(invoice_event("PAID", updatedAt="later"))
    assert queued == []
    assert captured.captured_queries[-1]["sql"].startswith("SELECT")


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


# -- what each job does, returns and leaves to a retry ------------------------------------
# Written for mutants that survived a mutation run (docs/mutation.rst): a task's result
# is what a worker logs and a task system stores, and its retry arguments are what the
# next attempt does.


def _answers(api, replies):
    """KUNA Pay answering ``GET /v1/invoice/{id}`` of each invoice with its reply: a
    status, or an HTTP error status (int); the names of the threads that asked, in a
    list."""
    import json
    import threading

    by_id = {str(invoice.provider_id): (invoice, reply) for invoice, reply in replies}
    threads = []

    def answer(request):
        threads.append(threading.current_thread().name)
        invoice, reply = by_id[request.url.rsplit("/", 1)[1]]
        if isinstance(reply, int):
            return reply, {}, json.dumps({"errors": [{"code": "X", "message": "no"}]})
        return 200, {}, json.dumps({"data": {**_payload(invoice, reply), "transactions": []}})

    api.add_callback("GET", re.compile(rf"{re.escape(API)}/v1/invoice/[0-9a-f-]{{36}}$"), answer)
    return threads


def test_a_refresh_task_reads_its_invoices_one_at_a_time(db, api):
    """A worker's concurrency is the task system's to set: a task makes one read at a
    time, however many REFRESH_WORKERS the admin's bulk refresh may use."""
    from .test_bulk_services import ConcurrentReads

    invoices = [make_invoice(f"R-{n}") for n in range(4)]
    reads = ConcurrentReads(api)
    assert jobs.refresh_invoices([i.pk for i in invoices]) == {"refreshed": 4}
    assert reads.peak == 1


def test_a_refresh_task_retries_only_what_may_succeed_later(db, api, settings, monkeypatch):
    from django.db import OperationalError

    from django_invoices.services import reads

    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "RETRIES": 0}
    fine, unknown, gone, down, unsaved = (make_invoice(f"R-{n}") for n in range(5))
    Invoice.objects.filter(pk=gone.pk).update(account="removed")
    _answers(api, [(fine, "PAID"), (unknown, 404), (down, 503), (unsaved, "PAID")])
    apply_read = reads.apply_read

    def lock_timeout_for_unsaved(invoice, *args, **kwargs):
        if invoice.pk == unsaved.pk:
            raise OperationalError("lock timeout")
        return apply_read(invoice, *args, **kwargs)

    monkeypatch.setattr(reads, "apply_read", lock_timeout_for_unsaved)
    every = [fine.pk, unknown.pk, gone.pk, down.pk, unsaved.pk]

    with pytest.raises(jobs.RetryLater) as raised:
        jobs.refresh_invoices(every)

    # The provider down and the row not saved may go better next time; an invoice
    # KUNA Pay does not know, or of an account taken out of the settings, will not.
    assert raised.value.retry_args == [[down.pk, unsaved.pk]]
    assert str(raised.value) == "2 invoices could not be refreshed"
    assert Invoice.objects.get(pk=fine.pk).status == InvoiceStatus.PAID
    assert jobs.refresh_invoices([fine.pk, unknown.pk, gone.pk]) == {"refreshed": 1, "failed": 2}


def test_a_refresh_task_logs_a_failed_read_with_the_orders_reference(db, api, caplog):
    """The ids a log line carries (``telemetry.LOG_KEYS``) include the order's, which
    the task loads with its invoices."""
    unknown = make_invoice("R-7")
    _answers(api, [(unknown, 404)])
    assert jobs.refresh_invoices([unknown.pk]) == {"failed": 1}
    [record] = [r for r in caplog.records if r.getMessage().startswith("Refreshing invoice")]
    assert (record.external_order_id, record.provider_invoice_id) == (
        "R-7",
        str(unknown.provider_id),
    )


def test_a_sync_chunk_reads_in_the_workers_own_thread_and_counts_what_changed(db, api):
    import threading

    paid = [make_invoice(f"S-{n}") for n in range(2)]
    unchanged = make_invoice("S-2")
    threads = _answers(api, [(paid[0], "PAID"), (paid[1], "PAID"), (unchanged, "CREATED")])

    done = jobs.sync_invoices([paid[0].pk, unchanged.pk, paid[1].pk])

    assert done == {"changed": 2, "read": 1}
    # One read after the other, in the task's thread: no pool of threads per task.
    assert threads == [threading.current_thread().name] * 3
    assert Invoice.objects.filter(status=InvoiceStatus.PAID).count() == 2


def test_a_sync_chunk_names_what_it_retries(db, api, settings):
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "RETRIES": 0}
    fine, down = make_invoice("S-1"), make_invoice("S-2")
    _answers(api, [(fine, "PAID"), (down, 502)])
    with pytest.raises(jobs.RetryLater) as raised:
        jobs.sync_invoices([fine.pk, down.pk])
    assert raised.value.retry_args == [[down.pk]]
    assert str(raised.value) == "1 invoices could not be read"


def _to_reconcile(ref, *, owed=True):
    order = Order.objects.create(external_order_id=ref, amount=10, asset="EUR")
    Order.objects.filter(pk=order.pk).update(
        needs_reconciliation=owed, updated_at=timezone.now() - timedelta(hours=1)
    )
    return order


def _listing(api, down=()):
    """KUNA Pay's list of invoices by ``externalOrderId``: empty, or a 503 for those
    in ``down``."""
    import json
    from urllib.parse import parse_qs, urlsplit

    def answer(request):
        ref = parse_qs(urlsplit(request.url).query)["externalOrderId"][0]
        if ref in down:
            return 503, {}, json.dumps({"errors": [{"code": "DOWN", "message": "down"}]})
        return 200, {}, json.dumps({"data": []})

    api.add_callback("GET", f"{API}/v1/invoice", callback=answer)


def test_a_reconcile_chunk_counts_what_it_did_with_each_order(db, api):
    lost = _to_reconcile("O-1")
    done_before = [_to_reconcile(f"O-{n}", owed=False) for n in (2, 3)]
    _listing(api)
    ids = [lost.pk, *(o.pk for o in done_before), 987654]  # the last one deleted meanwhile
    assert jobs.sync_orders(ids) == {"nothing found": 1, "already done": 2, "no such order": 1}
    lost.refresh_from_db()
    assert not lost.needs_reconciliation


def test_a_reconcile_chunk_retries_the_orders_it_could_not_read(db, api, settings):
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "RETRIES": 0}
    fine, down = _to_reconcile("O-1"), _to_reconcile("O-2")
    _listing(api, down={"O-2"})
    with pytest.raises(jobs.RetryLater) as raised:
        jobs.sync_orders([fine.pk, down.pk])
    assert raised.value.retry_args == [[down.pk]]
    assert str(raised.value) == "1 orders could not be reconciled"
    assert Order.objects.get(pk=down.pk).needs_reconciliation


def _creating(api, url=f"{API}/v1/invoice", refused=(), down=()):
    """KUNA Pay creating invoices at ``url``: a fresh id each, a 400 for the order
    references in ``refused``, a 503 for those in ``down``; the references asked for,
    in a list."""
    import json
    import uuid

    asked = []

    def answer(request):
        ref = json.loads(request.body)["externalOrderId"]
        asked.append(ref)
        if ref in refused:
            return 400, {}, json.dumps({"errors": [{"code": "BAD", "message": "refused"}]})
        if ref in down:
            return 503, {}, json.dumps({"errors": [{"code": "DOWN", "message": "down"}]})
        return 200, {}, json.dumps({"data": {"id": str(uuid.uuid4()), "paymentLink": "https://p"}})

    api.add_callback("POST", url, callback=answer)
    return asked


def test_an_invoice_task_creates_on_the_default_account_and_counts_each_outcome(db, api):
    orders = [
        Order.objects.create(external_order_id=ref, amount=10, asset="EUR")
        for ref in ("C-1", "C-2", "C-3", "C-4")
    ]
    Order.objects.filter(pk=orders[2].pk).update(status=OrderStatus.PAID)
    asked = _creating(api, refused={"C-4"})

    # What the admin queues: the ids alone, so the default account.
    done = jobs.create_invoices([o.pk for o in reversed(orders)])

    # A refusal is not worth another try: it is counted, not retried.
    assert done == {"created": 2, "skipped": 1, "failed": 1}
    assert asked == ["C-1", "C-2", "C-4"]  # in the orders' order, the paid one skipped
    assert list(Invoice.objects.order_by("pk").values_list("account", "order")) == [
        ("default", orders[0].pk),
        ("default", orders[1].pk),
    ]


def test_an_invoice_task_for_another_account_creates_there_and_retries_there(db, api, settings):
    other_api = "https://other.kunapay.test"
    accounts = {"other": {"API_URL": other_api, "API_KEY": "k2", "PRIVATE_KEY": "p2"}}
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "ACCOUNTS": accounts, "RETRIES": 0}
    fine = Order.objects.create(external_order_id="C-1", amount=10, asset="EUR")
    down = Order.objects.create(external_order_id="C-2", amount=10, asset="EUR")
    _creating(api, url=f"{other_api}/v1/invoice", down={"C-2"})
    # An ambiguous create is looked up by its reference before it is made again.
    api.get(f"{other_api}/v1/invoice", json={"data": []})

    with pytest.raises(jobs.RetryLater) as raised:
        jobs.create_invoices([fine.pk, down.pk], "other")

    assert raised.value.retry_args == [[down.pk], "other"]
    assert str(raised.value) == "1 orders got no invoice yet"
    assert fine.invoices.get().account == "other"
    assert not down.invoices.exists()


def _stored_event(data, *, state=CallbackEvent.State.PENDING, invoice=None):
    import json

    from django_invoices import callbacks

    body = json.dumps({"event": "Invoice", "data": data})
    return CallbackEvent.objects.create(
        account="default",
        body=body,
        dedupe_key=callbacks.parse(body.encode()).dedupe_key,
        verified=True,
        state=state,
        invoice=invoice,
    )


def test_callbacks_staff_apply_again_are_acted_on_and_then_the_rest_is_drained(btc_invoice, api):
    other = make_invoice("B-1")
    failed = _stored_event(
        {"id": INVOICE_ID, "status": "PAID"}, state=CallbackEvent.State.FAILED, invoice=btc_invoice
    )
    _stored_event({"id": str(other.provider_id), "status": "PAID"}, invoice=other)
    _stored_event({"id": "99999999-9999-4999-8999-999999999999", "status": "PAID"})
    api.get(DETAIL, json={"data": paid_body()})
    api.get(f"{API}/v1/invoice/{other.provider_id}", json={"data": _payload(other, "PAID")})

    # The failed one because staff asked, the two pending ones because they wait.
    assert jobs.process_callback_events([failed.pk]) == {"applied": 2, "ignored": 1}
    assert set(CallbackEvent.objects.values_list("state", flat=True)) == {"applied", "ignored"}


def test_the_periodic_callback_task_takes_500_events_a_run(db, api):
    import uuid

    for _ in range(503):  # each naming an invoice this shop does not have
        _stored_event({"id": str(uuid.uuid4()), "status": "PAID"})
    assert jobs.process_pending_callbacks(limit=2) == {"ignored": 2}
    assert jobs.process_pending_callbacks() == {"ignored": 500}
    assert CallbackEvent.objects.filter(state=CallbackEvent.State.PENDING).count() == 1


def test_the_periodic_callback_task_reads_an_invoice_still_backing_off(btc_invoice, api):
    Invoice.objects.filter(pk=btc_invoice.pk).update(
        callbacks_read_after=timezone.now() + timedelta(minutes=5), callbacks_unconfirmed=3
    )
    _stored_event({"id": INVOICE_ID, "status": "PAID"}, invoice=btc_invoice)
    api.get(DETAIL, json={"data": paid_body()})
    assert jobs.process_pending_callbacks() == {"applied": 1}


def test_enqueue_chunks_takes_a_chunk_size_of_its_own(db, queued, committed):
    with committed():
        assert background.enqueue_chunks("refresh_invoices", [4, 5, 6], size=1) == 3
    assert [r.args for r in queued] == [[[4]], [[5]], [[6]]]


def test_the_sync_command_queues_each_kind_and_one_drain_for_the_callbacks(db, queued, committed):
    from io import StringIO

    from django.core.management import call_command

    invoice = make_invoice("Q-1")
    Invoice.objects.update(created_at=timezone.now() - timedelta(hours=1))
    order = _to_reconcile("Q-2")
    _stored_event({"id": "99999999-9999-4999-8999-999999999999", "status": "PAID"})
    out = StringIO()
    with committed():
        call_command("invoices_sync", stdout=out)
    assert out.getvalue() == "Queued 1 invoice, 1 order and 1 callback event in 3 tasks.\n"
    assert [(r.task.name, r.args) for r in queued] == [
        ("sync_invoices", [[invoice.pk]]),
        ("sync_orders", [[order.pk]]),
        ("drain_callbacks", []),
    ]


# -- the tasks of each task system, defined for any job -----------------------------------
# ``_define`` and ``_defaults`` run when the module is imported; called here again, so
# what they do is checked where a mutation run can see it.


def test_django_tasks_are_made_for_the_configured_backend_and_queue(settings):
    from django_invoices.tasks import with_django

    settings.DJANGO_INVOICES = {
        **DJANGO_INVOICES,
        "TASKS_BACKEND": "jobs",
        "TASKS_QUEUE": "payments",
    }
    assert with_django._defaults() == {"backend": "jobs", "queue_name": "payments"}
    settings.DJANGO_INVOICES = DJANGO_INVOICES
    assert with_django._defaults() == {"backend": "default"}


def test_a_django_task_is_found_by_its_jobs_name_and_retried_as_the_next_attempt(
    queued, monkeypatch
):
    from django_invoices.tasks import with_django

    calls = []

    def half_done(ids):
        calls.append(ids)
        raise jobs.RetryLater("half done", [ids[1:]])

    monkeypatch.setitem(jobs.JOBS, "refresh_invoices", half_done)
    task = with_django._define("refresh_invoices")
    assert task.module_path == "django_invoices.tasks.with_django.refresh_invoices"
    assert task.call([1, 2]) == {"retry": 1}
    assert calls == [[1, 2]]
    assert [(r.task.name, r.args, r.kwargs) for r in queued] == [
        ("refresh_invoices", [[2]], {"attempt": 1})
    ]


def test_a_celery_task_is_defined_for_any_job_named_delivered_late_and_retried(
    with_celery, monkeypatch
):
    import uuid

    calls = []

    def half_done(ids):
        calls.append(ids)
        if len(calls) == 1:
            raise jobs.RetryLater("half done", [ids[1:]])
        return {"done": len(ids)}

    # A name of its own: Celery keeps the first task defined under a name.
    job = f"probe_{uuid.uuid4().hex}"
    monkeypatch.setitem(jobs.JOBS, job, half_done)
    task = with_celery._define(job)
    assert task.name == f"django_invoices.{job}"
    assert task.acks_late is True and task.reject_on_worker_lost is True
    # Run here as a worker would, its retry too (apply() does not wait for countdowns).
    assert task.apply(args=[[1, 2, 3]]).get() == {"done": 2}
    assert calls == [[1, 2, 3], [2, 3]]


def test_celery_retries_a_database_error_with_the_same_ids_and_the_error(
    with_celery, settings, monkeypatch
):
    from django.db import OperationalError

    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "TASKS_RETRY_BACKOFF": 5}
    error = OperationalError("server closed the connection unexpectedly")

    def database_down(ids):
        raise error

    monkeypatch.setitem(jobs.JOBS, "refresh_invoices", database_down)
    task = FakeCeleryTask(retries=0)
    with pytest.raises(RuntimeError):
        with_celery.run(task, "refresh_invoices", ([1, 2],))
    assert task.retried == {"args": [[1, 2]], "exc": error, "countdown": 5}


def test_celery_can_run_a_task_later(with_celery, settings):
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "TASKS": "celery"}
    assert background.can_defer() is True


def _still_down(ids):
    raise jobs.RetryLater("still down")


def test_a_django_task_is_retried_as_its_next_attempt_after_that_attempts_backoff(
    queued, monkeypatch
):
    from django_invoices.tasks import with_django

    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    monkeypatch.setitem(jobs.JOBS, "refresh_invoices", _still_down)
    # TASKS_RETRY_BACKOFF is 5 seconds: a third attempt waits 5 * 2 * 2.
    assert with_django.run("refresh_invoices", ([1],), 2) == {"retry": 3}
    [retry] = queued
    assert (retry.args, retry.kwargs) == ([[1]], {"attempt": 3})
    assert retry.task.run_after == now + timedelta(seconds=20)


def test_a_django_task_gives_up_after_its_last_retry(queued, settings, monkeypatch):
    from django_invoices.tasks import with_django

    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "TASKS_MAX_RETRIES": 2}
    monkeypatch.setitem(jobs.JOBS, "refresh_invoices", _still_down)
    assert with_django.run("refresh_invoices", ([1],), 1) == {"retry": 2}
    queued.clear()
    # What is left stays pending in the database, for the sweep or staff.
    assert with_django.run("refresh_invoices", ([1],), 2) == {"gave_up": "still down"}
    assert queued == []


def test_without_deferred_tasks_a_failed_job_is_left_for_the_sweep(settings, monkeypatch):
    from django_invoices.tasks import with_django

    settings.TASKS = {"default": {"BACKEND": f"{BACKENDS}.immediate.ImmediateBackend"}}
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "TASKS": "django.tasks"}
    monkeypatch.setitem(jobs.JOBS, "refresh_invoices", _still_down)
    assert background.can_defer() is False
    # Sent again at once, it would meet the same failure.
    assert with_django.run("refresh_invoices", ([1],), 0) == {"left_for_sweep": "still down"}


def test_tasks_go_to_the_backend_the_settings_name_when_they_are_sent(db, settings, committed):
    dummy = DUMMY["default"]
    settings.TASKS = {"default": dummy, "payments": dummy}
    settings.DJANGO_INVOICES = {**QUEUED, "TASKS_BACKEND": "payments"}
    with committed():
        background.enqueue("refresh_invoices", [1])
    assert [r.args for r in task_backends["payments"].results] == [[[1]]]
    assert task_backends["default"].results == []


def test_a_task_asked_for_later_runs_now_where_the_backend_cannot_wait(
    db, settings, monkeypatch, committed
):
    settings.TASKS = {"default": {"BACKEND": f"{BACKENDS}.immediate.ImmediateBackend"}}
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "TASKS": "django.tasks"}
    ran = []
    monkeypatch.setitem(jobs.JOBS, "drain_callbacks", lambda: ran.append("drained") or {})
    with committed():
        background.enqueue("drain_callbacks", run_after=timezone.now() + timedelta(hours=1))
    assert ran == ["drained"]
