"""The app's order for an order a shop keeps in its own model (an Oscar order, say).

Integrations (``django_invoices.contrib``) and shops that already have an order object
call ``order_for`` instead of writing ``Order`` rows themselves: the app's order is made
once, linked to that object through ``Order.shop_object``, and found on every later
call (``linked.linked_order`` finds it from the object).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _

from ..exceptions import InvoiceCreationError
from ..models import Order
from .fields import max_length


def order_for(
    shop_object: models.Model,
    *,
    external_order_id: str,
    amount: Decimal,
    asset: str,
    description: str = "",
    email: str = "",
    user: Any = None,
) -> Order:
    """The ``Order`` for ``shop_object`` (a saved model instance), made on the first call.

    ``external_order_id`` (KUNA Pay's ``externalOrderId``) is the key: a later call with
    the same id returns the same order, unchanged. It raises ``InvoiceCreationError``
    when that order belongs to another object or asks for another amount or asset (the
    id was reused, or the shop's order changed after it was first sent to pay), and
    ``ValueError`` for an unsaved object, an amount that is not a positive ``Decimal``
    or an id that is empty or too long to store. ``email`` is cut to what the model
    stores.
    """
    if shop_object.pk is None:
        raise ValueError("order_for needs a saved object to link the order to")
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValueError(f"order_for needs a positive Decimal amount, not {amount!r}")
    if not external_order_id or len(external_order_id) > max_length(Order, "external_order_id"):
        raise ValueError(f"external_order_id {external_order_id[:40]!r} cannot be stored")
    content_type = ContentType.objects.get_for_model(shop_object)
    object_id = str(shop_object.pk)
    wanted = {
        "amount": amount,
        "asset": asset,
        "description": description,
        "email": email[: max_length(Order, "email")],
        "user": user if getattr(user, "pk", None) is not None else None,
        "content_type": content_type,
        "object_id": object_id,
    }
    try:
        # A savepoint: a concurrent call may win the unique external_order_id.
        with transaction.atomic():
            order, created = Order.objects.get_or_create(
                external_order_id=external_order_id, defaults=wanted
            )
    except IntegrityError:
        order, created = Order.objects.get(external_order_id=external_order_id), False
    if created:
        return order
    if (order.content_type_id, order.object_id) != (content_type.pk, object_id):
        raise InvoiceCreationError(
            _("Order reference %(reference)s is already used by another order.")
            % {"reference": external_order_id},
            order_status=order.status,
        )
    if order.amount != amount or order.asset != asset:
        raise InvoiceCreationError(
            _(
                "Order %(reference)s was sent to pay %(old)s %(old_asset)s; it now asks "
                "for %(new)s %(new_asset)s."
            )
            % {
                "reference": external_order_id,
                "old": f"{order.amount.normalize():f}",
                "old_asset": order.asset,
                "new": f"{amount.normalize():f}",
                "new_asset": asset,
            },
            order_status=order.status,
        )
    return order
