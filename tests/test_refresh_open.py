"""``invoices_refresh_open``, the former name of ``invoices_sync``: the cron job that
catches up on lost callbacks (the sweep's own tests are in test_sync.py)."""

import json
import re
import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_invoices.models import Invoice, Order
from django_invoices.statuses import InvoiceStatus, OrderStatus

from .conftest import API, invoice_payload

DETAIL_URL = re.compile(rf"{re.escape(API)}/v1/invoice/([0-9a-f-]{{36}})$")


def make_invoice(ref, *, status=InvoiceStatus.AWAITING_PAYMENT, synced_ago=None, age=None):
    order = Order.objects.create(external_order_id=ref, amount=Decimal("1"), asset="EUR")
    invoice = Invoice.objects.create(
        provider_id=uuid.uuid4(),
        order=order,
        status=status,
        provider_status="PAYMENT_AWAITING",
        invoice_amount=Decimal("1"),
        invoice_asset="EUR",
    )
    now = timezone.now()
    Invoice.objects.filter(pk=invoice.pk).update(
        synced_at=None if synced_ago is None else now - synced_ago,
        created_at=now - (age or timedelta(hours=1)),
    )
    invoice.refresh_from_db()
    return invoice


def answer(status):
    def reply(request):
        invoice_id = DETAIL_URL.match(request.url).group(1)
        payload = invoice_payload(status, invoice_id)
        return 200, {}, json.dumps({"data": payload})

    return reply


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("invoices_refresh_open", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def requested_ids(api):
    return {DETAIL_URL.match(call.request.url).group(1) for call in api.calls}


def test_only_open_invoices_nobody_heard_of_lately_are_read_back(
    api, db, listen, django_capture_on_commit_callbacks
):
    stale = make_invoice("A-1", synced_ago=timedelta(minutes=40))
    never_synced = make_invoice("A-2", age=timedelta(minutes=20))
    fresh = make_invoice("A-3", synced_ago=timedelta(minutes=5))
    just_created = make_invoice("A-4", age=timedelta(minutes=1))
    make_invoice("A-5", status=InvoiceStatus.PAID, synced_ago=timedelta(days=1))
    paid = listen("order_paid")
    api.add_callback("GET", DETAIL_URL, callback=answer("PAID"))

    with django_capture_on_commit_callbacks(execute=True):
        out, err = run()

    assert requested_ids(api) == {str(stale.provider_id), str(never_synced.provider_id)}
    assert "Read 2 invoices (2 changed status), settled 0 callback events" in out
    assert err == ""
    assert paid == ["order_paid", "order_paid"]
    paid_orders = Order.objects.filter(status=OrderStatus.PAID).values_list("pk", flat=True)
    assert set(paid_orders) == {stale.order_id, never_synced.order_id}
    fresh.refresh_from_db()
    just_created.refresh_from_db()
    assert fresh.status == just_created.status == InvoiceStatus.AWAITING_PAYMENT


def test_an_unchanged_invoice_is_counted_but_not_listed(api, db):
    invoice = make_invoice("A-1", synced_ago=timedelta(hours=2))
    api.add_callback("GET", DETAIL_URL, callback=answer("PAYMENT_AWAITING"))

    out, _ = run("--older-than", "60")

    assert out == (
        "Read 1 invoice (0 changed status), settled 0 callback events (0 still pending), "
        "reconciled 0 orders (0 adopted, 0 flagged for staff), 0 could not be read.\n"
    )
    invoice.refresh_from_db()
    assert invoice.synced_at > timezone.now() - timedelta(minutes=1)


def test_the_least_recently_read_go_first_within_the_limit(api, db):
    oldest = make_invoice("A-1", synced_ago=timedelta(hours=5))
    make_invoice("A-2", synced_ago=timedelta(hours=1))
    older = make_invoice("A-3", synced_ago=timedelta(hours=3))
    api.add_callback("GET", DETAIL_URL, callback=answer("PAYMENT_AWAITING"))

    run("--limit", "2")

    assert requested_ids(api) == {str(oldest.provider_id), str(older.provider_id)}


def test_nothing_to_do_asks_nothing(api, db):
    make_invoice("A-1", synced_ago=timedelta(minutes=1))

    out, _ = run()

    # Issue 12: the open invoice is only younger than the default, and the line says so.
    assert out == (
        "Nothing to read: no invoice that can change older than 15 minutes, "
        "no order to reconcile, no pending callback event. To read the invoices that can "
        "change now, however recently they were read, run it with --older-than 0.\n"
    )
    assert len(api.calls) == 0


def test_a_provider_outage_fails_the_command_and_changes_nothing(api, db):
    invoice = make_invoice("A-1", synced_ago=timedelta(hours=1))
    api.add("GET", DETAIL_URL, status=503, body="upstream down")

    with pytest.raises(CommandError, match="1 item could not be read from KUNA Pay"):
        call_command("invoices_refresh_open", stdout=StringIO(), stderr=(err := StringIO()))

    assert str(invoice) in err.getvalue()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AWAITING_PAYMENT
    assert invoice.synced_at < timezone.now() - timedelta(minutes=30)


@pytest.mark.parametrize(
    "args", [("--older-than", "-1"), ("--older-than", "99999999999"), ("--limit", "0")]
)
def test_nonsense_arguments_are_refused(db, args):
    with pytest.raises(CommandError):
        run(*args)


def test_invoices_of_an_account_no_longer_configured_are_left_out(api, db):
    gone = make_invoice("A-1", synced_ago=timedelta(hours=5))
    Invoice.objects.filter(pk=gone.pk).update(account="removed")
    kept = make_invoice("A-2", synced_ago=timedelta(hours=1))
    api.add_callback("GET", DETAIL_URL, callback=answer("PAYMENT_AWAITING"))

    run("--limit", "1")

    assert requested_ids(api) == {str(kept.provider_id)}
