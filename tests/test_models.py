from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from django_invoices.models import CallbackEvent, Invoice, Order, amount_field
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


def test_every_amount_column_holds_36_digits_with_18_decimals():
    field = amount_field("received", default=Decimal("0"), null=True)
    assert (field.max_digits, field.decimal_places) == (36, 18)
    assert field.verbose_name == "received"
    assert (field.default, field.null) == (Decimal("0"), True)
    bare = amount_field("fee")
    assert (bare.max_digits, bare.decimal_places, bare.null) == (36, 18, False)


@pytest.mark.django_db
def test_a_callback_event_is_named_by_what_is_known_of_it():
    about = CallbackEvent.objects.create(
        body="{}", body_sha256="1" * 64, event_name="Invoice", object_id="abc", verified=True
    )
    unnamed = CallbackEvent.objects.create(
        body="{}", body_sha256="2" * 64, event_name="Invoice", verified=True
    )
    refused = CallbackEvent.objects.create(
        body="x", body_sha256="3" * 64, state=CallbackEvent.State.REJECTED
    )
    refused_why = CallbackEvent.objects.create(
        body="x", body_sha256="4" * 64, state=CallbackEvent.State.REJECTED, outcome="no_signature"
    )
    waiting = CallbackEvent.objects.create(body="{}", body_sha256="5" * 64, verified=True)

    assert str(about) == "Invoice abc (pending)"
    assert str(unnamed) == "Invoice (pending)"
    assert str(refused) == f"Callback {refused.pk} refused: rejected"
    assert str(refused_why) == f"Callback {refused_why.pk} refused: no_signature"
    assert str(waiting) == f"Callback {waiting.pk} (pending)"


@pytest.mark.django_db
def test_an_invoice_is_named_by_its_kuna_pay_id(order):
    invoice = Invoice.objects.create(
        provider_id="506c695a-4187-4463-ac41-07dc0782cb0e",
        order=order,
        invoice_amount=order.amount,
        invoice_asset=order.asset,
    )
    assert str(invoice) == "506c695a-4187-4463-ac41-07dc0782cb0e"
