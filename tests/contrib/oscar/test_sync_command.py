"""``invoices_oscar_sync`` records what a failed receiver missed, once."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from django_invoices import signals
from django_invoices.contrib.oscar import receivers

from .conftest import app_invoice, events, oscar_order, status_changes


def run(*args: str) -> str:
    out = StringIO()
    call_command("invoices_oscar_sync", *args, stdout=out)
    return out.getvalue()


def test_the_command_catches_up_on_what_no_receiver_recorded(kunapay, place_order):
    place_order()
    order = oscar_order()
    invoice = app_invoice(order)
    # The receivers missed the payment (down, or failing, when it was applied).
    signals.invoice_status_changed.disconnect(dispatch_uid=f"{receivers.UID}:status")
    signals.invoice_overpaid.disconnect(dispatch_uid=f"{receivers.UID}:overpaid")
    signals.deposit_received.disconnect(dispatch_uid=f"{receivers.UID}:deposit")
    try:
        kunapay.pay(invoice)
    finally:
        receivers.connect()
    order.refresh_from_db()
    assert order.status == "Pending payment"

    assert run() == "1 invoices of Oscar orders: 1 applied\n"
    order.refresh_from_db()
    assert order.status == "Paid"
    assert status_changes(order) == [("Pending payment", "Paid")]

    assert run("--order", order.number) == "1 invoices of Oscar orders: 1 already applied\n"
    assert run("--order", "no-such-order") == "0 invoices of Oscar orders\n"
    assert len(events(order)) == 1
