"""The late-payment window: which invoices the provider may still move.

Open invoices, and invoices that ended unpaid (expired, partly paid, declined) within
``LATE_PAYMENT_WINDOW``, so a payment that lands late still counts. The sweep reads
these back; a refused callback about one of them has it read.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone as dj_timezone

from .. import conf
from ..models import Invoice
from ..statuses import LATE_PAYMENT_STATUSES, OPEN_STATUSES, OrderStatus


def may_still_change(invoice: Invoice, *, now: datetime | None = None) -> bool:
    """Whether the provider may still move this invoice: open, or ended unpaid (expired,
    partly paid, declined) within ``LATE_PAYMENT_WINDOW``, so a late payment counts."""
    if invoice.is_open:
        return True
    if invoice.status not in LATE_PAYMENT_STATUSES or invoice.order.status == OrderStatus.PAID:
        return False
    ended = invoice.expires_at or invoice.completed_at or invoice.created_at
    return ended is None or ended >= (now or dj_timezone.now()) - conf.late_payment_window()


def changeable_invoices(*, now: datetime | None = None) -> QuerySet[Invoice]:
    """Invoices ``may_still_change`` holds for, of accounts still configured (one of a
    removed account could never be read, and would crowd out the others)."""
    since = (now or dj_timezone.now()) - conf.late_payment_window()
    return (
        Invoice.objects.filter(account__in=conf.account_names())
        .annotate(ended=Coalesce("expires_at", "completed_at", "created_at"))
        .filter(
            Q(status__in=sorted(OPEN_STATUSES))
            | Q(status__in=sorted(LATE_PAYMENT_STATUSES), ended__gte=since)
            & ~Q(order__status=OrderStatus.PAID)
        )
    )
