"""Reading back an order linked to a shop's own object, and what an order received.

``orders.order_for`` links the app's ``Order`` to a shop's object (a django-payments
``Payment``, an Oscar order) through ``Order.shop_object``; ``linked_order`` finds it
again from that object, and ``order_received`` says how much arrived, in the order's
own asset, so an adapter (``django_invoices.contrib``) never reads deposits itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType

from ..models import Invoice, Order
from ..statuses import InvoiceStatus
from .transitions import credited_gross


def linked_order(shop_object: Any) -> Order | None:
    """The newest order linked to ``shop_object`` (a saved model instance), or None."""
    if getattr(shop_object, "pk", None) is None:
        return None
    return (
        Order.objects.filter(
            content_type=ContentType.objects.get_for_model(shop_object),
            object_id=str(shop_object.pk),
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def invoice_received(invoice: Invoice) -> Decimal:
    """What the invoice's credited deposits brought, fees included, in the invoice's
    own asset (``invoice_asset``), not rounded.

    Deposits are in the payment asset; they are converted at the invoice's own rate
    (``invoice_amount`` for ``payment_amount``), so paying exactly what was asked
    counts as exactly ``invoice_amount``. An invoice paid in its own asset needs no
    rate. A paid invoice without credited deposits or without a payment amount counts
    as ``invoice_amount`` (paid means paid in full); any other as nothing.
    """
    gross = credited_gross(invoice)
    if gross and invoice.payment_asset in ("", invoice.invoice_asset):
        return gross
    if gross and invoice.payment_amount:
        return invoice.invoice_amount * gross / invoice.payment_amount
    # Paid, but the deposits or the rate are not known here: paid means paid in full.
    return invoice.invoice_amount if invoice.status == InvoiceStatus.PAID else Decimal("0")


def order_received(order: Order) -> Decimal:
    """What all of the order's invoices received (``invoice_received``), in the order's
    asset: more than one may have been paid (one after it expired, say)."""
    return sum((invoice_received(invoice) for invoice in order.invoices.all()), start=Decimal("0"))
