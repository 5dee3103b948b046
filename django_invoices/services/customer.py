"""The customer's way back: lookups and throttled re-reads for the return view, the
checkout helper and the REST API. Everything a customer can set off by reloading a page
is limited here, per invoice.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.utils import timezone as dj_timezone

from .. import conf, telemetry
from ..exceptions import (
    KunaPayError,
)
from ..models import Invoice, Order
from ..statuses import (
    InvoiceStatus,
    OrderStatus,
)
from . import reads
from .fields import max_length
from .transitions import credited_gross
from .window import may_still_change

logger = logging.getLogger("django_invoices")


# What the customer is told about an invoice, and which of the shop's pages they get.
OUTCOME_PAID = "paid"
OUTCOME_PENDING = "pending"
OUTCOME_FAILED = "failed"
OUTCOMES = (OUTCOME_PAID, OUTCOME_PENDING, OUTCOME_FAILED)

_ATTEMPT_KEY = "django_invoices:refresh-attempt:{pk}"


def payment_outcome(invoice: Invoice) -> str:
    """``"paid"``, ``"pending"`` or ``"failed"`` for the customer holding this invoice.

    A paid order counts as paid whichever of its invoices the customer returns with.
    Every final status other than paid (expired, deactivated, declined, partially paid,
    out of limits) is a failure from the customer's point of view.
    """
    if invoice.status == InvoiceStatus.PAID or invoice.order.status == OrderStatus.PAID:
        return OUTCOME_PAID
    if invoice.is_open:
        return OUTCOME_PENDING
    return OUTCOME_FAILED


def overpayment(invoice: Invoice) -> tuple[Decimal, Decimal] | None:
    """``(received, due)`` in the payment asset when a paid invoice got more than due."""
    if invoice.status != InvoiceStatus.PAID or invoice.payment_amount is None:
        return None
    received = credited_gross(invoice)
    return (received, invoice.payment_amount) if received > invoice.payment_amount else None


def parse_invoice_id(value: Any) -> uuid.UUID | None:
    """The UUID in ``value`` when it is written in the usual 8-4-4-4-12 form, else None."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value.lower() else None


def find_customer_invoice(invoice_id: Any, order_id: Any) -> Invoice | None:
    """The invoice a customer names by ``invoiceId`` and ``orderId``, with its order.

    Both must be given and belong together: an unknown invoice, a malformed id and an
    ``orderId`` of another order all answer None, so a caller cannot tell them apart
    and learns nothing about other orders.
    """
    pk = parse_invoice_id(invoice_id)
    if (
        pk is None
        or not isinstance(order_id, str)
        or not order_id
        or len(order_id) > max_length(Order, "external_order_id")
        or "\x00" in order_id  # PostgreSQL refuses the query itself
    ):
        return None
    # get() rather than first(): a unique key needs no ORDER BY (the model's ordering).
    try:
        return Invoice.objects.select_related("order").get(
            provider_id=pk, order__external_order_id=order_id
        )
    except Invoice.DoesNotExist:
        return None


def get_order(external_order_id: str) -> Order | None:
    """The order with this ``external_order_id`` (what KUNA Pay calls ``orderId``)."""
    return Order.objects.filter(external_order_id=external_order_id).first()


@dataclass(frozen=True)
class Refresh:
    """What ``refresh_if_stale`` did: the invoice as stored afterwards, whether the
    provider was asked, and the provider's error if asking failed."""

    invoice: Invoice
    refreshed: bool
    error: KunaPayError | None = None


def refresh_if_stale(
    invoice: Invoice, *, min_interval: float | None = None, late_payments: bool = False
) -> Refresh:
    """Re-read an unsettled invoice from the provider unless that was done recently.

    ``invoice`` should be freshly loaded (with its order): the decision is made on it.

    Nothing is asked when the invoice is settled (final status or paid order), when it
    was synced less than ``min_interval`` seconds ago (default: the
    ``REFRESH_MIN_INTERVAL`` setting), or when another attempt, even a failed one, is
    that recent: ``cache.add`` lets one of many simultaneous reloads ask. No row is
    locked while the provider answers (a callback for the same invoice must not wait
    behind a customer's page); the answer is applied through ``apply_invoice_data``, the
    same locked transition callbacks use. The read has the short timeout of
    ``get_client(fast=True)``, since a customer is waiting. Provider errors are logged
    and returned, never raised: the customer still gets a page.

    ``late_payments`` also reads an invoice that ended unpaid within
    ``LATE_PAYMENT_WINDOW`` (see ``sync.may_still_change``): a refused callback about
    it may be a late payment under a signature we do not understand.
    """
    interval = float(conf.get("REFRESH_MIN_INTERVAL") if min_interval is None else min_interval)
    now = dj_timezone.now()
    if late_payments:
        if not may_still_change(invoice, now=now):
            return Refresh(invoice, refreshed=False)
    elif payment_outcome(invoice) != OUTCOME_PENDING:
        return Refresh(invoice, refreshed=False)
    if interval > 0:
        synced = invoice.synced_at
        if synced is not None and (now - synced).total_seconds() < interval:
            return Refresh(invoice, refreshed=False)
        attempt_key = _ATTEMPT_KEY.format(pk=invoice.pk)
        if not cache.add(attempt_key, now.timestamp(), timeout=max(1, math.ceil(interval))):
            return Refresh(invoice, refreshed=False)
    try:
        return Refresh(reads.read_and_apply(invoice, fast=True).invoice, refreshed=True)
    except KunaPayError as exc:
        logger.warning(
            "Could not re-read invoice %s from KUNA Pay: %s",
            invoice,
            exc,
            extra=telemetry.ids(invoice=invoice),
        )
        return Refresh(_reread(invoice), refreshed=False, error=exc)


def _reread(invoice: Invoice) -> Invoice:
    return Invoice.objects.select_related("order").get(pk=invoice.pk)
