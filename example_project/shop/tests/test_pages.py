"""The example shop's pages: checkout, the order page, paying again, the demo setup."""

import logging
from io import StringIO

from django.core.management import call_command
from django.urls import reverse

from django_invoices.models import Order
from shop.models import Purchase


def checkout(client, purchase):
    return client.post(
        reverse("shop:checkout", args=[purchase.product.pk]), {"email": "buyer@example.com"}
    )


def test_checkout_sends_the_customer_to_the_payment_page(kunapay, client, purchase):
    response = checkout(client, purchase)
    order = Order.objects.get()  # the one the checkout made
    assert response.status_code == 302
    assert response["Location"] == order.invoices.get().payment_url


def test_provider_down_at_checkout_then_retrying_pays_the_same_order(kunapay, client, purchase):
    with kunapay.failing("api_error"):
        response = checkout(client, purchase)
    (order,) = Order.objects.all()
    page = reverse("shop:order", args=[order.external_order_id])
    assert (response.status_code, response["Location"]) == (302, page)

    shown = client.get(page).content.decode()
    assert "We could not reach the payment provider" in shown  # the message, on the order
    assert 'id="pay"' in shown

    retried = client.post(reverse("shop:pay", args=[order.external_order_id]))
    assert retried.status_code == 302
    assert retried["Location"] == order.invoices.get().payment_url
    assert Order.objects.count() == 1  # no stray order left "new" for ever
    assert Purchase.objects.count() == 2  # the fixture's and the checkout's


def test_after_expiry_the_customer_pays_the_same_order_again(kunapay, buyer, order, purchase):
    first = kunapay.expire(order)
    back = buyer.get(
        "/invoices/return/", {"invoiceId": str(first.pk), "orderId": order.external_order_id}
    )
    page = back.content.decode()
    assert "Your payment was not completed" in page
    again = reverse("shop:pay", args=[order.external_order_id])
    assert f'action="{again}"' in page and "data-pay-again" in page

    response = buyer.post(again)
    second = order.invoices.order_by("-created_at").first()
    assert response["Location"] == second.payment_url
    assert str(second.provider_id) != str(first.pk)

    kunapay.pay(second)
    order.refresh_from_db()
    purchase.refresh_from_db()
    assert (order.status, purchase.shipped, Order.objects.count()) == ("paid", True, 1)
    assert (
        "data-pay-again"
        not in buyer.get(
            "/invoices/return/", {"invoiceId": str(second.provider_id), "orderId": str(order)}
        ).content.decode()
    )


def test_the_order_page_offers_no_payment_once_paid(kunapay, buyer, order):
    kunapay.pay(order)
    page = buyer.get(reverse("shop:order", args=[order.external_order_id])).content.decode()
    assert "Paid" in page and "shipped" in page
    assert 'id="pay"' not in page
    assert buyer.get(reverse("shop:order", args=["shop-0-nothing"])).status_code == 404


def test_demo_setup_prints_the_shops_own_address(db, settings):
    settings.SHOP_BASE_URL = "http://127.0.0.1:8123"
    out = StringIO()
    call_command("demo_setup", stdout=out)
    assert "  shop:  http://127.0.0.1:8123/" in out.getvalue()
    assert "  admin: http://127.0.0.1:8123/admin/" in out.getvalue()
    assert "8000" not in out.getvalue()


def test_the_shop_logger_has_a_handler():
    # Without one, "Shipped ..." never reaches the runserver console.
    assert logging.getLogger("shop").handlers
