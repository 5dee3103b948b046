"""The buyer's way back (Oscar's thank-you page, or the order's payment page) and the
invoices on the dashboard's order page."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from .conftest import app_invoice, oscar_order


def back_from_kunapay(kunapay, invoice):
    """The path the sandbox's *Back to the shop* button leads to, and the 'orderId'."""
    from django_invoices.sandbox import wire

    url = urlsplit(wire.return_url(kunapay.get(invoice)))
    return f"{url.path}?{url.query}"


@pytest.fixture
def placed(kunapay, place_order):
    place_order()
    order = oscar_order()
    return order, app_invoice(order)


def test_paid_the_buyer_comes_back_to_oscars_thank_you_page(kunapay, placed, client):
    order, invoice = placed
    kunapay.pay(invoice)

    back = client.get(back_from_kunapay(kunapay, invoice), follow=True)

    assert back.redirect_chain[-1][0] == reverse("checkout:thank-you")
    assert f"Order {order.number}: confirmation" in back.content.decode()


def test_while_the_invoice_is_open_the_buyer_waits_on_the_orders_payment_page(
    kunapay, placed, client
):
    _order, invoice = placed

    back = client.get(back_from_kunapay(kunapay, invoice), follow=True)

    assert back.redirect_chain[-1][0] == reverse("django_invoices_oscar:waiting")
    page = back.content.decode()
    assert 'data-state="pending"' in page
    assert "Waiting for confirmation of your payment" in page
    assert f'href="{invoice.payment_url}" data-payment-page' in page
    assert '<meta http-equiv="refresh" content="10">' in page
    # Paid meanwhile: the same page takes the buyer to the thank-you page.
    kunapay.pay(invoice)
    assert client.get(reverse("django_invoices_oscar:waiting"))["Location"] == reverse(
        "checkout:thank-you"
    )


def test_an_expired_invoice_says_the_payment_was_not_completed(kunapay, placed, client):
    order, invoice = placed
    kunapay.expire(invoice)

    page = client.get(back_from_kunapay(kunapay, invoice), follow=True).content.decode()

    assert 'data-state="failed"' in page
    assert "Your payment was not completed" in page
    assert "data-pay>" not in page and 'http-equiv="refresh"' not in page
    # Paying an ended order again is refused: the stock went back already.
    again = client.post(reverse("django_invoices_oscar:pay"))
    assert again["Location"] == reverse("django_invoices_oscar:waiting")
    assert app_invoice(order).pk == invoice.pk


def test_only_the_browser_that_placed_the_order_sees_its_page(placed):
    stranger = Client()
    assert stranger.get(reverse("django_invoices_oscar:waiting")).status_code == 404
    assert stranger.post(reverse("django_invoices_oscar:pay")).status_code == 404


def test_kuna_pay_down_at_checkout_leaves_the_order_waiting_with_a_way_to_pay(
    kunapay, place_order, client
):
    with kunapay.failing("api_error"):
        response = place_order()

    order = oscar_order()
    assert order.status == "Pending payment"
    assert response["Location"] == reverse("django_invoices_oscar:waiting")
    page = client.get(response["Location"]).content.decode()
    assert "We could not reach the payment provider" in page
    assert 'data-state="no-invoice"' in page and "data-pay" in page

    # KUNA Pay is back: the button makes the invoice and sends the buyer there.
    paying = client.post(reverse("django_invoices_oscar:pay"))
    invoice = app_invoice(order)
    assert paying["Location"] == invoice.payment_url
    kunapay.pay(invoice)
    order.refresh_from_db()
    assert order.status == "Paid"


def test_the_dashboard_order_page_shows_the_invoice_and_its_deposit(kunapay, placed, admin_client):
    order, invoice = placed
    kunapay.pay(invoice)
    deposit = invoice.deposits.get()

    page = admin_client.get(reverse("dashboard:order-detail", kwargs={"number": order.number}))

    text = page.content.decode()
    assert page.status_code == 200
    assert f'data-invoice="{invoice.provider_id}"' in text
    admin_url = reverse("admin:django_invoices_invoice_change", args=[invoice.pk])
    assert f'<a href="{admin_url}">{invoice.provider_id}</a>' in text
    assert "<td data-invoice-status>Paid</td>" in text
    assert f"{deposit.amount.normalize():f} {deposit.asset} · Processed" in text
    assert reverse("admin:django_invoices_order_change", args=[invoice.order_id]) in text
    # Oscar's own tables are all there too: its payment events list the settlement.
    assert "Settled" in text
