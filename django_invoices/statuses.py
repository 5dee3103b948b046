"""Statuses: the provider's strings, ours, and which moves between them are allowed.

The provider's list (``docs/explanation/provider-api.rst`` ("Statuses")) comes from a
community SDK, not from official text, so the map below is the one place to correct it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger("django_invoices")


class OrderStatus(models.TextChoices):
    NEW = "new", _("New")
    AWAITING_PAYMENT = "awaiting_payment", _("Awaiting payment")
    PAID = "paid", _("Paid")
    PARTIALLY_PAID = "partially_paid", _("Partially paid")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")
    FAILED = "failed", _("Failed")


class InvoiceStatus(models.TextChoices):
    CREATED = "created", _("Created")
    AWAITING_PAYMENT = "awaiting_payment", _("Awaiting payment")
    CONFIRMING = "confirming", _("Awaiting confirmations")
    PAID = "paid", _("Paid")
    PARTIALLY_PAID = "partially_paid", _("Partially paid")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Deactivated")
    DECLINED = "declined", _("Declined")
    LIMITS_OUT_OF_RANGE = "limits_out_of_range", _("Amount out of limits")
    UNKNOWN = "unknown", _("Unknown provider status")


PROVIDER_STATUS_MAP: dict[str, InvoiceStatus] = {
    "CREATED": InvoiceStatus.CREATED,
    "PAYMENT_AWAITING": InvoiceStatus.AWAITING_PAYMENT,
    "CONFIRMATION_AWAITING": InvoiceStatus.CONFIRMING,
    "PAID": InvoiceStatus.PAID,
    "PARTIALLY_PAID": InvoiceStatus.PARTIALLY_PAID,
    "TIMEOUT": InvoiceStatus.EXPIRED,
    "DEACTIVATED": InvoiceStatus.CANCELLED,
    "DECLINED": InvoiceStatus.DECLINED,
    "LIMITS_OUT_OF_RANGE": InvoiceStatus.LIMITS_OUT_OF_RANGE,
}

# Statuses in which the provider may still move the invoice on its own; an order has at
# most one invoice in one of these (a database constraint says so).
OPEN_STATUSES = frozenset(
    {
        InvoiceStatus.CREATED,
        InvoiceStatus.AWAITING_PAYMENT,
        InvoiceStatus.CONFIRMING,
        InvoiceStatus.UNKNOWN,
    }
)
FINAL_STATUSES = frozenset(set(InvoiceStatus) - OPEN_STATUSES)
# Endings money may still follow (a transfer that lands after the deadline, the rest of
# a partial payment, a declined payment sent again): read back by invoices_sync for
# LATE_PAYMENT_WINDOW. A deactivated link takes no payment, a paid invoice is done.
LATE_PAYMENT_STATUSES = frozenset(
    {
        InvoiceStatus.EXPIRED,
        InvoiceStatus.PARTIALLY_PAID,
        InvoiceStatus.DECLINED,
        InvoiceStatus.LIMITS_OUT_OF_RANGE,
    }
)

# Order of progress among the open statuses: an out-of-order callback never moves an
# invoice back from "confirming" to "awaiting payment".
_OPEN_RANK = {
    InvoiceStatus.CREATED: 0,
    InvoiceStatus.AWAITING_PAYMENT: 1,
    InvoiceStatus.CONFIRMING: 2,
}

# How much of the money a final status says arrived: final statuses only move upwards.
# A decline ranks above a plain expiry: money came and was refused (a payment after
# expiry that failed the provider's checks), which the shop must hear of.
_MONEY_RANK = {
    InvoiceStatus.EXPIRED: 0,
    InvoiceStatus.CANCELLED: 0,
    InvoiceStatus.DECLINED: 1,
    InvoiceStatus.LIMITS_OUT_OF_RANGE: 1,
    InvoiceStatus.PARTIALLY_PAID: 2,
    InvoiceStatus.PAID: 3,
}

ORDER_STATUS_FOR: dict[InvoiceStatus, OrderStatus] = {
    InvoiceStatus.CREATED: OrderStatus.AWAITING_PAYMENT,
    InvoiceStatus.AWAITING_PAYMENT: OrderStatus.AWAITING_PAYMENT,
    InvoiceStatus.CONFIRMING: OrderStatus.AWAITING_PAYMENT,
    InvoiceStatus.UNKNOWN: OrderStatus.AWAITING_PAYMENT,
    InvoiceStatus.PAID: OrderStatus.PAID,
    InvoiceStatus.PARTIALLY_PAID: OrderStatus.PARTIALLY_PAID,
    InvoiceStatus.EXPIRED: OrderStatus.EXPIRED,
    InvoiceStatus.CANCELLED: OrderStatus.CANCELLED,
    InvoiceStatus.DECLINED: OrderStatus.FAILED,
    InvoiceStatus.LIMITS_OUT_OF_RANGE: OrderStatus.FAILED,
}


# Deposit (transaction) statuses as the provider writes them, from the SDK
# (``docs/explanation/provider-api.rst`` ("Statuses")): note the mixed case and the
# single-L "Canceled".
CREDITED_DEPOSIT_STATUSES = ("Processed", "PartiallyProcessed")
_DEPOSIT_RANK = {
    "Created": 0,
    "Processing": 1,
    "Processed": 2,
    "PartiallyProcessed": 2,
    "Canceled": 2,
}


# Transaction types that are money in (``docs/explanation/provider-api.rst``
# ("Transactions"): the SDK knows "Deposit", "Withdraw" and "Refund"; callbacks call a
# deposit "InvoiceDeposit"). An invoice's transactions without a type are its deposits,
# as the SDK describes them. Anything else (a refund, a withdrawal, a type nobody has
# seen yet) is stored and shown, never counted towards what an invoice received.
MONEY_IN_TYPES = ("", "Deposit", "InvoiceDeposit")


# Every deposit status the provider is known to send (the admin's filter offers these).
DEPOSIT_STATUSES = tuple(_DEPOSIT_RANK)


def deposit_may_move(current: str, new: str) -> bool:
    """Whether a deposit in ``current`` may take ``new``: deposits never go back (a
    retried "Processing" after "Processed" is old news). Unknown strings may always be
    taken and left, since nobody knows where they stand."""
    old_rank, new_rank = _DEPOSIT_RANK.get(current), _DEPOSIT_RANK.get(new)
    return old_rank is None or new_rank is None or new_rank >= old_rank


def normalize(
    provider_status: str | None, *, log_extra: Mapping[str, Any] | None = None
) -> InvoiceStatus:
    """Our status for a provider string; unknown strings are logged (with ``log_extra``,
    the ids of the invoice, see ``telemetry.ids``), never fatal."""
    key = (provider_status or "").strip().upper()
    status = PROVIDER_STATUS_MAP.get(key)
    if status is None:
        logger.warning(
            "Unknown KUNA Pay invoice status %r; treated as not final",
            provider_status,
            extra=dict(log_extra or {}),
        )
        return InvoiceStatus.UNKNOWN
    return status


def is_final(status: str) -> bool:
    return status in FINAL_STATUSES


def may_move(current: str, new: str) -> bool:
    """Whether an invoice in ``current`` may take ``new``.

    - PAID is the end: nothing moves a paid invoice again.
    - A final status becomes another final status only when more money arrived: an
      invoice that ended unpaid may still be paid in part or in full (a payment that
      lands after expiry), or declined (one that failed the provider's checks); a
      partial payment may be topped up to paid. Nothing undoes a payment (a late
      TIMEOUT after PARTIALLY_PAID is old news) or a decline.
    - A final status never goes back to an open one (late or replayed callbacks).
    - Among open statuses progress only goes forward; an unknown status is recorded
      over any open status and any open status may follow it.
    """
    if current == new or current == InvoiceStatus.PAID:
        return False
    if is_final(new):
        return not is_final(current) or (
            _MONEY_RANK[InvoiceStatus(new)] > _MONEY_RANK[InvoiceStatus(current)]
        )
    if is_final(current):
        return False
    if InvoiceStatus.UNKNOWN in (current, new):
        return True
    return _OPEN_RANK[InvoiceStatus(new)] > _OPEN_RANK[InvoiceStatus(current)]
