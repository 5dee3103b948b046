"""Real workers apply callbacks: a Celery worker on Redis and django-tasks' database
worker on PostgreSQL, each test run with both (``system``).

The pending rows are the queue: a worker applies every callback whichever cache the
shop runs (Redis, the local-memory cache ``startproject`` gives, or none), a lost
wake-up message delays its callback by at most ``queue.WAKE_CHECK`` seconds, and a
worker killed in the middle of a task leaves one effect in the end.
"""

import re
import time
import uuid

import pytest
from django.utils import timezone

from django_invoices import background
from django_invoices.models import CallbackEvent, Deposit, Invoice, Order
from django_invoices.services import queue
from django_invoices.statuses import InvoiceStatus

from .conftest import wait_for
from .kit import (
    INVOICE_ID,
    assert_paid_once,
    event_states,
    make_invoice,
    paid_answer,
    send_callback,
)

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]

SYSTEMS = ["celery", "django.tasks"]


@pytest.fixture(params=SYSTEMS)
def system(request, settings, stub):
    if request.param == "celery":
        from . import celery_app  # noqa: F401  (the producer's Celery app)
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "TASKS": request.param,
        "API_URL": stub.url,
    }
    return request.param


def other_invoices(count):
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for n, invoice_id in enumerate(ids, 2):
        order = Order.objects.create(external_order_id=f"A-{n}", amount="42.50", asset="EUR")
        Invoice.objects.create(
            provider_id=invoice_id, order=order, invoice_amount="42.50", invoice_asset="EUR"
        )
    return ids


def received_tasks(worker):
    return re.findall(r"Task django_invoices\.(\w+)\[[-0-9a-f]+\] received", worker.output())


def test_a_worker_applies_a_callback_the_request_only_stored(
    system, start_worker, stub, signal_log
):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    answer = send_callback("PAID")
    assert answer["state"] == "pending"
    assert stub.reads(INVOICE_ID) == 0  # nothing asked inside the request

    worker = start_worker(system)
    wait_for(lambda: event_states() == ["applied"], 60, "the event applied", worker)
    assert stub.reads(INVOICE_ID) == 1
    assert_paid_once(signal_log)


@pytest.mark.parametrize("cache_kind", ["locmem", "dummy"])
def test_three_paid_callbacks_five_seconds_apart_are_each_applied_within_fifteen_seconds(
    system, cache_kind, start_worker, stub
):
    """The fault this guards against: a "queued" mark in a cache each process keeps for
    itself stranded callbacks for a minute while the worker idled."""
    make_invoice()
    ids = [INVOICE_ID, *other_invoices(2)]
    for invoice_id in ids:
        stub.invoices[invoice_id] = {**paid_answer(), "id": invoice_id}
    worker = start_worker(system)
    sent = {}
    for n, invoice_id in enumerate(ids):
        if n:
            time.sleep(5)
        sent[invoice_id] = timezone.now()
        assert send_callback("PAID", id=invoice_id)["state"] == "pending"
    wait_for(lambda: event_states() == ["applied"] * 3, 20, "every callback applied", worker)
    for event in CallbackEvent.objects.select_related("invoice"):
        delay = (event.processed_at - sent[str(event.invoice.provider_id)]).total_seconds()
        assert delay <= 15, (event.invoice.provider_id, delay)
    assert [stub.reads(invoice_id) for invoice_id in ids] == [1, 1, 1]
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.PAID}


def test_a_dropped_wake_up_delays_its_callback_by_at_most_the_check_interval(
    system, start_worker, stub, monkeypatch
):
    assert queue.WAKE_CHECK == 10
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    worker = start_worker(system)
    real, dropped = background.enqueue, []

    def drop_the_first_wake_up(job, *args, run_after=None, **kwargs):
        if job == "drain_callbacks" and run_after is None and not dropped:
            dropped.append(job)  # lost on its way to the broker
            return
        real(job, *args, run_after=run_after, **kwargs)

    monkeypatch.setattr(background, "enqueue", drop_the_first_wake_up)
    sent = timezone.now()
    assert send_callback("PAID")["state"] == "pending"
    assert dropped == ["drain_callbacks"]
    wait_for(lambda: event_states() == ["applied"], 30, "the deferred check", worker)
    delay = (CallbackEvent.objects.get().processed_at - sent).total_seconds()
    assert queue.WAKE_CHECK - 1 <= delay <= queue.WAKE_CHECK + 5
    assert stub.reads(INVOICE_ID) == 1


def test_a_burst_of_callbacks_about_one_invoice_reads_the_api_once(
    system, start_worker, stub, signal_log
):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    for second in range(8):
        send_callback("PAID", updatedAt=f"2026-11-25T10:00:0{second}.000Z")

    worker = start_worker(system)
    wait_for(lambda: event_states() == ["applied"] * 8, 60, "all settled", worker)
    assert stub.reads(INVOICE_ID) == 1
    assert_paid_once(signal_log)
    if system == "celery":
        # One wake-up and its deferred check: the callbacks after the first sent none.
        wait_for(lambda: len(received_tasks(worker)) == 2, 30, "the deferred check", worker)
        assert received_tasks(worker) == ["drain_callbacks"] * 2


def test_callbacks_about_several_invoices_read_each_invoice_once(system, start_worker, stub):
    make_invoice()
    ids = [INVOICE_ID, *other_invoices(2)]
    for invoice_id in ids:
        stub.invoices[invoice_id] = {**paid_answer(), "id": invoice_id}
        for status in ("CONFIRMATION_AWAITING", "PAID"):
            send_callback(status, id=invoice_id)

    worker = start_worker(system)
    wait_for(lambda: event_states() == ["applied"] * 6, 60, "every callback applied", worker)
    assert [stub.reads(invoice_id) for invoice_id in ids] == [1, 1, 1]
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.PAID}


def test_a_worker_killed_while_reading_the_provider_leaves_one_effect(
    system, start_worker, stub, signal_log
):
    """Celery delivers the task again (late acknowledgement); the database backend
    leaves it RUNNING, and the deferred check finds the event. Either way the invoice
    waits for the dead reader's lease to run out, then is read once more."""
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    stub.hold.set()  # the first read waits: the worker is in the middle of the task
    worker = start_worker(system)
    child = worker.children()[0] if system == "celery" else None
    send_callback("PAID")
    assert stub.arrived.wait(60), worker.output()

    worker.kill(child)  # SIGKILL the process that runs the task
    stub.released.set()
    if system != "celery":
        worker = start_worker(system)

    wait_for(lambda: event_states() == ["applied"], 90, "a second read", worker)
    assert stub.reads(INVOICE_ID) == 2  # the killed attempt, and the one that applied
    assert_paid_once(signal_log)
    assert CallbackEvent.objects.get().attempts == 1


def test_a_worker_killed_after_the_commit_leaves_one_effect(
    system, start_worker, stub, signal_log, tmp_path
):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    hold = tmp_path / "hold"
    hold.touch()
    worker = start_worker(system, HOLD_SIGNAL_FILE=str(hold))
    child = worker.children()[0] if system == "celery" else None
    send_callback("PAID")
    # invoice_paid is sent once the payment is committed; the receiver then waits.
    wait_for(lambda: "invoice_paid" in signal_log(), 60, "the payment committed", worker)

    worker.kill(child)
    hold.unlink()
    if system != "celery":
        worker = start_worker(system)
    # Another drain (Celery's redelivery, the deferred check) finds nothing to do.
    time.sleep(queue.WAKE_CHECK + 2)
    assert event_states() == ["applied"]
    assert stub.reads(INVOICE_ID) == 1
    invoice = Invoice.objects.get()
    assert invoice.status == InvoiceStatus.PAID and Deposit.objects.count() == 1
    # The killed run sent what it sent before the kill; nothing ran it again.
    assert signal_log().count("invoice_paid") == 1
    assert signal_log().count("order_paid") <= 1


def test_a_provider_5xx_backs_the_invoice_off_and_a_deferred_drain_applies_it(
    system, start_worker, stub, signal_log
):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    stub.failures = [503]
    start_worker(system)
    send_callback("PAID")

    wait_for(lambda: event_states() == ["applied"], 60, "the read after the backoff")
    assert stub.reads(INVOICE_ID) == 2
    assert_paid_once(signal_log)
    assert CallbackEvent.objects.get().attempts == 2
