"""A real Celery worker on Redis applies callbacks; killed mid-task, the redelivered
task completes with exactly one effect."""

import re

import pytest

from django_invoices.models import CallbackEvent, Deposit, Invoice
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
def celery_mode(settings, stub):
    from . import celery_app  # noqa: F401  (the producer's Celery app)

    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "TASKS": "celery",
        "API_URL": stub.url,
    }


def test_celery_worker_applies_a_queued_callback(start_worker, stub, signal_log):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    answer = send_callback("PAID")
    assert answer["state"] == "pending"
    assert stub.reads(INVOICE_ID) == 0  # nothing asked inside the request

    start_worker("celery")
    wait_for(lambda: event_states() == ["applied"], 60, "the event applied")
    assert stub.reads(INVOICE_ID) == 1
    assert_paid_once(signal_log)


def test_celery_burst_of_callbacks_about_one_invoice_reads_the_api_once(
    start_worker, stub, signal_log
):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    for second in range(8):
        send_callback("PAID", updatedAt=f"2026-11-25T10:00:0{second}.000Z")

    worker = start_worker("celery")
    wait_for(
        lambda: "pending" not in event_states() and len(event_states()) == 8, 60, "all settled"
    )
    assert stub.reads(INVOICE_ID) == 1
    # One task for the invoice: the callbacks after the first joined it.
    assert worker.output().count("] received") == 1
    assert_paid_once(signal_log)


def test_celery_callbacks_about_several_invoices_send_one_message_and_read_each_once(
    start_worker, stub
):
    """Callbacks about three invoices while the first task waits: the broker gets one
    message from the callback view; that task queues one task per other invoice."""
    import uuid

    from django_invoices.models import Order

    ids = [INVOICE_ID, str(uuid.uuid4()), str(uuid.uuid4())]
    make_invoice()
    for n, invoice_id in enumerate(ids[1:], 2):
        order = Order.objects.create(external_order_id=f"A-{n}", amount="42.50", asset="EUR")
        Invoice.objects.create(
            provider_id=invoice_id, order=order, invoice_amount="42.50", invoice_asset="EUR"
        )
    for invoice_id in ids:
        stub.invoices[invoice_id] = {**paid_answer(), "id": invoice_id}
        for status in ("CONFIRMING", "PAID"):
            send_callback(status, id=invoice_id)

    worker = start_worker("celery")
    wait_for(lambda: event_states() == ["applied"] * 6, 60, "every callback applied", worker=worker)
    assert [stub.reads(invoice_id) for invoice_id in ids] == [1, 1, 1]
    received = re.findall(r"Task django_invoices\.(\w+)\[[-0-9a-f]+\] received", worker.output())
    assert sorted(received) == ["process_callback_event"] + ["process_callback_events"] * 2
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.PAID}


def test_celery_worker_killed_while_reading_the_provider_retries_to_one_effect(
    start_worker, stub, signal_log
):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    stub.hold.set()  # the first read waits: the worker is in the middle of the task
    worker = start_worker("celery")
    [child] = worker.children()
    send_callback("PAID")
    assert stub.arrived.wait(60), worker.output()

    worker.kill(child)  # SIGKILL the pool process that runs the task
    stub.released.set()

    wait_for(lambda: event_states() == ["applied"], 60, "the redelivered task", worker)
    assert "SIGKILL" in worker.output() or "signal 9" in worker.output()
    assert stub.reads(INVOICE_ID) == 2  # the killed attempt, and the one that applied
    assert_paid_once(signal_log)
    assert CallbackEvent.objects.get().attempts == 1


def test_celery_worker_killed_after_the_commit_redelivers_without_a_second_effect(
    start_worker, stub, signal_log, tmp_path
):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    hold = tmp_path / "hold"
    hold.touch()
    worker = start_worker("celery", HOLD_SIGNAL_FILE=str(hold))
    [child] = worker.children()
    send_callback("PAID")
    # invoice_paid is sent once the payment is committed; the receiver then waits.
    wait_for(lambda: "invoice_paid" in signal_log(), 60, "the payment committed", worker)

    worker.kill(child)
    hold.unlink()

    # The message comes back (acks_late, reject_on_worker_lost) and finds it applied.
    wait_for(
        lambda: worker.output().count("] received") == 2 and "succeeded" in worker.output(),
        60,
        "the redelivered task to run",
        worker,
    )
    assert "WorkerLostError" in worker.output()
    assert event_states() == ["applied"]
    assert stub.reads(INVOICE_ID) == 1
    invoice = Invoice.objects.get()
    assert invoice.status == InvoiceStatus.PAID and Deposit.objects.count() == 1
    # The killed run sent what it sent before the kill; the retry sent nothing.
    assert signal_log().count("invoice_paid") == 1
    assert signal_log().count("order_paid") <= 1


def test_celery_retries_after_a_provider_5xx_with_backoff(start_worker, stub, signal_log):
    make_invoice()
    stub.invoices[INVOICE_ID] = paid_answer()
    stub.failures = [503, 502]
    start_worker("celery")
    send_callback("PAID")

    wait_for(lambda: event_states() == ["applied"], 60, "the retried task")
    assert stub.reads(INVOICE_ID) == 3
    assert_paid_once(signal_log)
    assert CallbackEvent.objects.get().attempts == 3
