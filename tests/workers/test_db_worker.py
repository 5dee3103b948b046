"""A real django-tasks database worker on PostgreSQL applies callbacks.

The database backend has no redelivery: a worker killed in the middle of a task leaves
its result RUNNING for good. The event it was applying stays pending, and the periodic
sweep (here enqueued as the scheduler would) applies it, exactly once.
"""

import pytest

from django_invoices import background
from django_invoices.models import Deposit, Invoice
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


@pytest.fixture(autouse=True)
def tasks_mode(settings, stub):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "TASKS": "django.tasks",
        "API_URL": stub.url,
    }


def task_states():
    from django_tasks_db.models import DBTaskResult

    return sorted(DBTaskResult.objects.values_list("status", flat=True))


def test_db_worker_applies_a_queued_callback(start_worker, stub, signal_log):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    assert send_callback("PAID")["state"] == "pending"
    assert stub.reads(INVOICE_ID) == 0
    assert task_states() == ["READY"]

    start_worker("django.tasks")
    wait_for(lambda: event_states() == ["applied"], 60, "the event applied")
    wait_for(lambda: task_states() == ["SUCCESSFUL"], 30, "the task finished")
    assert stub.reads(INVOICE_ID) == 1
    assert_paid_once(signal_log)


def test_db_worker_burst_of_callbacks_about_one_invoice_reads_the_api_once(
    start_worker, stub, signal_log
):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    for second in range(6):
        send_callback("PAID", updatedAt=f"2026-11-25T10:00:0{second}.000Z")
    # One task for the invoice: the callbacks after the first joined it.
    assert task_states() == ["READY"]

    start_worker("django.tasks")
    wait_for(lambda: task_states() == ["SUCCESSFUL"], 60, "the task done")
    assert "pending" not in event_states()
    assert stub.reads(INVOICE_ID) == 1
    assert_paid_once(signal_log)


def test_db_worker_retries_a_provider_5xx_with_a_deferred_task(start_worker, stub, signal_log):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    stub.failures = [503]
    start_worker("django.tasks")
    send_callback("PAID")

    wait_for(lambda: event_states() == ["applied"], 60, "the retried task")
    assert stub.reads(INVOICE_ID) == 2
    wait_for(lambda: task_states() == ["SUCCESSFUL"] * 2, 30, "both attempts finished")
    assert_paid_once(signal_log)


def test_db_worker_killed_while_reading_the_provider_the_sweep_applies_it_once(
    start_worker, stub, signal_log, django_capture_on_commit_callbacks
):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    stub.hold.set()
    worker = start_worker("django.tasks")
    send_callback("PAID")
    assert stub.arrived.wait(60), worker.output()

    worker.kill()  # SIGKILL the worker in the middle of the task
    stub.released.set()
    # What the backend guarantees: nothing more. The task stays RUNNING, the event pending.
    assert task_states() == ["RUNNING"]
    assert event_states() == ["pending"]
    assert signal_log() == []

    start_worker("django.tasks")
    background.enqueue("process_pending_callbacks")  # the periodic sweep
    wait_for(lambda: event_states() == ["applied"], 60, "the sweep")
    assert stub.reads(INVOICE_ID) == 2
    assert_paid_once(signal_log)


def test_db_worker_killed_after_the_commit_leaves_one_effect(
    start_worker, stub, signal_log, tmp_path
):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    hold = tmp_path / "hold"
    hold.touch()
    worker = start_worker("django.tasks", HOLD_SIGNAL_FILE=str(hold))
    send_callback("PAID")
    wait_for(lambda: "invoice_paid" in signal_log(), 60, "the payment committed", worker)

    worker.kill()
    hold.unlink()
    assert event_states() == ["applied"]

    start_worker("django.tasks")
    background.enqueue("process_pending_callbacks")
    wait_for(lambda: task_states().count("SUCCESSFUL") == 1, 60, "the sweep")
    assert stub.reads(INVOICE_ID) == 1
    assert Invoice.objects.get().status == InvoiceStatus.PAID
    assert Deposit.objects.count() == 1
    assert signal_log().count("invoice_paid") == 1
