from decimal import Decimal

import pytest

from django_invoices.models import Order
from shop.models import Product, Purchase


@pytest.fixture(autouse=True)
def no_waiting(settings):
    """The client's retries need not wait in tests."""
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "RETRY_BACKOFF": 0}


@pytest.fixture
def purchase(db):
    """The shop's own object: what it sells and ships."""
    tea = Product.objects.create(name="Tea sampler", price=Decimal("18.50"), asset="EUR")
    return Purchase.objects.create(product=tea, email="buyer@example.com")


@pytest.fixture
def order(purchase):
    """django-invoices' order for it, pointing back at it as the shop's checkout does."""
    return Order.objects.create(
        external_order_id=f"shop-{purchase.pk}",
        amount=purchase.amount,
        asset=purchase.product.asset,
        shop_object=purchase,
    )


@pytest.fixture
def buyer(client, order):
    """The browser that placed the order: its session remembers it, as checkout's does."""
    from shop.views import remember

    session = client.session
    remember(session, order)
    session.save()
    return client
