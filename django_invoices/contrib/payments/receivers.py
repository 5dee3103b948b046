"""What moves a django-payments ``Payment``: this app's outcome signals.

Each is sent once per real change, after the commit that made it (the callback view's,
the sweep's, the buyer's return). Every receiver does the same thing,
``status.sync_order``: bring the order's ``Payment`` in step with what is stored, under
the Payment's row lock, so a signal seen twice, or two at once, move it once.
"""

from __future__ import annotations

from typing import Any

from django_invoices import signals

from .status import sync_order


def order_changed(sender: Any, order: Any, **kwargs: Any) -> None:
    sync_order(order)


def invoice_news(sender: Any, invoice: Any, **kwargs: Any) -> None:
    # More money on an order whose status stays (an overpayment, a second part payment).
    sync_order(invoice.order)


def connect() -> None:
    uid = "django_invoices.contrib.payments"
    signals.order_status_changed.connect(order_changed, dispatch_uid=f"{uid}:order")
    signals.invoice_overpaid.connect(invoice_news, dispatch_uid=f"{uid}:overpaid")
    signals.deposit_received.connect(invoice_news, dispatch_uid=f"{uid}:deposit")
