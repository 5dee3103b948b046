"""What moves an Oscar order: this app's signals, never the buyer's return.

Each signal is sent once per real change, after the commit that made it (a callback
read back from the API, the sweep, staff's refresh, the buyer's return page). Every
receiver does the same, ``outcomes.apply_invoice``: it reads the invoice as stored and
records on its Oscar order whatever is not recorded yet, under the order's row lock;
so the same news seen twice, or twice at once, moves the order once.

- ``invoice_status_changed``: the invoice ended (paid, partly paid, expired, ...);
- ``invoice_overpaid``: more arrived on a paid invoice;
- ``deposit_received``: money arrived (a part payment topped up, say).
"""

from __future__ import annotations

from typing import Any

from django_invoices import signals

from .outcomes import apply_invoice

UID = "django_invoices.contrib.oscar"


def invoice_news(sender: Any, invoice: Any, **kwargs: Any) -> None:
    apply_invoice(invoice.pk)


def connect() -> None:
    signals.invoice_status_changed.connect(invoice_news, dispatch_uid=f"{UID}:status")
    signals.invoice_overpaid.connect(invoice_news, dispatch_uid=f"{UID}:overpaid")
    signals.deposit_received.connect(invoice_news, dispatch_uid=f"{UID}:deposit")
