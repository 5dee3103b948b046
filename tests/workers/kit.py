"""What the worker tests share: a committed invoice, the provider's answer, callbacks."""

from decimal import Decimal

from django.test import Client

from django_invoices.models import CallbackEvent, Deposit, Invoice, Order
from django_invoices.statuses import InvoiceStatus, OrderStatus

from ..callbacks_kit import invoice_event, post
from ..conftest import INVOICE_ID, invoice_payload


def make_invoice():
    order = Order.objects.create(
        external_order_id="A-1",
        amount=Decimal("42.50"),
        asset="EUR",
        status=OrderStatus.AWAITING_PAYMENT,
    )
    return Invoice.objects.create(
        provider_id=INVOICE_ID,
        order=order,
        provider_status="CREATED",
        invoice_amount=order.amount,
        invoice_asset=order.asset,
        payment_amount=Decimal("0.001"),
        payment_asset="BTC",
    )


def paid_answer():
    """The provider's invoice, paid with one deposit."""
    return invoice_payload(
        "PAID",
        paymentAmount="0.001",
        paymentAssetCode="BTC",
        transactions=[
            {
                "id": "tx-1",
                "status": "Processed",
                "asset": "BTC",
                "amount": "0.001",
                "fee": "0",
                "processedAmount": "0.001",
            }
        ],
    )


def send_callback(status="PAID", **data):
    """POST a signed callback to the callback view; returns the JSON answer."""
    response = post(Client(), invoice_event(status, **data))
    assert response.status_code == 200, response.content
    return response.json()


__all__ = ["INVOICE_ID", "make_invoice", "paid_answer", "send_callback"]


PAID_SIGNALS = ["invoice_status_changed", "invoice_paid", "order_paid", "deposit_received"]


def event_states():
    return sorted(CallbackEvent.objects.values_list("state", flat=True))


def assert_paid_once(signal_log):
    """Paid, one deposit, and each signal of a payment sent once."""
    assert Invoice.objects.get().status == InvoiceStatus.PAID
    assert Deposit.objects.count() == 1
    assert sorted(signal_log()) == sorted(PAID_SIGNALS)
