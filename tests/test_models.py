from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from django_invoices.models import Invoice, Order
from django_invoices.statuses import InvoiceStatus, OrderStatus


@pytest.mark.django_db
def test_order_creation_works_as_written_in_the_issue():
    order = Order.objects.create(external_order_id="A-1", amount=Decimal("42.50"), asset="EUR")
    order.refresh_from_db()
    assert order.status == "new" == OrderStatus.NEW
    assert order.amount == Decimal("42.50")
    assert order.created_at.tzinfo is not None


@pytest.mark.django_db
def test_order_amounts_keep_crypto_precision():
    amount = Decimal("0.000123456789012345")
    order = Order.objects.create(external_order_id="B-1", amount=amount, asset="ETH")
    order.refresh_from_db()
    assert order.amount == amount


@pytest.mark.django_db
def test_order_amounts_keep_36_digits_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps about 15 significant digits; see docs/howto/deploying.rst")
    amount = Decimal("123456789012345678.123456789012345678")
    order = Order.objects.create(external_order_id="B-2", amount=amount, asset="ETH")
    order.refresh_from_db()
    assert order.amount == amount


@pytest.mark.django_db
def test_order_statuses_are_stored_as_plain_strings():
    assert [value for value, _ in OrderStatus.choices] == [
        "new",
        "awaiting_payment",
        "paid",
        "partially_paid",
        "expired",
        "cancelled",
        "failed",
    ]


@pytest.mark.django_db
def test_external_order_id_is_unique(order):
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(external_order_id="A-1", amount=Decimal("1"), asset="EUR")


@pytest.mark.django_db
def test_the_database_allows_one_open_invoice_per_order(order):
    def add(provider_id, status):
        return Invoice.objects.create(
            provider_id=provider_id,
            order=order,
            status=status,
            invoice_amount=order.amount,
            invoice_asset=order.asset,
        )

    add("00000000-0000-0000-0000-000000000001", InvoiceStatus.EXPIRED)
    add("00000000-0000-0000-0000-000000000002", InvoiceStatus.AWAITING_PAYMENT)
    with pytest.raises(IntegrityError), transaction.atomic():
        add("00000000-0000-0000-0000-000000000003", InvoiceStatus.CREATED)


@pytest.mark.django_db
def test_the_shop_object_is_linked_generically(order, django_user_model):
    user = django_user_model.objects.create(username="buyer")
    order.shop_object = user
    order.save()
    order.refresh_from_db()
    assert order.shop_object == user
