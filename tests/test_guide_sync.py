"""The sync guide (docs/howto/sync.rst) runs as it reads.

Its cron line, commands and their output live in docs/howto/sync/ between
"# [name]" and "# [end-name]" markers; the page includes those regions, and this test
runs them in the page's order on a shop whose invoice KUNA Pay (the sandbox, through
the ``kunapay`` fixture) marked paid without a callback: the plain run reads nothing and
says how to read now, the dry run names the invoice by its KUNA Pay id and the order's
reference, the run by hand applies it, and the cron line runs the same command.
"""

from __future__ import annotations

import re
import shlex
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import TestCase
from django.utils import timezone

from django_invoices import services
from django_invoices.models import CallbackEvent, Invoice, Order

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "howto" / "sync"
PAGE = ROOT / "docs" / "howto" / "sync.rst"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# The order's reference the page's output shows.
REFERENCE = "A-3f9c0e1b2a4d"


def region(filename: str, name: str) -> str:
    text = (GUIDE / filename).read_text(encoding="utf-8")
    match = re.search(rf"^# \[{name}\]\n(.*?)^# \[end-{name}\]\n", text, re.S | re.M)
    assert match, f"no region {name} in {filename}"
    return match.group(1)


def page_regions() -> list[tuple[str, str]]:
    return re.findall(
        r"^\.\. literalinclude:: sync/(\S+)\n(?:   :.*\n)*?   :start-after: # \[([\w-]+)\]\n",
        PAGE.read_text(encoding="utf-8"),
        flags=re.M,
    )


def expected(name: str, invoice: Invoice) -> list[str]:
    """The page's sample output with this test's KUNA Pay invoice id in it."""
    sample = region("output.txt", name)
    return re.sub(UUID, str(invoice.provider_id), sample).splitlines()


def manage(line: str) -> list[str]:
    """A ``python manage.py ...`` line of the page, run here; its output's lines."""
    words = shlex.split(line)
    assert words[:2] == ["python", "manage.py"], line
    out = StringIO()
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command(*words[2:], stdout=out, stderr=StringIO())
    return out.getvalue().splitlines()


def test_the_page_shows_every_region_the_test_runs():
    assert page_regions() == [
        ("crontab", "cron"),
        ("commands.sh", "plain"),
        ("output.txt", "plain"),
        ("commands.sh", "by-hand"),
        ("output.txt", "dry-run"),
        ("output.txt", "read"),
    ]
    assert "--older-than 0" in region("commands.sh", "by-hand")


@pytest.fixture
def paid_at_kuna_pay(kunapay, db):
    """An order whose invoice KUNA Pay marked paid, with no callback to say so."""
    kunapay.configure(SEND_CALLBACKS=False)
    order = Order.objects.create(external_order_id=REFERENCE, amount=Decimal("42.50"), asset="EUR")
    invoice = services.create_invoice(order)
    kunapay.pay(invoice)
    return invoice


def test_the_sync_guide_runs_as_it_reads(paid_at_kuna_pay):
    """Issue 20: right after a change at KUNA Pay the cron command read nothing, the page
    never showed ``--older-than 0``, and the dry run said "would read invoice 31"."""
    invoice = paid_at_kuna_pay

    (plain,) = region("commands.sh", "plain").splitlines()
    assert manage(plain) == expected("plain", invoice)
    assert Order.objects.get().status != "paid"

    dry_run, by_hand = region("commands.sh", "by-hand").splitlines()
    assert manage(dry_run) == expected("dry-run", invoice)
    assert Order.objects.get().status != "paid"

    assert manage(by_hand) == expected("read", invoice)
    assert Order.objects.get().status == "paid"


def test_the_cron_line_runs_the_sweep(paid_at_kuna_pay):
    """The page's crontab line: a schedule of five fields, then the shop's directory and
    its virtualenv's python running the command (here in this process)."""
    (line,) = region("crontab", "cron").splitlines()
    fields = line.split(None, 5)
    assert fields[:5] == ["*/5", "*", "*", "*", "*"]
    match = re.fullmatch(r"cd (/\S+) && (\S+/bin/python) (manage\.py invoices_sync.*)", fields[5])
    assert match, fields[5]
    # Every five minutes the default --older-than (15) leaves the just-created invoice.
    assert manage(f"python {match.group(3)}") == expected("plain", paid_at_kuna_pay)


def test_the_dry_run_names_orders_by_reference_and_events_by_what_they_are_about(db):
    """Each kind the sweep acts on, by the names staff know: no internal id but the
    callback event's own (the admin's list shows it)."""
    order = Order.objects.create(external_order_id="A-7", amount=Decimal("5"), asset="EUR")
    invoice = Invoice.objects.create(
        provider_id="506c695a-4187-4463-ac41-07dc0782cb0e",
        order=order,
        invoice_amount=order.amount,
        invoice_asset="EUR",
    )
    lost = Order.objects.create(
        external_order_id="A-8", amount=Decimal("5"), asset="EUR", needs_reconciliation=True
    )
    placed = CallbackEvent.objects.create(
        verified=True,
        event_name="Invoice",
        object_id=str(invoice.provider_id),
        provider_status="PAID",
        invoice=invoice,
    )
    unplaced = CallbackEvent.objects.create(
        verified=True, event_name="InvoiceDeposit", object_id="tx-42"
    )
    nameless = CallbackEvent.objects.create(verified=True)
    Order.objects.filter(pk=lost.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    assert manage("python manage.py invoices_sync --older-than 0 --dry-run") == [
        f"would read invoice {invoice.provider_id} (order A-7)",
        "would reconcile order A-8",
        f"would settle callback event {placed.pk} (Invoice PAID about invoice "
        f"{invoice.provider_id}, order A-7)",
        f"would settle callback event {unplaced.pk} (InvoiceDeposit naming tx-42, no invoice "
        "of this shop found for it yet)",
        f"would settle callback event {nameless.pk} (callback naming -, no invoice of this "
        "shop found for it yet)",
        "Dry run: 1 invoice, 1 order, 3 callback events; nothing was read.",
    ]


def test_nothing_to_read_with_older_than_0_gives_no_advice_to_use_it(db):
    (line,) = manage("python manage.py invoices_sync --older-than 0")
    assert line.startswith("Nothing to read")
    assert "--older-than 0" not in line
