from decimal import Decimal

import pytest
from django.core.cache import cache

from django_invoices import signals
from django_invoices.models import Invoice, Order
from django_invoices.statuses import OrderStatus

from .http_mock import strict_mock

pytest_plugins = ["pytester"]

API = "https://api.kunapay.test"
INVOICE_ID = "506c695a-4187-4463-ac41-07dc0782cb0e"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def listen(db):
    """``listen(*signal_names, kwargs=False)``: a list that fills with the names (or
    ``(name, kwargs)`` pairs) of those ``django_invoices.signals`` as they are sent."""
    hooks = []

    def start(*names, kwargs=False):
        seen = []
        for name in names:

            def receiver(sender, _name=name, **sent):
                sent.pop("signal", None)
                seen.append((_name, sent) if kwargs else _name)

            signal = getattr(signals, name)
            signal.connect(receiver, weak=False)
            hooks.append((signal, receiver))
        return seen

    yield start
    for signal, receiver in hooks:
        signal.disconnect(receiver)


@pytest.fixture
def api():
    """Stands in for KUNA Pay; any request not registered fails the test (at its end,
    even when the code under test swallowed the error; see ``http_mock``)."""
    with strict_mock() as mock:
        yield mock


@pytest.fixture
def order(db):
    return Order.objects.create(
        external_order_id="A-1", amount=Decimal("42.50"), asset="EUR", email="buyer@example.com"
    )


@pytest.fixture
def invoice(order):
    """The order's invoice, just created at the provider."""
    return Invoice.objects.create(
        provider_id=INVOICE_ID,
        order=order,
        invoice_amount=order.amount,
        invoice_asset="EUR",
        payment_url="https://pay.example/i/1",
    )


@pytest.fixture
def btc_invoice(order):
    """The order's invoice, awaiting a payment of 0.001 BTC (the callback tests' invoice)."""
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.AWAITING_PAYMENT)
    return Invoice.objects.create(
        provider_id=INVOICE_ID,
        order=order,
        provider_status="CREATED",
        invoice_amount=order.amount,
        invoice_asset=order.asset,
        payment_amount=Decimal("0.001"),
        payment_asset="BTC",
    )


def invoice_payload(status="CREATED", invoice_id=INVOICE_ID, **extra):
    data = {
        "id": invoice_id,
        "status": status,
        "externalOrderId": "A-1",
        "invoiceAmount": "42.5",
        "invoiceAssetCode": "EUR",
        "paymentAmount": None,
        "paymentAssetCode": None,
        "createdAt": "2026-11-25T10:00:00.000Z",
        "expireAt": "2026-11-25T11:00:00.000Z",
        "completedAt": None,
        "transactions": [],
    }
    data.update(extra)
    return data


@pytest.fixture
def sent(listen):
    """Names of the signals sent, in order."""
    return listen(
        "invoice_status_changed",
        "invoice_paid",
        "order_paid",
        "deposit_received",
        "invoice_partially_paid",
        "invoice_overpaid",
        "invoice_paid_late",
        "invoice_declined",
    )


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """``deliver(payload, **post_options)``: post a signed callback and run what was
    deferred to the commit (signals), as a real request would."""
    from .callbacks_kit import post

    def deliver(payload=None, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post(client, payload, **kwargs)

    return deliver
