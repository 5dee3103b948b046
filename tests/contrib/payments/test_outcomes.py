"""Every ending of an invoice moves the django-payments Payment as the how-to's table
says, end to end on the sandbox (the ``kunapay`` fixture): ``get_form`` creates the
invoice there, the buyer acts on it, the sandbox's signed callbacks reach this app's
callback view through the test client, and its outcome signals move the Payment."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest
from django.test import TestCase
from payments import PaymentStatus

from django_invoices import services
from django_invoices.models import CallbackEvent, Invoice, Order
from django_invoices.statuses import OrderStatus
from django_invoices.testing import set_invoice_status

from .conftest import send_to_pay

PAGE = Path(__file__).resolve().parents[3] / "docs" / "howto" / "django-payments.rst"
TOTAL = Decimal("42.50")
CENT = Decimal("0.01")


def documented() -> dict[str, str]:
    """The table of the how-to: how the invoice ended -> the Payment's status."""
    table = PAGE.read_text(encoding="utf-8").split("How the invoice ended", 1)[1]
    table = table.split("\n\n", 1)[0]
    return dict(re.findall(r"^(\S.*?)\s{2,}``(\w+)``", table, flags=re.M))


def with_commits(action):
    def act(kunapay, invoice):
        with TestCase.captureOnCommitCallbacks(execute=True):
            action(kunapay, invoice)

    return act


def status(provider_status):
    """The invoice moved by a read that answered ``provider_status`` (what the sandbox's
    page cannot play: out of limits, deactivated in the cabinet)."""
    return with_commits(lambda kunapay, invoice: set_invoice_status(invoice, provider_status))


def paid_after_expiry(kunapay, invoice):
    kunapay.fail("paid_after_expiry", invoice=invoice)
    kunapay.expire(invoice)


ENDINGS = {
    "still open": lambda kunapay, invoice: None,
    "paid in full": lambda kunapay, invoice: kunapay.pay(invoice),
    "paid too much": lambda kunapay, invoice: kunapay.overpay(invoice),
    "paid after it expired": paid_after_expiry,
    "paid too little": lambda kunapay, invoice: kunapay.pay_part(invoice),
    "expired unpaid": lambda kunapay, invoice: kunapay.expire(invoice),
    "declined": lambda kunapay, invoice: kunapay.decline(invoice),
    "amount out of limits": status("LIMITS_OUT_OF_RANGE"),
    "deactivated in the cabinet": status("DEACTIVATED"),
}


def arrived(kunapay, invoice) -> Decimal:
    """What the sandbox credited, in EUR at the invoice's own rate, down to cents."""
    data = kunapay.data(invoice)
    gross = sum(
        (Decimal(tx["amount"]) for tx in data["transactions"] if tx["status"] == "Processed"),
        start=Decimal(0),
    )
    if not gross:
        return Decimal("0.00")
    return (TOTAL * gross / Decimal(data["paymentAmount"])).quantize(CENT, rounding=ROUND_DOWN)


@pytest.fixture
def invoice(kunapay, payment):
    send_to_pay(payment)
    return Invoice.objects.get()


def test_the_table_lists_every_ending_the_tests_play():
    assert set(documented()) == set(ENDINGS)


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_each_ending_moves_the_payment_as_the_table_says(kunapay, payment, invoice, moves, ending):
    ENDINGS[ending](kunapay, invoice)
    payment.refresh_from_db()
    assert payment.status == documented()[ending]
    wanted = [] if payment.status == PaymentStatus.WAITING else [(payment.pk, payment.status)]
    assert moves == wanted
    assert payment.captured_amount == arrived(kunapay, invoice)


def test_paid_in_full(kunapay, payment, invoice):
    kunapay.pay(invoice)
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount, payment.message) == (
        PaymentStatus.CONFIRMED,
        TOTAL,
        "",
    )
    # The callbacks went through this app's callback view and were applied there.
    assert CallbackEvent.objects.filter(state=CallbackEvent.State.APPLIED).exists()


def test_paid_too_much_captures_what_arrived(kunapay, payment, invoice):
    kunapay.overpay(invoice)
    payment.refresh_from_db()
    captured = arrived(kunapay, invoice)
    assert captured > TOTAL
    assert payment.captured_amount == captured
    assert payment.message == f"Received {captured} EUR of the 42.50 EUR due."


def test_paid_too_little_is_an_error_with_what_arrived(kunapay, payment, invoice):
    kunapay.pay_part(invoice)
    payment.refresh_from_db()
    captured = arrived(kunapay, invoice)
    assert Decimal(0) < captured < TOTAL
    assert payment.status == PaymentStatus.ERROR
    assert payment.captured_amount == captured
    assert payment.message == (
        f"Only part of the amount was paid. Received {captured} EUR of the 42.50 EUR due."
    )


def test_paid_after_it_expired_says_so(kunapay, payment, invoice):
    paid_after_expiry(kunapay, invoice)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMED
    assert payment.captured_amount == TOTAL
    assert payment.message == "A payment is reported after the invoice expired."


@pytest.mark.parametrize(
    ("ending", "said"),
    [
        ("expired unpaid", "The invoice expired."),
        ("declined", "The payment was declined."),
        ("amount out of limits", "The payment was declined."),
        ("deactivated in the cabinet", "Deactivated"),
    ],
)
def test_unpaid_endings_reject_the_payment(kunapay, payment, invoice, ending, said):
    ENDINGS[ending](kunapay, invoice)
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount, payment.message) == (
        PaymentStatus.REJECTED,
        Decimal("0.00"),
        said,
    )


def test_a_rejected_payment_paid_late_is_confirmed(kunapay, payment, invoice, moves):
    kunapay.expire(invoice)
    # The transfer lands after the deadline: the next read finds the invoice paid.
    status("PAID")(kunapay, invoice)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMED
    assert payment.captured_amount == TOTAL
    assert payment.message == "A payment is reported after the invoice expired."
    assert moves == [(payment.pk, PaymentStatus.REJECTED), (payment.pk, PaymentStatus.CONFIRMED)]


def test_a_part_payment_topped_up_is_confirmed(kunapay, payment, invoice, moves):
    kunapay.pay_part(invoice)
    status("PAID")(kunapay, invoice)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMED
    assert moves == [(payment.pk, PaymentStatus.ERROR), (payment.pk, PaymentStatus.CONFIRMED)]


def test_more_money_after_the_move_updates_the_amount_without_moving_again(
    kunapay, payment, invoice, moves
):
    from django_invoices.sandbox.models import SandboxTransaction

    kunapay.pay(invoice)
    # A second transfer into the paid invoice, found by the next read.
    first = kunapay.get(invoice).transactions.get()
    SandboxTransaction.objects.create(
        invoice=first.invoice,
        status=SandboxTransaction.PROCESSED,
        asset=first.asset,
        payment_code=first.payment_code,
        amount=first.amount,
        fee=first.fee,
        processed_amount=first.processed_amount,
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.refresh_invoice(invoice)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMED
    assert payment.captured_amount == arrived(kunapay, invoice) == 2 * TOTAL
    assert payment.message == "Received 85.00 EUR of the 42.50 EUR due."
    assert moves == [(payment.pk, PaymentStatus.CONFIRMED)]


@pytest.mark.parametrize(
    "shops_own", [PaymentStatus.PREAUTH, PaymentStatus.REFUNDED, PaymentStatus.CANCELLED]
)
def test_a_payment_the_shop_moved_itself_is_left_alone(kunapay, payment, invoice, moves, shops_own):
    payment.change_status(shops_own)
    moves.clear()
    kunapay.pay(invoice)
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount) == (shops_own, Decimal("0.00"))
    assert moves == []


def test_orders_not_linked_to_a_payment_move_none(kunapay, payment, moves, django_user_model):
    """The receivers act only on orders linked to a Payment: the shop's own orders, and
    those of another framework, are paid and nothing else moves."""
    user = django_user_model.objects.create(username="buyer")
    plain = Order.objects.create(external_order_id="shop-1", amount=TOTAL, asset="EUR")
    other = services.order_for(user, external_order_id="other-1", amount=TOTAL, asset="EUR")
    for order in (plain, other):
        kunapay.pay(order)
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.WAITING
    assert moves == []
