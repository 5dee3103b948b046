"""What ``invoices_sync``, the sweep's task jobs, ``background`` and ``conf`` promise, pinned
where a mutation-testing run found nothing checking it: the command's help, bounds,
messages and dry-run listing, what each job chunk records for the health page, the error
naming an unset task system, and a few settings helpers."""

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_invoices import background, conf
from django_invoices.management.commands.invoices_sync import Command
from django_invoices.models import CallbackEvent, Invoice, Order, SweepRun
from django_invoices.services import sync
from django_invoices.tasks import jobs

from .callbacks_kit import invoice_event
from .conftest import API, INVOICE_ID, invoice_payload

State = CallbackEvent.State
DETAIL = f"{API}/v1/invoice/{INVOICE_ID}"
LIST = f"{API}/v1/invoice"
DOWN = {"errors": [{"code": "X", "message": "down"}]}


def sweep(*args):
    """One ``invoices_sync`` run: its output and its error output."""
    out, err = StringIO(), StringIO()
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("invoices_sync", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def no_retries(settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "RETRIES": 0}


def owed(order):
    """``order`` awaits reconciliation after an ambiguous create, untouched for an hour."""
    Order.objects.filter(pk=order.pk).update(
        needs_reconciliation=True, updated_at=timezone.now() - timedelta(hours=1)
    )


def open_invoices(n, prefix="Q"):
    """``n`` orders, each with an open invoice created an hour ago, never read."""
    orders = Order.objects.bulk_create(
        Order(external_order_id=f"{prefix}-{i}", amount=1, asset="EUR") for i in range(n)
    )
    Invoice.objects.bulk_create(
        Invoice(provider_id=uuid.uuid4(), order=o, invoice_amount=1, invoice_asset="EUR")
        for o in orders
    )
    Invoice.objects.update(created_at=timezone.now() - timedelta(hours=1))
    return list(Invoice.objects.select_related("order").order_by("pk"))


def pending_event(invoice=None, **fields):
    return CallbackEvent.objects.create(
        verified=True,
        state=State.PENDING,
        invoice=invoice,
        body=json.dumps(invoice_event("PAID")),
        **fields,
    )


def help_text():
    parser = Command().create_parser("manage.py", "invoices_sync")
    return " ".join(parser.format_help().split())


# -- the command's help ----------------------------------------------------------------


def test_the_help_explains_older_than_with_its_default_and_the_run_by_hand():
    assert (
        "--older-than MINUTES Only invoices not read back for this many minutes "
        "(default: 15); 0 reads every invoice that can change, however recently read "
        "(a run by hand)." in help_text()
    )


def test_the_help_explains_limit():
    assert "--limit LIMIT At most this many of each kind." in help_text()


def test_the_help_explains_now_and_the_task_system_it_overrides():
    assert (
        "--now Read here and now even when DJANGO_INVOICES['TASKS'] names a task system "
        "(which otherwise gets the reads in chunks of TASKS_CHUNK_SIZE)." in help_text()
    )


def test_the_help_explains_the_dry_run():
    assert (
        "--dry-run List what would be read (invoices by KUNA Pay id and order reference), "
        "and read nothing." in help_text()
    )


# -- bounds and messages -----------------------------------------------------------------


def test_older_than_accepts_a_whole_year_of_minutes_and_no_more(db):
    out, _ = sweep("--older-than", "527040", "--dry-run")
    assert out.startswith("Nothing to read: no invoice that can change older than 527040 ")
    with pytest.raises(CommandError) as refused:
        sweep("--older-than", "527041", "--dry-run")
    assert str(refused.value) == (
        "--older-than must be 0 to 527040 minutes (a year) and --limit 1 or more."
    )


def test_nothing_to_read_older_than_one_minute_says_minute_in_the_singular(db):
    out, _ = sweep("--older-than", "1", "--dry-run")
    assert out == (
        "Nothing to read: no invoice that can change older than 1 minute, "
        "no order to reconcile, no pending callback event. To read the invoices that can "
        "change now, however recently they were read, run it with --older-than 0.\n"
    )


def test_the_limit_is_five_hundred_of_each_kind_by_default(db):
    open_invoices(501)
    out, _ = sweep("--older-than", "0", "--dry-run")
    assert out.count("would read invoice") == 500
    assert out.endswith("Dry run: 500 invoices, 0 orders, 0 callback events; nothing was read.\n")


def test_one_unreadable_item_fails_the_run_with_a_singular_message(api, order, settings):
    no_retries(settings)
    owed(order)
    api.get(LIST, status=503, json=DOWN)
    with pytest.raises(CommandError) as failed:
        sweep("--older-than", "0")
    assert str(failed.value) == (
        "1 item could not be read from KUNA Pay; it is read again next time."
    )


def test_two_unreadable_items_fail_the_run_with_a_plural_message(api, order, settings):
    no_retries(settings)
    owed(order)
    other = Order.objects.create(external_order_id="A-2", amount=Decimal("1"), asset="EUR")
    owed(other)
    api.get(LIST, status=503, json=DOWN)
    with pytest.raises(CommandError) as failed:
        sweep("--older-than", "0")
    assert str(failed.value) == (
        "2 items could not be read from KUNA Pay; they are read again next time."
    )


# -- the summary line ----------------------------------------------------------------------


def test_the_summary_counts_a_flagged_order_among_the_reconciled(api, order):
    owed(order)
    lost = {
        "id": INVOICE_ID,
        "externalOrderId": "A-1",
        "status": "CREATED",
        "invoiceAmount": "42.50",
        "invoiceAssetCode": "USD",
        "createdAt": "2026-12-01T10:00:00Z",
    }
    api.get(LIST, json={"data": [lost]})
    out, _ = sweep("--older-than", "0")
    assert out == (
        "Read 0 invoices (0 changed status), settled 0 callback events (0 still pending), "
        "reconciled 1 order (0 adopted, 1 flagged for staff), 0 could not be read.\n"
    )


def test_the_summary_counts_an_order_found_without_invoice_among_the_reconciled(api, order):
    owed(order)
    api.get(LIST, json={"data": []})
    out, _ = sweep("--older-than", "0")
    assert out == (
        "Read 0 invoices (0 changed status), settled 0 callback events (0 still pending), "
        "reconciled 1 order (0 adopted, 0 flagged for staff), 0 could not be read.\n"
    )


# -- the dry run ---------------------------------------------------------------------------


def test_a_dry_run_lists_invoices_and_events_in_a_fixed_number_of_queries(db):
    invoices = open_invoices(3)
    for invoice in invoices:
        pending_event(invoice)
    with CaptureQueriesContext(connection) as queries:
        out, _ = sweep("--older-than", "0", "--dry-run")
    assert out.count("would read invoice") == 3
    assert out.count("would settle callback event") == 3
    assert len(queries) == 6


def test_a_dry_run_of_only_events_asks_nothing_about_invoices_or_orders(db):
    pending_event(object_id="nobody-knows")
    with CaptureQueriesContext(connection) as queries:
        out, _ = sweep("--older-than", "0", "--dry-run")
    assert "no invoice of this shop found for it yet" in out
    assert len(queries) == 4


def test_a_dry_run_of_only_invoices_asks_nothing_about_events(db):
    open_invoices(2)
    with CaptureQueriesContext(connection) as queries:
        out, _ = sweep("--older-than", "0", "--dry-run")
    assert out.count("would read invoice") == 2
    assert len(queries) == 4


# -- the command called directly ---------------------------------------------------------


def test_handle_called_without_now_leaves_the_reads_to_the_task_system(api, invoice, queued):
    out = StringIO()
    with TestCase.captureOnCommitCallbacks(execute=True):
        Command(stdout=out, stderr=StringIO()).handle(older_than=0, limit=500, dry_run=False)
    assert out.getvalue() == "Queued 1 invoice, 0 orders and 0 callback events in 1 task.\n"
    assert [result.task.name for result in queued] == ["sync_invoices"]
    assert len(api.calls) == 0


# -- the sweep's jobs record what they did ------------------------------------------------


def test_an_invoice_chunk_records_the_callbacks_its_read_settled(api, invoice):
    event = pending_event(invoice)
    CallbackEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(minutes=1)
    )
    api.get(DETAIL, json={"data": invoice_payload("PAID")})
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert jobs.sync_invoices([invoice.pk]) == {"changed": 1}
    run = SweepRun.objects.get()
    assert (run.kind, run.invoices_read, run.invoices_changed, run.events_settled) == (
        "invoices",
        1,
        1,
        1,
    )
    assert (run.failures, run.errors) == (0, "")


def test_an_invoice_chunk_records_what_it_could_not_read_by_the_kuna_pay_id(api, invoice, settings):
    no_retries(settings)
    api.get(DETAIL, status=503, json=DOWN)
    with pytest.raises(jobs.RetryLater):
        jobs.sync_invoices([invoice.pk])
    run = SweepRun.objects.get()
    assert (run.invoices_read, run.failures) == (0, 1)
    assert run.errors == f"invoice {INVOICE_ID}: HTTP 503: X: down"


def test_an_order_chunk_records_the_orders_it_reconciled(api, order):
    owed(order)
    api.get(LIST, json={"data": []})
    assert jobs.sync_orders([order.pk]) == {"nothing found": 1}
    run = SweepRun.objects.get()
    assert (run.kind, run.orders_reconciled, run.failures, run.errors) == ("orders", 1, 0, "")


def test_an_order_chunk_records_the_orders_it_could_not_reconcile(api, order, settings):
    no_retries(settings)
    owed(order)
    api.get(LIST, status=503, json=DOWN)
    with pytest.raises(jobs.RetryLater):
        jobs.sync_orders([order.pk])
    run = SweepRun.objects.get()
    assert (run.orders_reconciled, run.failures) == (0, 1)
    assert run.errors == f"order {order.pk}: HTTP 503: X: down"


# -- background and conf ---------------------------------------------------------------------


def test_queueing_without_a_task_system_says_the_setting_is_unset(db):
    with pytest.raises(ImproperlyConfigured) as refused:
        background.enqueue("drain_callbacks")
    assert str(refused.value) == "DJANGO_INVOICES['TASKS'] is None: nothing to queue."


def test_a_late_payment_window_given_as_a_timedelta_is_used_as_it_is(invoice, settings):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "LATE_PAYMENT_WINDOW": timedelta(hours=12),
    }
    assert conf.late_payment_window() == timedelta(hours=12)
    ended = timezone.now() - timedelta(hours=11)
    Invoice.objects.filter(pk=invoice.pk).update(
        status="expired", expires_at=ended, completed_at=None, synced_at=None
    )
    assert sync.plan_sync(older_than=timedelta(0)).invoices == [invoice.pk]
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=ended - timedelta(hours=2))
    assert sync.plan_sync(older_than=timedelta(0)).invoices == []


def test_an_unknown_account_error_names_the_account(db):
    with pytest.raises(conf.UnknownAccount) as unknown:
        conf.get_account("nobody")
    assert unknown.value.name == "nobody"
    assert str(unknown.value) == "DJANGO_INVOICES has no account named 'nobody'."


def test_an_api_url_that_cannot_be_parsed_is_not_live():
    assert conf.is_live("https://api.kunapay.io/") is True
    assert conf.is_live("https://[api.kunapay.io/") is False


class _RaisingResolver:
    """An ``ACCOUNT_RESOLVER`` that raises ``UnknownAccount`` rather than return None."""

    def names(self):
        return ["default"]

    def get(self, name):
        raise conf.UnknownAccount(name)


def test_an_account_the_resolver_calls_unknown_is_not_known(settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "ACCOUNT_RESOLVER": _RaisingResolver}
    assert conf.has_account("acme") is False


def test_an_account_named_with_broken_settings_is_still_known(settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "ACCOUNTS": {"broken": "not a dict"}}
    assert conf.has_account("broken") is True
    assert conf.has_account("nobody") is False
