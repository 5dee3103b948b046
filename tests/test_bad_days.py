"""The app against the sandbox's failure modes, end to end through the callback view.

Each test is what a shop rehearsing a bad day would write with the ``kunapay`` fixture.
"""

import pytest

from django_invoices import services
from django_invoices.exceptions import KunaPayError, ProviderTimeout
from django_invoices.models import CallbackEvent, Invoice
from django_invoices.statuses import InvoiceStatus, OrderStatus


@pytest.fixture
def sent(listen):
    return listen("order_paid", "invoice_paid_late", "invoice_overpaid", "invoice_partially_paid")


def states():
    return sorted(CallbackEvent.objects.values_list("state", flat=True))


def test_every_callback_twice_settles_once(kunapay, order, sent):
    kunapay.fail("callback_twice")
    invoice = services.create_invoice(order)
    kunapay.pay(invoice)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert sent.count("order_paid") == 1
    assert states().count("duplicate") >= 3  # each status and the deposit came twice


def test_callbacks_out_of_order_never_move_paid_back(kunapay, order, sent):
    kunapay.fail("callback_out_of_order")
    invoice = services.create_invoice(order)
    kunapay.pay(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert sent.count("order_paid") == 1
    late = CallbackEvent.objects.filter(provider_status="PAYMENT_AWAITING").latest("pk")
    assert late.outcome in {"read 'PAID': no change (stays paid)", "same news already applied"}


def test_unverifiable_callbacks_are_refused_and_one_throttled_read_finds_the_truth(
    kunapay, order, sent
):
    kunapay.fail("callback_bad_signature")
    invoice = services.create_invoice(order)
    kunapay.pay(invoice)
    order.refresh_from_db()
    assert set(states()) == {"rejected"}
    # No body was applied; the first refused callback's read found the payment.
    assert order.status == OrderStatus.PAID
    assert sent.count("order_paid") == 1


def test_a_payment_after_expiry_is_paid_and_announced(kunapay, order, sent):
    kunapay.fail("paid_after_expiry")
    invoice = services.create_invoice(order)
    kunapay.expire(invoice)  # TIMEOUT, then the transfer lands anyway
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert "invoice_paid_late" in sent
    assert sent.count("order_paid") == 1


def test_callbacks_held_back_arrive_later_and_settle(kunapay, order, sent):
    kunapay.fail("callback_late")
    invoice = services.create_invoice(order)
    kunapay.pay(invoice)
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert kunapay.deliver_late() >= 1
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert sent.count("order_paid") == 1


def test_an_overpayment_is_paid_and_announced(kunapay, order, sent):
    invoice = services.create_invoice(order)
    kunapay.overpay(invoice)
    assert "invoice_overpaid" in sent
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_a_part_payment_is_not_paid(kunapay, order, sent):
    invoice = services.create_invoice(order)
    kunapay.pay_part(invoice)
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_PAID
    assert sent == ["invoice_partially_paid"]


def test_the_api_down_at_checkout(kunapay, order):
    kunapay.fail("api_error")
    with pytest.raises(KunaPayError):
        services.create_invoice(order)
    kunapay.fail()
    assert services.create_invoice(order).status == InvoiceStatus.CREATED


def test_a_create_that_times_out_is_found_again_not_made_twice(kunapay, order):
    kunapay.fail("api_timeout")
    with pytest.raises(ProviderTimeout):
        services.create_invoice(order)
    kunapay.fail()
    invoice = services.create_invoice(order)
    assert len(kunapay.invoices) == 1
    assert kunapay.get(invoice).external_order_id == "A-1"
    assert Invoice.objects.count() == 1
