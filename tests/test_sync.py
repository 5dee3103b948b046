"""The sweep (``invoices_sync``): what it reads, what it applies, and what it leaves.

Each test pins a rule an outside audit changed on purpose without any test noticing
(its mutant named in the docstring): the sweep reads only what can still change, never
applies an answer about another invoice, settles only the callbacks its read answers,
and adopts a lost invoice only on matching amount and asset.
"""

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import TestCase
from django.utils import timezone

from django_invoices import conf
from django_invoices.models import CallbackEvent, Invoice, Order
from django_invoices.services import sync
from django_invoices.statuses import InvoiceStatus, OrderStatus
from django_invoices.tasks import jobs

from .callbacks_kit import invoice_event, post
from .conftest import API, INVOICE_ID, invoice_payload

State = CallbackEvent.State
DETAIL = f"{API}/v1/invoice/{INVOICE_ID}"
OTHER_ID = "22222222-3333-4444-8555-666666666666"


def run(*args):
    """One ``invoices_sync`` run with its commits' signals sent; its output."""
    out = StringIO()
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("invoices_sync", "--older-than", "0", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def ended(invoice, status, days_ago, **fields):
    """``invoice`` ended ``days_ago`` with ``status``, never read since."""
    at = timezone.now() - timedelta(days=days_ago)
    Invoice.objects.filter(pk=invoice.pk).update(
        status=status, expires_at=at, completed_at=None, synced_at=None, **fields
    )
    return Invoice.objects.get(pk=invoice.pk)


def planned():
    return sync.plan_sync(older_than=timedelta(0)).invoices


# -- what the sweep reads ------------------------------------------------------------------


def test_the_late_payment_window_is_seven_days_by_default():
    assert conf.DEFAULTS["LATE_PAYMENT_WINDOW"] == 7
    assert conf.late_payment_window() == timedelta(days=7)


@pytest.mark.parametrize(
    "status",
    [
        InvoiceStatus.EXPIRED,
        InvoiceStatus.PARTIALLY_PAID,
        InvoiceStatus.DECLINED,
        InvoiceStatus.LIMITS_OUT_OF_RANGE,
    ],
)
def test_an_unpaid_ending_is_read_inside_the_window_and_not_after_it(invoice, status):
    """Mutants: a declined invoice no longer re-read; the window's edge moved."""
    ended(invoice, status, days_ago=6)
    assert planned() == [invoice.pk]
    ended(invoice, status, days_ago=8)
    assert planned() == []


def test_a_deactivated_or_paid_invoice_is_never_read_back(invoice):
    ended(invoice, InvoiceStatus.CANCELLED, days_ago=1)
    assert planned() == []
    ended(invoice, InvoiceStatus.PAID, days_ago=1)
    assert planned() == []


def test_an_ended_invoice_of_an_order_paid_otherwise_is_not_read(invoice):
    """Mutant: ended invoices of orders already paid were re-read for a week, and their
    reads sent stray signals."""
    ended(invoice, InvoiceStatus.EXPIRED, days_ago=1)
    Order.objects.filter(pk=invoice.order_id).update(status=OrderStatus.PAID)
    assert planned() == []


def test_the_limit_bounds_every_kind_the_sweep_reads(db, api):
    """Mutant: ``--limit`` exceeded."""
    for n in range(5):
        order = Order.objects.create(external_order_id=f"L-{n}", amount=1, asset="EUR")
        Invoice.objects.create(
            provider_id=uuid.uuid4(), order=order, invoice_amount=1, invoice_asset="EUR"
        )
    Invoice.objects.update(created_at=timezone.now() - timedelta(hours=1))
    assert len(sync.plan_sync(older_than=timedelta(0), limit=2).invoices) == 2
    out = StringIO()
    call_command("invoices_sync", "--dry-run", "--limit", "2", stdout=out)
    assert out.getvalue().count("would read invoice") == 2


@pytest.mark.parametrize(
    ("expired", "completed", "created", "may_change"),
    [
        (7, None, 30, True),  # ended at the window's very edge: still in it
        (1, None, 30, True),  # it ended when it expired, however old it is
        (None, 1, 30, True),  # no expiry: when it was completed
        (None, None, 6, True),  # neither: when it was created
        (8, None, 1, False),
        (None, 8, 1, False),
    ],
)
def test_the_sweep_and_a_refused_callback_agree_on_when_an_ended_invoice_may_change(
    invoice, expired, completed, created, may_change
):
    """Mutants: the end of an invoice taken from the wrong date; the window's edge
    moved; the moment asked about replaced by the clock's."""
    from django_invoices.services.window import changeable_invoices, may_still_change

    now = timezone.now() - timedelta(days=100)  # not the clock's: the one asked about

    def days_ago(days):
        return None if days is None else now - timedelta(days=days)

    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.EXPIRED,
        expires_at=days_ago(expired),
        completed_at=days_ago(completed),
        created_at=days_ago(created),
    )
    stored = Invoice.objects.select_related("order").get(pk=invoice.pk)
    # A refused callback about it has it read (may_still_change), and so does the sweep.
    assert may_still_change(stored, now=now) is may_change
    assert changeable_invoices(now=now).filter(pk=invoice.pk).exists() is may_change


def test_chunks_hold_every_id_once_in_order():
    assert list(sync.chunks([5, 6, 7], 1)) == [[5], [6], [7]]
    assert list(sync.chunks([5, 6, 7], 2)) == [[5, 6], [7]]


def test_a_chunk_size_below_one_is_taken_as_one():
    assert list(sync.chunks([5, 6, 7], 0)) == [[5], [6], [7]]


# -- what the sweep applies ----------------------------------------------------------------


def test_an_answer_about_another_invoice_is_never_applied(api, invoice):
    """Mutant: the sweep applied what the API answered about another invoice to the one
    it read (the callback path refused this; the sweep did not check)."""
    api.get(DETAIL, json={"data": invoice_payload("PAID", OTHER_ID)})
    with pytest.raises(CommandError):
        run()
    stored = Invoice.objects.get()
    assert (stored.status, stored.provider_status, stored.synced_at) == ("created", "", None)
    assert Order.objects.get().status != OrderStatus.PAID


def test_a_callback_that_arrives_while_the_sweep_reads_is_left_to_a_later_read(
    client, api, invoice
):
    """Mutant: a callback received during the sweep's read was marked applied by it,
    though the read may predate its news."""
    arrived = []

    def answer(request):
        # KUNA Pay's callback reaches the shop while the sweep waits for this answer.
        arrived.append(post(client, invoice_event("PAID", updatedAt="later")).json())
        return 200, {}, json.dumps({"data": invoice_payload("PAYMENT_AWAITING")})

    api.add_callback("GET", DETAIL, callback=answer)
    run()
    assert arrived[0]["state"] == "pending"  # the sweep held the invoice
    event = CallbackEvent.objects.get()
    assert (event.state, event.attempts) == (State.PENDING, 0)
    assert Invoice.objects.get().status == InvoiceStatus.AWAITING_PAYMENT


def test_an_event_settled_by_another_reader_meanwhile_is_not_settled_again(api, invoice):
    """Mutant: an event another worker settled during a read was applied again, its
    outcome and attempts overwritten."""
    event = CallbackEvent.objects.create(
        verified=True,
        state=State.PENDING,
        invoice=invoice,
        body=json.dumps(invoice_event("PAID")),
    )
    CallbackEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(minutes=1)
    )

    def answer(request):
        CallbackEvent.objects.filter(pk=event.pk).update(
            state=State.APPLIED, outcome="settled by another reader", attempts=5
        )
        return 200, {}, json.dumps({"data": invoice_payload("PAID")})

    api.add_callback("GET", DETAIL, callback=answer)
    run()
    event.refresh_from_db()
    assert (event.state, event.outcome, event.attempts) == (
        State.APPLIED,
        "settled by another reader",
        5,
    )


def test_a_pending_event_of_another_account_is_not_settled_by_this_accounts_read(
    api, invoice, settings
):
    """Mutant: the events named by pending callbacks were looked up across accounts."""
    accounts = {"other": {"API_URL": "https://other.test", "API_KEY": "k", "PRIVATE_KEY": "p"}}
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "ACCOUNTS": accounts}
    theirs = CallbackEvent.objects.create(
        account="other",
        verified=True,
        state=State.PENDING,
        body=json.dumps(invoice_event("PAID")),  # names this account's invoice id
    )
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    run()
    theirs.refresh_from_db()
    assert (theirs.state, theirs.invoice_id) == (State.IGNORED, None)
    assert Invoice.objects.get().status == InvoiceStatus.PAID  # read for its own sake


# -- the sweep on a task system ------------------------------------------------------------


def test_now_reads_in_place_even_with_a_task_system(api, invoice, queued):
    """Mutant: ``invoices_sync --now`` ignored when a task system is set."""
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    out = run("--now")
    assert "Read 1 invoice" in out
    assert queued == []
    assert Invoice.objects.get().status == InvoiceStatus.PAID


def test_without_now_a_task_system_gets_the_reads(api, invoice, queued):
    out = run()
    assert out.startswith("Queued 1 invoice")
    assert [result.task.name for result in queued] == ["sync_invoices"]
    assert len(api.calls) == 0


def test_a_chunk_naming_an_invoice_that_no_longer_exists_is_not_retried(db):
    """Mutant: an invoice the sweep cannot find (deleted meanwhile) retried for ever."""
    assert jobs.sync_invoices([987654]) == {}


def test_a_chunk_whose_invoice_the_provider_does_not_know_is_retried(api, invoice):
    api.get(DETAIL, status=404, json={"errors": [{"code": "NOT_FOUND", "message": "none"}]})
    with pytest.raises(jobs.RetryLater):
        jobs.sync_invoices([invoice.pk])


# -- adoption after an ambiguous create ------------------------------------------------------


def owed(order):
    Order.objects.filter(pk=order.pk).update(
        needs_reconciliation=True, updated_at=timezone.now() - timedelta(hours=1)
    )


def listed(*items):
    return {"data": list(items)}


def remote(invoice_id, amount="42.50", asset="EUR", created="2026-12-01T10:00:00Z"):
    return {
        "id": invoice_id,
        "externalOrderId": "A-1",
        "status": "CREATED",
        "invoiceAmount": amount,
        "invoiceAssetCode": asset,
        "createdAt": created,
    }


def test_a_lost_invoice_in_another_asset_is_never_adopted(api, order):
    """Mutant: a lost invoice with the same amount in another asset was adopted."""
    owed(order)
    api.get(f"{API}/v1/invoice", json=listed(remote(INVOICE_ID, asset="USD")))
    assert "1 flagged" in run()
    order.refresh_from_db()
    assert order.invoices.count() == 0
    assert "USD" in order.reconciliation_issue and not order.needs_reconciliation


def test_of_several_matching_lost_invoices_the_newest_is_adopted(api, order):
    """Mutant: the oldest of several matching invoices adopted instead of the newest."""
    owed(order)
    older = remote(OTHER_ID, created="2026-12-01T10:00:00Z")
    newer = remote(INVOICE_ID, created="2026-12-01T11:00:00Z")
    api.get(f"{API}/v1/invoice", json=listed(older, newer))
    assert "1 adopted" in run()
    assert [str(i.provider_id) for i in order.invoices.all()] == [INVOICE_ID]
    assert Decimal(order.invoices.get().invoice_amount) == Decimal("42.50")


def test_reconciling_an_order_says_what_was_done_or_why_it_could_not_be(api, order, settings):
    """``sync.sync_order``, what a distributed sweep calls per order: an order deleted
    meanwhile is no error; one KUNA Pay could not be asked about is, with the reason."""
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "RETRIES": 0}
    assert sync.sync_order(987654) == ("no such order", "")
    owed(order)
    api.get(f"{API}/v1/invoice", status=503, json={"errors": [{"code": "X", "message": "down"}]})
    assert sync.sync_order(order.pk) == ("failed", "HTTP 503: X: down")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("invoices_sync", "--older-than", "0", stdout=StringIO(), stderr=err)
    assert err.getvalue() == f"order {order.pk}: HTTP 503: X: down\n"
