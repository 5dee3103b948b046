"""Only the buyer sees or pays an order: the browser that placed it, or the holder of
its signed link. Anyone else who knows the reference gets the 404 of a missing order."""

import re
import time

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from django_invoices.models import Order
from shop import views
from shop.models import Purchase


def pay_url(order, token=None):
    url = reverse("shop:pay", args=[order.external_order_id])
    return f"{url}?token={token}" if token else url


def page_url(order):
    return reverse("shop:order", args=[order.external_order_id])


@pytest.fixture
def other_order(purchase):
    return Order.objects.create(
        external_order_id=f"shop-{purchase.pk}-other", amount=purchase.amount, asset="EUR"
    )


def test_a_stranger_who_knows_the_reference_gets_404(kunapay, client, order):
    missing = client.get(reverse("shop:order", args=["shop-0-nothing"]))
    assert missing.status_code == 404
    for method, url in (
        ("get", pay_url(order)),
        ("post", pay_url(order)),
        ("get", page_url(order)),
        ("post", page_url(order)),
    ):
        answer = getattr(client, method)(url)
        assert answer.status_code == 404, (method, url)
        # The very page of a reference that does not exist: nothing is confirmed.
        assert answer.content == missing.content, (method, url)
        assert order.external_order_id not in answer.content.decode()
    assert not order.invoices.exists()  # no invoice made, no payment page's address given
    assert views.SESSION_KEY not in client.session


def test_the_buyers_session_pays(kunapay, client, purchase):
    placed = client.post(
        reverse("shop:checkout", args=[purchase.product.pk]), {"email": "buyer@example.com"}
    )
    order = Order.objects.get()
    assert client.session[views.SESSION_KEY] == [order.external_order_id]
    assert placed["Location"] == order.invoices.get().payment_url

    assert client.get(page_url(order)).status_code == 200
    # A GET of the pay link changes nothing: it shows the buyer the order's page.
    shown = client.get(pay_url(order))
    assert (shown.status_code, shown["Location"]) == (302, page_url(order))
    paid = client.post(pay_url(order))
    assert (paid.status_code, paid["Location"]) == (302, order.invoices.get().payment_url)

    kunapay.pay(order)
    purchase = Purchase.objects.get(pk=order.shop_object.pk)
    assert purchase.shipped
    # Someone else's browser still gets nothing.
    assert Client().get(page_url(order)).status_code == 404


def test_a_signed_link_pays_from_another_browser(kunapay, order, other_order):
    link = views.order_link(order)
    elsewhere = Client()
    page = elsewhere.get(link)
    assert page.status_code == 200
    assert order.external_order_id in page.content.decode()
    # The page carries a link, for the buyer to keep; it is the order's own (its token is
    # signed with the time, so it may differ from ``link`` by the second it was made).
    shown = re.search(
        r'data-order-link style="word-break: break-all">http://testserver([^<]+)<',
        page.content.decode(),
    )
    assert shown is not None
    assert shown[1].startswith(f"/order/{order.external_order_id}/?token=")
    assert Client().get(shown[1].replace("&amp;", "&")).status_code == 200
    # The link's holder goes on in this browser: its form posts without the token.
    paid = elsewhere.post(pay_url(order))
    assert (paid.status_code, paid["Location"]) == (302, order.invoices.get().payment_url)
    assert elsewhere.get(pay_url(other_order)).status_code == 404  # that order only

    # The token also works on the pay link itself, in the query string or the form.
    token = link.split("?token=", 1)[1]
    assert Client().post(pay_url(order, token)).status_code == 302
    assert Client().post(pay_url(order), {"token": token}).status_code == 302
    assert order.invoices.count() == 1  # the open invoice, each time


def token_of(order):
    return views.order_link(order).split("?token=", 1)[1]


def another_orders(order, other, monkeypatch):
    return token_of(other)


def tampered_signature(order, other, monkeypatch):
    token = token_of(order)
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def tampered_payload(order, other, monkeypatch):
    """The other order's reference, under this order's signature."""
    token = token_of(order)
    return token_of(other).split(":")[0] + token[token.index(":") :]


def unsalted(order, other, monkeypatch):
    """Signed with the site's key, but not as an order link (another salt: none)."""
    return signing.dumps(order.external_order_id)


def expired(order, other, monkeypatch):
    then = int(time.time()) - views.LINK_MAX_AGE - 60
    with monkeypatch.context() as patched:
        patched.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(then))
        return token_of(order)


def empty(order, other, monkeypatch):
    return ""


@pytest.mark.parametrize(
    "forge", [another_orders, tampered_signature, tampered_payload, unsalted, expired, empty]
)
def test_a_tampered_or_another_orders_token_gets_404(
    kunapay, client, order, other_order, forge, monkeypatch
):
    token = forge(order, other_order, monkeypatch)
    assert client.get(page_url(order) + "?token=" + token).status_code == 404
    assert client.get(pay_url(order, token)).status_code == 404
    assert client.post(pay_url(order, token)).status_code == 404
    assert client.post(pay_url(order), {"token": token}).status_code == 404
    assert not order.invoices.exists()
    assert views.SESSION_KEY not in client.session


def test_the_session_remembers_the_last_orders_only(client, order):
    session = client.session
    for n in range(views.REMEMBERED + 5):
        views.remember(session, Order(external_order_id=f"old-{n}"))
    views.remember(session, order)
    views.remember(session, order)  # once, however often
    session.save()
    remembered = client.session[views.SESSION_KEY]
    assert len(remembered) == views.REMEMBERED
    assert remembered[-1] == order.external_order_id
    assert remembered.count(order.external_order_id) == 1
    assert "old-0" not in remembered
    assert client.get(page_url(order)).status_code == 200
