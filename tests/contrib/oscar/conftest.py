"""Fixtures of the Oscar integration's tests: a product with stock, an order placed
through Oscar's checkout as a guest would place it.

Only under ``tests.contrib.oscar.settings``: the main settings install no Oscar, so a
run on them (``pytest``, nox's ``tests`` sessions, mutmut) leaves this folder out."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

INSTALLED = "django_invoices.contrib.oscar"


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    from django.conf import settings

    if INSTALLED not in settings.INSTALLED_APPS:
        return True
    return None


# Warnings are errors (setup.cfg); these are Oscar's own, not ours to fix.
OSCARS_WARNINGS = [
    # Oscar 4.2's category menu (on every shop page) calls treebeard 7's deprecated
    # Category.get_tree().
    r"ignore:Using Category\.get_tree\(\) is deprecated:DeprecationWarning",
]


def pytest_collection_modifyitems(items) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            for line in OSCARS_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(line))


# -- fixtures (Oscar is imported when they run, never at collection) -------------------

PRICE = Decimal("24.90")
PAYMENT_PAGE = re.compile(r"^https://api\.kunapay\.test/pay/[0-9a-f-]{36}/$")


@pytest.fixture
def product(db):
    """A product in stock (5), bought without shipping (a voucher code, say)."""
    from oscar.test.factories import create_product

    found = create_product(
        title="Coffee subscription", product_class="Subscriptions", price=PRICE, num_in_stock=5
    )
    found.product_class.requires_shipping = False
    found.product_class.save()
    return found


@pytest.fixture
def place_order(client, product):
    """``place_order(quantity=1)``: a guest buys ``product`` through Oscar's checkout (the
    basket, the guest's email, the preview's *Place order*); returns the last response."""
    from django.urls import reverse

    def place(quantity: int = 1, email: str = "buyer@example.com"):
        added = client.post(
            reverse("basket:add", kwargs={"pk": product.pk}), {"quantity": quantity}
        )
        assert added.status_code == 302, added
        # The guest's email, then Oscar's steps as the browser follows them (no address
        # to give: nothing ships) up to the payment details page.
        steps = client.post(
            reverse("checkout:index"), {"username": email, "options": "anonymous"}, follow=True
        )
        assert steps.redirect_chain[-1][0] == reverse("checkout:payment-details"), steps
        return client.post(reverse("checkout:preview"), {"action": "place_order"})

    return place


def oscar_order():
    """The newest Oscar order, as stored."""
    from oscar.core.loading import get_model

    return get_model("order", "Order")._default_manager.order_by("-pk").first()


def app_invoice(order):
    """The newest invoice of this app for an Oscar order."""
    from django_invoices import services

    return services.linked_order(order).invoices.order_by("-pk").first()


def events(order):
    """``[(event type, amount, reference), ...]`` of an Oscar order, oldest first."""
    return [
        (event.event_type.name, event.amount, event.reference)
        for event in order.payment_events.order_by("pk").select_related("event_type")
    ]


def status_changes(order):
    """``[(old, new), ...]`` of an Oscar order's status, oldest first."""
    return list(order.status_changes.order_by("pk").values_list("old_status", "new_status"))


@pytest.fixture
def paid_order(kunapay, place_order):
    """An order placed and paid in full on the sandbox (its callbacks applied)."""
    place_order()
    order = oscar_order()
    kunapay.pay(app_invoice(order))
    order.refresh_from_db()
    return order
