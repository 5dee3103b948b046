"""``services.order_for``: the app's order for an object of the shop's own, made once."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError

from django_invoices import services
from django_invoices.exceptions import InvoiceCreationError
from django_invoices.models import Order


@pytest.fixture
def shop_object(db):
    """Any saved model instance stands for the shop's order; a user will do."""
    return get_user_model().objects.create(username="shop-order-7")


def make(shop_object, **changes):
    options = {
        "external_order_id": "oscar-100007",
        "amount": Decimal("24.90"),
        "asset": "EUR",
        "description": "1 x Coffee",
        "email": "buyer@example.com",
        **changes,
    }
    return services.order_for(shop_object, **options)


def test_the_first_call_makes_the_order_linked_to_the_object(shop_object):
    order = make(shop_object, user=shop_object)

    stored = Order.objects.get()
    assert stored.pk == order.pk
    assert stored.shop_object == shop_object
    assert (stored.content_type, stored.object_id) == (
        ContentType.objects.get_for_model(shop_object),
        str(shop_object.pk),
    )
    assert (stored.external_order_id, stored.amount, stored.asset) == (
        "oscar-100007",
        Decimal("24.90"),
        "EUR",
    )
    assert (stored.description, stored.email, stored.user) == (
        "1 x Coffee",
        "buyer@example.com",
        shop_object,
    )
    assert services.linked_order(shop_object) == stored


def test_later_calls_return_the_same_order_unchanged(shop_object):
    first = make(shop_object)
    Order.objects.filter(pk=first.pk).update(status="awaiting_payment")

    again = make(shop_object, description="changed", email="other@example.com")

    assert again.pk == first.pk
    assert Order.objects.count() == 1
    assert (again.status, again.description, again.email) == (
        "awaiting_payment",
        "1 x Coffee",
        "buyer@example.com",
    )


def test_another_objects_reference_is_refused(shop_object):
    make(shop_object)
    other = get_user_model().objects.create(username="another-order")

    with pytest.raises(InvoiceCreationError, match="already used by another order") as caught:
        make(other)
    assert caught.value.order_status == "new"
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"amount": Decimal("25")}, "was sent to pay 24.9 EUR; it now asks for 25 EUR"),
        ({"asset": "USD"}, "was sent to pay 24.9 EUR; it now asks for 24.9 USD"),
    ],
)
def test_another_amount_or_asset_is_refused(shop_object, changes, said):
    make(shop_object)

    with pytest.raises(InvoiceCreationError, match=said):
        make(shop_object, **changes)
    assert Order.objects.get().amount == Decimal("24.90")


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": 24.9},
        {"amount": Decimal("0")},
        {"amount": Decimal("-1")},
        {"amount": Decimal("NaN")},
        {"external_order_id": ""},
        {"external_order_id": "x" * 129},
    ],
)
def test_what_cannot_be_an_order_is_a_value_error(shop_object, changes):
    with pytest.raises(ValueError):
        make(shop_object, **changes)
    assert not Order.objects.exists()


def test_an_unsaved_object_is_a_value_error(db):
    with pytest.raises(ValueError, match="saved object"):
        make(get_user_model()(username="unsaved"))


def test_an_anonymous_buyer_and_a_long_email_are_stored_as_they_fit(shop_object):
    from django.contrib.auth.models import AnonymousUser

    order = make(shop_object, user=AnonymousUser(), email="a" * 300 + "@example.com")

    assert order.user is None
    assert len(order.email) == Order._meta.get_field("email").max_length


def test_a_concurrent_first_call_finds_the_order_the_other_made(shop_object, monkeypatch):
    made = make(shop_object)
    real = Order.objects.get_or_create

    def lost_the_race(**kwargs):
        monkeypatch.setattr(Order.objects, "get_or_create", real)
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(Order.objects, "get_or_create", lost_the_race)

    assert make(shop_object).pk == made.pk
