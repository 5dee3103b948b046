"""The ``DJANGO_INVOICES_OSCAR`` setting, with its defaults.

.. code-block:: python

    DJANGO_INVOICES_OSCAR = {
        "PENDING_STATUS": "Pending payment",
        "STATUSES": {"paid": "Being processed"},  # only the keys that differ
    }

``STATUSES`` and ``EVENTS`` are merged key by key with the defaults below, so a shop
names only what it wants different.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

SETTING = "DJANGO_INVOICES_OSCAR"

# How an invoice of an Oscar order can end, in the order they are documented.
PAID = "paid"
OVERPAID = "overpaid"
PAID_LATE = "paid_late"
PARTLY_PAID = "partly_paid"
EXPIRED = "expired"
CANCELLED = "cancelled"
DECLINED = "declined"
OUTCOMES = (PAID, OVERPAID, PAID_LATE, PARTLY_PAID, EXPIRED, CANCELLED, DECLINED)
# The endings without money: the order's stock allocations are released.
UNPAID = (EXPIRED, CANCELLED, DECLINED)
# How the notes on an order name them.
LABELS = {
    PAID: _("paid"),
    OVERPAID: _("paid more than was due"),
    PAID_LATE: _("paid after it expired"),
    PARTLY_PAID: _("partly paid"),
    EXPIRED: _("expired unpaid"),
    CANCELLED: _("deactivated"),
    DECLINED: _("declined"),
}

DEFAULTS: dict[str, Any] = {
    # The merchant account (a key of DJANGO_INVOICES["ACCOUNTS"]) invoices are made on.
    "ACCOUNT": "default",
    # The status an order is placed in, until its invoice ends.
    "PENDING_STATUS": "Pending payment",
    # The status each ending moves the order to.
    "STATUSES": {
        PAID: "Paid",
        OVERPAID: "Overpaid",
        PAID_LATE: "Paid late",
        PARTLY_PAID: "Partly paid",
        EXPIRED: "Payment expired",
        CANCELLED: "Payment cancelled",
        DECLINED: "Payment declined",
    },
    # The PaymentEventType each ending records (an overpayment records the order's
    # total under PAID's event and the excess under its own).
    "EVENTS": {
        PAID: "Settled",
        OVERPAID: "Overpaid",
        PAID_LATE: "Settled",
        PARTLY_PAID: "Partly paid",
        EXPIRED: "Expired",
        CANCELLED: "Cancelled",
        DECLINED: "Declined",
    },
    # The payment SourceType of the money received.
    "SOURCE_TYPE": "KUNA Pay",
}
MAPPINGS = ("STATUSES", "EVENTS")


def raw() -> dict[str, Any]:
    value = getattr(settings, SETTING, None)
    return value if isinstance(value, dict) else {}


def get(name: str) -> Any:
    """The setting ``name``: the shop's value, else the default (mappings merged)."""
    value = raw().get(name, DEFAULTS[name])
    if name in MAPPINGS and isinstance(value, dict):
        return {**DEFAULTS[name], **value}
    return value


def status_for(outcome: str) -> str:
    return str(get("STATUSES")[outcome])


def event_for(outcome: str) -> str:
    return str(get("EVENTS")[outcome])
