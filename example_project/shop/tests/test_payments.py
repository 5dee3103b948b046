"""A shop's payment tests with the kunapay fixture (docs/howto/testing.rst builds a shop
like this one from scratch)."""

import logging

from django_invoices.models import CallbackEvent


def test_customer_pays_and_the_purchase_ships(kunapay, order, purchase):
    kunapay.pay(order)  # makes the order's invoice, then the buyer pays it in full

    # The sandbox's signed callbacks reached the shop's callback view; its
    # order_paid receiver (shop/receivers.py) shipped the purchase.
    purchase.refresh_from_db()
    assert purchase.shipped


def test_an_expired_invoice_ships_nothing(kunapay, order, purchase):
    kunapay.expire(order)

    order.refresh_from_db()
    purchase.refresh_from_db()
    assert order.status == "expired"
    assert not purchase.shipped


def test_a_repeated_callback_ships_once(kunapay, order, purchase, caplog):
    caplog.set_level(logging.INFO, logger="shop")
    with kunapay.failing("callback_twice"):  # KUNA Pay sends every callback twice
        kunapay.pay(order)

    # The PAID news arrived twice...
    paid = [body for body in kunapay.callbacks() if body["data"].get("status") == "PAID"]
    assert len(paid) == 2
    # ...was stored once, counted twice and applied once...
    event = CallbackEvent.objects.get(provider_status="PAID")
    assert (event.state, event.times_received) == ("applied", 2)
    # ...and the purchase shipped once.
    shipped = [r for r in caplog.records if r.getMessage().startswith("Shipped")]
    assert len(shipped) == 1
