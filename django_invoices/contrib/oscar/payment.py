"""Sending the buyer of a placed Oscar order to its KUNA Pay invoice.

``start_payment`` makes (or finds) this app's order for the Oscar order, through
``services.order_for`` (linked by ``Order.shop_object``, the Oscar order number as
``externalOrderId``, its total and currency as the amount and asset), asks
``services.create_invoice`` for its invoice, and raises Oscar's ``RedirectRequired``
with the invoice's payment page, or one of Oscar's payment errors.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from django.utils.translation import gettext as _

from django_invoices import services
from django_invoices.exceptions import InvoiceCreationError, KunaPayError
from django_invoices.models import Invoice, Order

from . import conf

logger = logging.getLogger("django_invoices.oscar")

DESCRIPTION_LENGTH = 200


def describe(oscar_order: Any) -> str:
    """What the invoice says it is for: the order's lines, shortened."""
    lines = [f"{line.quantity} x {line.title}" for line in oscar_order.lines.all()]
    text = "; ".join(lines) or _("Order %(number)s") % {"number": oscar_order.number}
    if len(text) > DESCRIPTION_LENGTH:
        text = text[: DESCRIPTION_LENGTH - 1].rstrip() + "…"
    return text


def order_of(oscar_order: Any) -> Order:
    """This app's order for the Oscar order (made on the first call)."""
    return services.order_for(
        oscar_order,
        external_order_id=str(oscar_order.number),
        amount=oscar_order.total_incl_tax,
        asset=oscar_order.currency,
        description=describe(oscar_order),
        email=oscar_order.email or "",
        user=oscar_order.user,
    )


def current_invoice(oscar_order: Any) -> Invoice | None:
    """The invoice the buyer of this Oscar order should look at: its open one, else
    its newest; None when it has none (or no app order)."""
    order = services.linked_order(oscar_order)
    if order is None:
        return None
    return services.current_invoices([order]).get(order.pk)


def start_payment(oscar_order: Any) -> NoReturn:
    """Always raises: ``RedirectRequired`` to the payment page of the order's open
    invoice (made if it has none); ``UnableToTakePayment`` when the order cannot be
    paid (paid already, or its reference belongs to another order); ``PaymentError``
    when KUNA Pay cannot be reached or gave no payment page (try again later)."""
    from oscar.apps.payment.exceptions import PaymentError, RedirectRequired, UnableToTakePayment

    try:
        invoice = services.create_invoice(order_of(oscar_order), account=conf.get("ACCOUNT"))
    except InvoiceCreationError as exc:
        logger.info("Oscar order %s cannot be paid: %s", oscar_order.number, exc)
        raise UnableToTakePayment(str(exc)) from exc
    except KunaPayError as exc:
        logger.warning("Oscar order %s: KUNA Pay failed: %s", oscar_order.number, exc)
        raise PaymentError(
            _(
                "We could not reach the payment provider. Your order is saved and nothing "
                "was charged; please try again in a minute."
            )
        ) from exc
    if not invoice.payment_url:
        logger.error("Invoice %s of Oscar order %s has no payment page", invoice, oscar_order)
        raise PaymentError(
            _(
                "The payment page is not available right now. Your order is saved and "
                "nothing was charged; please try again in a minute."
            )
        )
    raise RedirectRequired(invoice.payment_url)
