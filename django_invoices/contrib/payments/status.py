"""How an order's ending becomes a django-payments ``Payment`` status.

The order's status says how its invoices ended (``docs/explanation/payment-endings.rst``);
the ``Payment`` linked to it follows this table, with ``captured_amount`` set to what
the order received (``services.order_received``) and ``message`` saying what was odd:

=====================================  =============  ==========================
The order                              ``Payment``    ``captured_amount``
=====================================  =============  ==========================
new, awaiting payment                  unchanged      unchanged
paid (also overpaid, also paid late)   ``confirmed``  what arrived (may be more)
partly paid                            ``error``      what arrived (less)
expired, deactivated, declined         ``rejected``   0
=====================================  =============  ==========================

A ``Payment`` only moves up ``waiting``/``input`` → ``rejected`` → ``error`` →
``confirmed``, as the money it saw grows (a payment after expiry turns a rejected
Payment confirmed). Statuses the contrib never sets (``preauth``, ``refunded``,
``cancelled``) are the shop's: such a Payment is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils.translation import gettext
from payments import PaymentStatus, get_payment_model

from django_invoices import services
from django_invoices.amounts import format_amount
from django_invoices.statuses import InvoiceStatus, OrderStatus

PAYMENT_STATUS_FOR: dict[str, str] = {
    OrderStatus.PAID: PaymentStatus.CONFIRMED,
    OrderStatus.PARTIALLY_PAID: PaymentStatus.ERROR,
    OrderStatus.EXPIRED: PaymentStatus.REJECTED,
    OrderStatus.CANCELLED: PaymentStatus.REJECTED,
    OrderStatus.FAILED: PaymentStatus.REJECTED,
}

# How much of the money a status the contrib sets has seen; a Payment moves up only.
RANK: dict[str, int] = {
    PaymentStatus.WAITING: 0,
    PaymentStatus.INPUT: 0,
    PaymentStatus.REJECTED: 1,
    PaymentStatus.ERROR: 2,
    PaymentStatus.CONFIRMED: 3,
}


@dataclass(frozen=True)
class Target:
    """Where an order's ``Payment`` should stand."""

    status: str
    captured_amount: Decimal
    message: str


def shown(amount: Decimal, asset: str) -> str:
    """An amount for people: no exponent, at least two decimals."""
    whole, _, fraction = format_amount(amount).partition(".")
    return f"{whole}.{fraction.ljust(2, '0')} {asset}"


def target(order: Any, *, places: int = 2) -> Target | None:
    """Where the ``Payment`` of ``order`` should stand (None while the order is open).

    ``captured_amount`` is rounded down to ``places`` decimals (the Payment's field):
    never more than arrived.
    """
    status = PAYMENT_STATUS_FOR.get(order.status)
    if status is None:
        return None
    received = services.order_received(order).quantize(
        Decimal(1).scaleb(-places), rounding=ROUND_DOWN
    )
    return Target(status, received, message(order, received))


def message(order: Any, received: Decimal) -> str:
    """What ``Payment.message`` says about an order's ending, in the active language."""
    amounts = gettext("Received %(received)s of the %(due)s due.") % {
        "received": shown(received, order.asset),
        "due": shown(order.amount, order.asset),
    }
    if order.status == OrderStatus.PAID:
        said = []
        if order.invoices.filter(status=InvoiceStatus.PAID, expired_once=True).exists():
            said.append(gettext("A payment is reported after the invoice expired") + ".")
        if received > order.amount:
            said.append(amounts)
        return " ".join(said)
    if order.status == OrderStatus.PARTIALLY_PAID:
        return f"{gettext('Only part of the amount was paid.')} {amounts}"
    if order.status == OrderStatus.EXPIRED:
        return gettext("The invoice expired.")
    if order.status == OrderStatus.FAILED:
        return gettext("The payment was declined.")
    return str(InvoiceStatus.CANCELLED.label)


def sync_payment(payment: Any) -> Any:
    """Bring ``payment`` in step with its order; return it as stored.

    Safe to call at any time, twice or at the same time as a callback: under the
    Payment's row lock, the stored Payment is compared with ``target`` and moved
    (``change_status``, which sends django-payments' ``status_changed``) only when the
    target stands higher (``RANK``). At the same status, a ``captured_amount`` that grew
    (an overpayment, a second part payment) and the message are updated, without a
    signal. Call it for a Payment whose move was rolled back by a failing
    ``status_changed`` receiver; the next outcome signal or the buyer's return does too.
    """
    return _sync(type(payment), payment.pk)


def sync_order(order: Any) -> None:
    """``sync_payment`` for the ``Payment`` an order is linked to, if any."""
    model = get_payment_model()
    if order.content_type_id != ContentType.objects.get_for_model(model).pk:
        return  # another framework's order, or the shop's own
    _sync(model, order.object_id)


def _sync(model: Any, pk: Any) -> Any:
    with transaction.atomic():
        payment = model._default_manager.select_for_update().filter(pk=pk).first()
        if payment is None or payment.status not in RANK:
            return payment
        order = services.linked_order(payment)
        if order is None:
            return payment
        places = model._meta.get_field("captured_amount").decimal_places
        wanted = target(order, places=places)
        if wanted is None:
            return payment
        if RANK[wanted.status] > RANK[payment.status]:
            # Saved before the move, so status_changed receivers read both as stored.
            payment.captured_amount = wanted.captured_amount
            payment.save(update_fields=["captured_amount"])
            payment.change_status(wanted.status, wanted.message)
        elif wanted.status == payment.status and (
            wanted.captured_amount > payment.captured_amount or wanted.message != payment.message
        ):
            payment.captured_amount = max(wanted.captured_amount, payment.captured_amount)
            payment.message = wanted.message
            payment.save(update_fields=["captured_amount", "message"])
    return payment
