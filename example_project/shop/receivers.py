"""How the example shop reacts to payments: it "ships" a purchase once paid."""

import logging

from django.dispatch import receiver

from django_invoices.signals import order_paid

from .models import Purchase

logger = logging.getLogger("shop")


@receiver(order_paid)
def ship_purchase(sender, order, invoice, **kwargs):  # type: ignore[no-untyped-def]
    purchase = order.shop_object
    if not isinstance(purchase, Purchase):
        return  # an order of someone else's making
    # One conditional UPDATE: whoever flips the flag ships, so nothing ships twice.
    if Purchase.objects.filter(pk=purchase.pk, shipped=False).update(shipped=True):
        logger.info("Shipped %s (paid through invoice %s)", purchase, invoice)
