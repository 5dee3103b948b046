"""Placing an order through Oscar's checkout sends the buyer to its KUNA Pay invoice."""

from __future__ import annotations

from decimal import Decimal

from django_invoices import services

from .conftest import PAYMENT_PAGE, app_invoice, oscar_order


def test_the_order_is_placed_pending_payment_and_the_buyer_sent_to_its_invoice(
    kunapay, place_order, client, product
):
    response = place_order(quantity=2)

    order = oscar_order()
    assert order.status == "Pending payment"
    assert order.total_incl_tax == Decimal("49.80")
    assert response.status_code == 302
    invoice = app_invoice(order)
    assert response["Location"] == invoice.payment_url
    assert PAYMENT_PAGE.match(invoice.payment_url)
    # Created through the services: the Oscar order's number, total and currency.
    app_order = services.linked_order(order)
    assert app_order.shop_object == order
    assert (app_order.external_order_id, app_order.amount, app_order.asset) == (
        order.number,
        Decimal("49.80"),
        "EUR",
    )
    remote = kunapay.data(invoice)
    assert (remote["externalOrderId"], remote["invoiceAmount"], remote["invoiceAssetCode"]) == (
        order.number,
        "49.8",
        "EUR",
    )
    # Oscar's own steps happened: stock allocated, the basket submitted, the order
    # remembered for the thank-you page.
    assert product.stockrecords.get().num_allocated == 2
    assert order.basket.status == "Submitted"
    assert client.session["checkout_order_id"] == order.pk
