"""Every signal of a payment's ending, in order, with its sender and all its arguments.

Shops connect receivers by sender and read these keyword arguments; the other tests
mostly check which signals were sent. Applied the way a read is (``apply_invoice_data``)
and committed, so what runs on commit runs.
"""

from decimal import Decimal

import pytest

from django_invoices import signals, wire
from django_invoices.models import Deposit, Invoice, Order
from django_invoices.services import transitions

from .conftest import invoice_payload

NAMES = (
    "invoice_status_changed",
    "invoice_paid",
    "invoice_paid_late",
    "invoice_partially_paid",
    "invoice_declined",
    "invoice_overpaid",
    "order_status_changed",
    "order_paid",
    "deposit_received",
)


@pytest.fixture
def signalled(db):
    """``(name, sender, kwargs)`` of every django_invoices signal, as sent."""
    seen = []
    hooks = []
    for name in NAMES:

        def receiver(sender, _name=name, **kwargs):
            kwargs.pop("signal")
            seen.append((_name, sender, kwargs))

        signal = getattr(signals, name)
        signal.connect(receiver, weak=False)
        hooks.append((signal, receiver))
    yield seen
    for signal, receiver in hooks:
        signal.disconnect(receiver)


@pytest.fixture
def read(django_capture_on_commit_callbacks):
    """``read(invoice, status, *deposits, **fields)``: apply a read of the invoice."""

    def read(invoice, status, *deposits, **fields):
        payload = invoice_payload(
            status,
            paymentAmount="0.001",
            paymentAssetCode="BTC",
            transactions=list(deposits),
            **fields,
        )
        with django_capture_on_commit_callbacks(execute=True):
            return transitions.apply_invoice_data(invoice, wire.Invoice.from_wire(payload))

    return read


def deposit(tx_id, amount, status="Processed"):
    return {
        "id": tx_id,
        "status": status,
        "type": "InvoiceDeposit",
        "asset": "BTC",
        "amount": amount,
        "processedAmount": amount,
    }


def test_an_overpaid_payment_sends_each_signal_once_with_all_its_arguments(
    btc_invoice, read, signalled
):
    read(btc_invoice, "PAID", deposit("tx-1", "0.0015"))

    invoice = Invoice.objects.get()
    order = Order.objects.get()
    tx = Deposit.objects.get()
    assert signalled == [
        ("deposit_received", Deposit, {"deposit": tx, "invoice": invoice}),
        (
            "invoice_status_changed",
            Invoice,
            {"invoice": invoice, "old_status": "created", "new_status": "paid"},
        ),
        ("invoice_paid", Invoice, {"invoice": invoice}),
        (
            "invoice_overpaid",
            Invoice,
            {"invoice": invoice, "expected": Decimal("0.001"), "received": Decimal("0.0015")},
        ),
        (
            "order_status_changed",
            Order,
            {"order": order, "old_status": "awaiting_payment", "new_status": "paid"},
        ),
        ("order_paid", Order, {"order": order, "invoice": invoice}),
    ]
    # What a receiver is given is the state as committed.
    [*_, (_, _, last)] = signalled
    assert last["order"].status == "paid"
    assert last["invoice"].status == "paid"
    assert last["invoice"].paid_amount == Decimal("0.0015")


def test_an_exact_payment_after_expiry_is_paid_late_and_not_overpaid(btc_invoice, read, signalled):
    read(btc_invoice, "TIMEOUT")
    del signalled[:]
    read(btc_invoice, "PAID", deposit("tx-1", "0.001"))

    invoice = Invoice.objects.get()
    order = Order.objects.get()
    assert [(name, sender) for name, sender, _ in signalled] == [
        ("deposit_received", Deposit),
        ("invoice_status_changed", Invoice),
        ("invoice_paid", Invoice),
        ("invoice_paid_late", Invoice),
        ("order_status_changed", Order),
        ("order_paid", Order),
    ]
    assert signalled[1][2] == {"invoice": invoice, "old_status": "expired", "new_status": "paid"}
    assert signalled[3][2] == {"invoice": invoice}
    assert signalled[4][2] == {"order": order, "old_status": "expired", "new_status": "paid"}


def test_a_payment_completed_after_the_deadline_is_late_though_no_read_saw_it_expire(
    btc_invoice, read, signalled
):
    read(
        btc_invoice,
        "PAID",
        deposit("tx-1", "0.001"),
        expireAt="2026-11-25T11:00:00Z",
        completedAt="2026-11-25T11:00:01Z",
    )
    assert [name for name, _, _ in signalled].count("invoice_paid_late") == 1
    assert Invoice.objects.get().expired_once is True


def test_a_payment_completed_on_the_deadline_is_in_time(btc_invoice, read, signalled):
    read(
        btc_invoice,
        "PAID",
        deposit("tx-1", "0.001"),
        expireAt="2026-11-25T11:00:00Z",
        completedAt="2026-11-25T11:00:00Z",
    )
    assert "invoice_paid_late" not in [name for name, _, _ in signalled]
    assert Invoice.objects.get().expired_once is False


def test_a_part_payment_sends_its_own_signal_and_moves_the_order(btc_invoice, read, signalled):
    read(btc_invoice, "PARTIALLY_PAID", deposit("tx-1", "0.0004"))

    invoice = Invoice.objects.get()
    order = Order.objects.get()
    tx = Deposit.objects.get()
    assert signalled == [
        ("deposit_received", Deposit, {"deposit": tx, "invoice": invoice}),
        (
            "invoice_status_changed",
            Invoice,
            {"invoice": invoice, "old_status": "created", "new_status": "partially_paid"},
        ),
        ("invoice_partially_paid", Invoice, {"invoice": invoice}),
        (
            "order_status_changed",
            Order,
            {"order": order, "old_status": "awaiting_payment", "new_status": "partially_paid"},
        ),
    ]
    assert invoice.paid_amount == Decimal("0.0004")


@pytest.mark.parametrize(
    ("provider_status", "status"),
    [("DECLINED", "declined"), ("LIMITS_OUT_OF_RANGE", "limits_out_of_range")],
)
def test_a_refused_payment_is_declined_and_fails_the_order(
    btc_invoice, read, signalled, provider_status, status
):
    read(btc_invoice, provider_status)

    invoice = Invoice.objects.get()
    order = Order.objects.get()
    assert signalled == [
        (
            "invoice_status_changed",
            Invoice,
            {"invoice": invoice, "old_status": "created", "new_status": status},
        ),
        ("invoice_declined", Invoice, {"invoice": invoice}),
        (
            "order_status_changed",
            Order,
            {"order": order, "old_status": "awaiting_payment", "new_status": "failed"},
        ),
    ]


@pytest.mark.parametrize(
    ("provider_status", "order_status"), [("TIMEOUT", "expired"), ("DEACTIVATED", "cancelled")]
)
def test_an_unpaid_ending_sends_only_the_status_changes(
    btc_invoice, read, signalled, provider_status, order_status
):
    read(btc_invoice, provider_status)
    assert [(name, kwargs.get("new_status")) for name, _, kwargs in signalled] == [
        ("invoice_status_changed", Invoice.objects.get().status),
        ("order_status_changed", order_status),
    ]


def test_progress_among_open_statuses_moves_the_invoice_not_the_order(btc_invoice, read, signalled):
    read(btc_invoice, "PAYMENT_AWAITING")
    read(btc_invoice, "CONFIRMATION_AWAITING")
    invoice = Invoice.objects.get()
    assert signalled == [
        (
            "invoice_status_changed",
            Invoice,
            {"invoice": invoice, "old_status": "created", "new_status": "awaiting_payment"},
        ),
        (
            "invoice_status_changed",
            Invoice,
            {"invoice": invoice, "old_status": "awaiting_payment", "new_status": "confirming"},
        ),
    ]
    assert Order.objects.get().status == "awaiting_payment"


def test_a_second_overpaying_deposit_after_paid_announces_the_new_excess(
    btc_invoice, read, signalled
):
    read(btc_invoice, "PAID", deposit("tx-1", "0.001"))
    del signalled[:]
    read(btc_invoice, "PAID", deposit("tx-1", "0.001"), deposit("tx-2", "0.0002"))

    invoice = Invoice.objects.get()
    assert signalled == [
        (
            "deposit_received",
            Deposit,
            {"deposit": Deposit.objects.get(provider_id="tx-2"), "invoice": invoice},
        ),
        (
            "invoice_overpaid",
            Invoice,
            {"invoice": invoice, "expected": Decimal("0.001"), "received": Decimal("0.0012")},
        ),
    ]
    # Read again with nothing new: the same excess is not announced twice.
    del signalled[:]
    read(btc_invoice, "PAID", deposit("tx-1", "0.001"), deposit("tx-2", "0.0002"))
    assert signalled == []


def test_a_failing_receiver_is_named_in_the_log_with_its_error(btc_invoice, read, caplog):
    def broken_receiver(sender, **kwargs):
        raise RuntimeError("shop bug")

    signals.invoice_paid.connect(broken_receiver, weak=False)
    try:
        with caplog.at_level("ERROR", logger="django_invoices"):
            read(btc_invoice, "PAID", deposit("tx-1", "0.001"))
    finally:
        signals.invoice_paid.disconnect(broken_receiver)
    [record] = [r for r in caplog.records if "signal failed" in r.getMessage()]
    assert "broken_receiver" in record.getMessage()
    assert record.exc_info[1].args == ("shop bug",)
    assert Order.objects.get().status == "paid"
