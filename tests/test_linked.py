"""``services.linked``: the order linked to a shop's own object, found again from it, and
what an invoice or an order received, in its own asset (what the django-oscar and
django-payments contribs show and compare with their totals)."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from django_invoices import services
from django_invoices.models import Deposit, Invoice, Order
from django_invoices.statuses import InvoiceStatus


def make_invoice(order, *, status=InvoiceStatus.AWAITING_PAYMENT, **fields):
    options = {"invoice_amount": Decimal("42.50"), "invoice_asset": "EUR", **fields}
    return Invoice.objects.create(provider_id=uuid.uuid4(), order=order, status=status, **options)


def deposit(invoice, amount, *, status="Processed", type="Deposit"):
    return Deposit.objects.create(
        provider_id=str(uuid.uuid4()),
        invoice=invoice,
        status=status,
        type=type,
        amount=Decimal(amount),
        asset=invoice.payment_asset or invoice.invoice_asset,
    )


# -- what an invoice received ------------------------------------------------------------


def test_only_credited_money_in_counts_in_the_invoices_own_asset(order):
    invoice = make_invoice(order, status=InvoiceStatus.PARTIALLY_PAID, payment_asset="EUR")
    deposit(invoice, "10")
    deposit(invoice, "5.25", status="PartiallyProcessed")
    deposit(invoice, "1", type="")  # a deposit the provider gave no type
    deposit(invoice, "2", type="InvoiceDeposit")
    # Not (or not yet) credited, or not money in:
    deposit(invoice, "100", status="Processing")
    deposit(invoice, "200", status="Created")
    deposit(invoice, "300", status="Canceled")
    deposit(invoice, "400", type="Withdrawal")

    assert services.invoice_received(invoice) == Decimal("18.25")


def test_deposits_of_an_invoice_whose_payment_asset_is_unknown_count_as_they_are(order):
    invoice = make_invoice(order, status=InvoiceStatus.PARTIALLY_PAID, payment_asset="")
    deposit(invoice, "10.5")

    assert services.invoice_received(invoice) == Decimal("10.5")


def test_deposits_in_another_asset_count_at_the_invoices_own_rate(btc_invoice):
    # 42.50 EUR asked as 0.001 BTC: 0.0005 BTC brought half of it.
    deposit(btc_invoice, "0.0005")
    deposit(btc_invoice, "0.0001", status="Processing")

    assert services.invoice_received(btc_invoice) == Decimal("21.25")


def test_paying_exactly_the_payment_amount_counts_as_exactly_the_invoice_amount(btc_invoice):
    Invoice.objects.filter(pk=btc_invoice.pk).update(
        invoice_amount=Decimal("10"), payment_amount=Decimal("0.003")
    )
    btc_invoice.refresh_from_db()
    deposit(btc_invoice, "0.003")

    assert services.invoice_received(btc_invoice) == Decimal("10")


@pytest.mark.parametrize(
    ("payment", "asset"), [(None, ""), (None, "EUR"), (Decimal("0.001"), "BTC")]
)
def test_a_paid_invoice_without_credited_deposits_counts_as_paid_in_full(order, payment, asset):
    invoice = make_invoice(
        order, status=InvoiceStatus.PAID, payment_amount=payment, payment_asset=asset
    )
    deposit(invoice, "0.5", status="Processing")

    assert services.invoice_received(invoice) == Decimal("42.50")


@pytest.mark.parametrize(
    "status",
    [InvoiceStatus.CREATED, InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.EXPIRED],
)
def test_an_unpaid_invoice_without_credited_deposits_received_nothing(order, status):
    invoice = make_invoice(order, status=status, payment_amount=Decimal("0.001"))
    deposit(invoice, "0.001", status="Processing")

    received = services.invoice_received(invoice)

    assert received == Decimal("0")
    assert isinstance(received, Decimal)


def test_deposits_in_another_asset_without_a_known_rate_count_only_when_paid(order):
    unpaid = make_invoice(
        order, status=InvoiceStatus.PARTIALLY_PAID, payment_asset="BTC", payment_amount=None
    )
    deposit(unpaid, "0.0005")

    assert services.invoice_received(unpaid) == Decimal("0")


# -- what an order received --------------------------------------------------------------


def test_an_order_received_what_all_its_invoices_received(order):
    expired = make_invoice(order, status=InvoiceStatus.EXPIRED, payment_asset="EUR")
    deposit(expired, "12.50")
    make_invoice(order, status=InvoiceStatus.PAID)  # no deposits known: paid in full
    make_invoice(order, status=InvoiceStatus.CANCELLED)
    Order.objects.create(external_order_id="B-1", amount=Decimal("9"), asset="EUR")

    assert services.order_received(order) == Decimal("55.00")


def test_an_order_without_invoices_received_a_decimal_zero(order):
    received = services.order_received(order)

    assert received == Decimal("0")
    # The payments contrib rounds it (quantize): an int 0 would not do.
    assert received.quantize(Decimal("0.01")) == Decimal("0.00")


# -- the order linked to a shop's object -------------------------------------------------


@pytest.fixture
def shop_object(db):
    return get_user_model().objects.create(username="shop-order-1")


def link(shop_object, ref):
    return services.order_for(shop_object, external_order_id=ref, amount=Decimal("1"), asset="EUR")


def test_an_object_without_a_primary_key_has_no_linked_order(db):
    assert services.linked_order(object()) is None
    assert services.linked_order(get_user_model()(username="unsaved")) is None


def test_the_linked_order_is_found_from_its_object_only(shop_object):
    order = link(shop_object, "A-1")
    other_user = get_user_model().objects.create(username="shop-order-2")
    # Another model's object with the same primary key is another object.
    same_pk = Group.objects.create(pk=shop_object.pk, name="not an order")

    assert services.linked_order(shop_object) == order
    assert services.linked_order(other_user) is None
    assert services.linked_order(same_pk) is None


def test_the_newest_linked_order_is_the_one_created_last(shop_object):
    first = link(shop_object, "A-1")
    second = link(shop_object, "A-2")
    # The order with the higher primary key was created first (ids need not grow in time).
    Order.objects.filter(pk=second.pk).update(created_at=timezone.now() - timedelta(days=1))

    assert services.linked_order(shop_object) == first


def test_of_linked_orders_created_at_the_same_instant_the_last_made_wins(shop_object):
    orders = [link(shop_object, f"A-{i}") for i in range(3)]
    Order.objects.update(created_at=timezone.now())

    assert services.linked_order(shop_object) == orders[-1]
