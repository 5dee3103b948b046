"""Writing what the provider says about deposits and statuses, through the functions
of ``services.transitions`` called directly: every field of a deposit mirrored, their
defaults, their refusals in words, and which news counts as older."""

from decimal import Decimal

import pytest
from django.test import TestCase

from django_invoices import wire
from django_invoices.exceptions import InvalidResponse
from django_invoices.models import Deposit, Invoice, Order
from django_invoices.services import transitions

from .conftest import INVOICE_ID, apply_invoice_data, apply_status, invoice_payload

OTHER_ID = "22222222-3333-4444-8555-666666666666"


def deposit_wire(tx_id="tx-1", amount="0.0005", **extra):
    return {
        "id": tx_id,
        "status": "Processed",
        "type": "InvoiceDeposit",
        "asset": "BTC",
        "amount": amount,
        "processedAmount": amount,
        **extra,
    }


def deposit_data(tx_id="tx-1", amount="0.0005", **extra):
    return wire.Transaction.from_wire(deposit_wire(tx_id, amount, **extra))


def test_apply_status_with_a_payload_mirrors_the_invoices_fields(btc_invoice):
    payload = invoice_payload("PAID", paymentAmount="0.002", paymentAssetCode="ETH")
    result = apply_status(btc_invoice, "PAID", payload=payload)
    stored = Invoice.objects.get()
    assert (result.old_status, result.new_status, result.changed) == ("created", "paid", True)
    assert (stored.status, stored.provider_status) == ("paid", "PAID")
    assert (stored.payment_amount, stored.payment_asset) == (Decimal("0.002"), "ETH")
    assert stored.raw_payload == payload


def test_apply_status_without_a_payload_leaves_the_mirrored_fields(btc_invoice):
    apply_status(btc_invoice, "PAID")
    stored = Invoice.objects.get()
    assert (stored.payment_amount, stored.payment_asset) == (Decimal("0.001"), "BTC")


def test_record_deposit_counts_what_arrived_unless_told_not_to(btc_invoice):
    deposit, created = transitions.record_deposit(btc_invoice, deposit_data("tx-1"))
    assert created is True
    assert deposit.invoice_id == btc_invoice.pk
    assert btc_invoice.paid_amount == Decimal("0.0005")

    _, created = transitions.record_deposit(btc_invoice, deposit_data("tx-2"), recount=False)
    assert created is True  # created, but not counted yet
    assert btc_invoice.paid_amount == Decimal("0.0005")
    assert Deposit.objects.count() == 2


def test_write_deposit_counts_by_default(btc_invoice):
    _, done = transitions.write_deposit(btc_invoice, deposit_data("tx-1"))
    assert done == transitions.DEPOSIT_RECORDED
    assert btc_invoice.paid_amount == Decimal("0.0005")
    _, done = transitions.write_deposit(btc_invoice, deposit_data("tx-2"), recount=False)
    assert done == transitions.DEPOSIT_RECORDED
    assert btc_invoice.paid_amount == Decimal("0.0005")


def test_a_deposit_on_another_invoice_stays_there_unless_the_write_is_authoritative(
    btc_invoice,
):
    other_order = Order.objects.create(external_order_id="B-1", amount=Decimal("1"), asset="BTC")
    other = Invoice.objects.create(
        provider_id=OTHER_ID, order=other_order, invoice_amount=Decimal("1"), invoice_asset="BTC"
    )
    transitions.write_deposit(other, deposit_data("tx-1"))

    _, done = transitions.write_deposit(btc_invoice, deposit_data("tx-1"))
    assert done == transitions.DEPOSIT_ELSEWHERE
    assert Deposit.objects.get().invoice_id == other.pk
    assert btc_invoice.paid_amount == Decimal("0")

    _, done = transitions.write_deposit(btc_invoice, deposit_data("tx-1"), authoritative=True)
    assert done == transitions.DEPOSIT_MOVED
    assert Deposit.objects.get().invoice_id == btc_invoice.pk
    assert btc_invoice.paid_amount == Decimal("0.0005")
    assert Invoice.objects.get(pk=other.pk).paid_amount == Decimal("0")


@pytest.mark.parametrize("tx_id", [None, "", "   "])
def test_a_deposit_without_an_id_is_refused_in_so_many_words(btc_invoice, tx_id):
    with pytest.raises(InvalidResponse) as refused:
        transitions.write_deposit(btc_invoice, deposit_data(tx_id))
    assert str(refused.value) == "a deposit without an id"
    assert Deposit.objects.count() == 0


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("id", "deposit id"),
        ("status", "deposit status"),
        ("type", "transaction type"),
        ("asset", "deposit asset"),
        ("paymentCode", "paymentCode"),
        ("address", "deposit address"),
        ("txId", "txId"),
    ],
)
def test_a_deposit_field_that_is_not_text_is_named_in_the_refusal(btc_invoice, key, label):
    with pytest.raises(InvalidResponse) as refused:
        wire.Transaction.from_wire({**deposit_wire(), key: 5})
    assert str(refused.value) == f"KUNA Pay sent {label} as int, not text"


def test_an_over_long_deposit_id_is_refused_with_its_length(btc_invoice):
    with pytest.raises(InvalidResponse) as refused:
        transitions.write_deposit(btc_invoice, deposit_data("x" * 65))
    assert (
        str(refused.value) == "KUNA Pay sent a deposit id of 65 characters (at most 64 are stored)"
    )


# -- which news is older ----------------------------------------------------------------------


def test_news_with_the_same_update_time_is_applied(btc_invoice):
    at = "2026-11-25T10:05:00Z"
    transitions.write_deposit(btc_invoice, deposit_data(updatedAt=at, fee="0"))
    _, done = transitions.write_deposit(btc_invoice, deposit_data(updatedAt=at, fee="0.0001"))
    assert done == transitions.DEPOSIT_UPDATED
    assert Deposit.objects.get().fee == Decimal("0.0001")


def test_news_with_an_earlier_update_time_is_stale(btc_invoice):
    transitions.write_deposit(btc_invoice, deposit_data(updatedAt="2026-11-25T10:05:00Z", fee="0"))
    _, done = transitions.write_deposit(
        btc_invoice, deposit_data(updatedAt="2026-11-25T10:04:59Z", fee="0.0001")
    )
    assert done == transitions.DEPOSIT_STALE
    assert Deposit.objects.get().fee == Decimal("0")


@pytest.mark.parametrize("stored", [["odd"], "text", 5])
def test_a_stored_payload_that_is_no_object_does_not_stop_an_update(btc_invoice, stored):
    # Written by hand or by an older version: only its update time is read, and an
    # object is the only shape that has one.
    Deposit.objects.create(
        provider_id="tx-1", invoice=btc_invoice, status="Processing", raw_payload=stored
    )
    _, done = transitions.write_deposit(btc_invoice, deposit_data(updatedAt="2026-11-25T10:05:00Z"))
    assert done == transitions.DEPOSIT_UPDATED
    assert Deposit.objects.get().status == "Processed"


# -- what a read writes ------------------------------------------------------------------------


def test_only_the_fields_that_changed_are_written_with_the_update_time(btc_invoice):
    invoice = Invoice.objects.get()
    before = transitions.field_values(invoice)
    assert transitions.save_changed(invoice, before) == []
    assert Invoice.objects.get().updated_at == invoice.updated_at

    invoice.status = "paid"
    invoice.provider_status = "PAID"
    # A change made elsewhere meanwhile is not overwritten by this save.
    Invoice.objects.filter(pk=invoice.pk).update(payment_asset="ETH")
    written = transitions.save_changed(invoice, before)

    stored = Invoice.objects.get()
    assert sorted(written) == ["provider_status", "status"]
    assert (stored.status, stored.provider_status, stored.payment_asset) == ("paid", "PAID", "ETH")
    assert stored.updated_at > btc_invoice.updated_at


def test_a_deposit_moved_here_takes_the_newer_news_it_came_with(btc_invoice):
    other = _other_invoice()
    transitions.write_deposit(other, deposit_data("tx-1", status="Processing"))

    _, done = transitions.write_deposit(
        btc_invoice, deposit_data("tx-1", amount="0.0007"), authoritative=True
    )

    stored = Deposit.objects.get()
    assert done == transitions.DEPOSIT_MOVED
    assert (stored.invoice_id, stored.status, stored.amount) == (
        btc_invoice.pk,
        "Processed",
        Decimal("0.0007"),
    )
    assert btc_invoice.paid_amount == Decimal("0.0007")


def test_a_deposit_moved_here_with_older_news_keeps_what_it_had(btc_invoice):
    other = _other_invoice()
    transitions.write_deposit(other, deposit_data("tx-1", amount="0.0005"))

    _, done = transitions.write_deposit(
        btc_invoice, deposit_data("tx-1", amount="0.0001", status="Processing"), authoritative=True
    )

    stored = Deposit.objects.get()
    assert done == transitions.DEPOSIT_MOVED
    assert (stored.invoice_id, stored.status, stored.amount) == (
        btc_invoice.pk,
        "Processed",
        Decimal("0.0005"),
    )
    assert btc_invoice.paid_amount == Decimal("0.0005")


def _other_invoice():
    other_order = Order.objects.create(external_order_id="B-1", amount=Decimal("1"), asset="BTC")
    return Invoice.objects.create(
        provider_id=OTHER_ID, order=other_order, invoice_amount=Decimal("1"), invoice_asset="BTC"
    )


def test_an_invoice_ending_while_another_orders_invoice_is_open_moves_its_own_order(
    btc_invoice,
):
    other = _other_invoice()  # open, on another order
    apply_status(btc_invoice, "TIMEOUT")
    assert Order.objects.get(pk=btc_invoice.order_id).status == "expired"
    assert Invoice.objects.get(pk=other.pk).status == "created"


def test_a_refused_move_reports_the_status_that_stays(btc_invoice):
    apply_status(btc_invoice, "PAID")
    result = apply_status(btc_invoice, "PAYMENT_AWAITING")
    assert (result.old_status, result.new_status, result.changed) == ("paid", "paid", False)


def test_a_status_that_is_not_text_is_named_in_the_refusal(btc_invoice):
    with pytest.raises(InvalidResponse) as refused:
        wire.Invoice.from_wire(invoice_payload(status=5))
    assert str(refused.value) == "KUNA Pay sent status as int, not text"


def test_a_newer_invoice_ending_moves_the_order_though_an_older_one_ended_before(btc_invoice):
    apply_status(btc_invoice, "TIMEOUT")
    newer = Invoice.objects.create(
        provider_id=OTHER_ID,
        order=btc_invoice.order,
        invoice_amount=Decimal("1"),
        invoice_asset="BTC",
    )
    apply_status(newer, "DECLINED")
    assert Order.objects.get().status == "failed"


def test_the_same_status_again_is_no_change(btc_invoice):
    result = apply_status(btc_invoice, "CREATED")
    assert (result.old_status, result.new_status, result.changed) == ("created", "created", False)


# -- a deposit is mirrored whole, and updated whole --------------------------------------
# A mutation run once found the mirrored fields written but never all read back, and
# ``updatedAt`` compared on one side only (docs/mutation.rst): so a full deposit, every
# column compared, then newer and older news of it.

FULL_DEPOSIT = {
    "id": "tx-full",
    "status": "Processing",
    "asset": "BTC",
    "paymentCode": "BTC_NETWORK",
    "amount": "0.0011",
    "fee": "0.0001",
    "processedAmount": "0.001",
    "address": "bc1qexampleaddress",
    "txId": "f00d",
    "createdAt": "2026-11-25T10:05:00Z",
    "updatedAt": "2026-11-25T10:05:00Z",
}


def _columns(deposit):
    return {
        "provider_id": deposit.provider_id,
        "status": deposit.status,
        "asset": deposit.asset,
        "payment_code": deposit.payment_code,
        "amount": deposit.amount,
        "fee": deposit.fee,
        "processed_amount": deposit.processed_amount,
        "address": deposit.address,
        "tx_id": deposit.tx_id,
        "provider_created_at": deposit.provider_created_at.isoformat(),
        "raw_payload": deposit.raw_payload,
    }


def test_every_field_of_a_deposit_is_recorded_then_updated(btc_invoice):
    apply_invoice_data(
        btc_invoice,
        {"id": INVOICE_ID, "status": "PAYMENT_AWAITING", "transactions": [FULL_DEPOSIT]},
    )
    assert _columns(Deposit.objects.get()) == {
        "provider_id": "tx-full",
        "status": "Processing",
        "asset": "BTC",
        "payment_code": "BTC_NETWORK",
        "amount": Decimal("0.0011"),
        "fee": Decimal("0.0001"),
        "processed_amount": Decimal("0.001"),
        "address": "bc1qexampleaddress",
        "tx_id": "f00d",
        "provider_created_at": "2026-11-25T10:05:00+00:00",
        "raw_payload": FULL_DEPOSIT,
    }
    assert Invoice.objects.get().paid_amount == Decimal("0")  # not credited yet

    later = {
        **FULL_DEPOSIT,
        "status": "Processed",
        "txId": "beef",
        "updatedAt": "2026-11-25T10:09:00Z",
    }
    apply_invoice_data(
        btc_invoice, {"id": INVOICE_ID, "status": "CONFIRMATION_AWAITING", "transactions": [later]}
    )
    columns = _columns(Deposit.objects.get())
    assert (columns["status"], columns["tx_id"], columns["raw_payload"]) == (
        "Processed",
        "beef",
        later,
    )
    assert Invoice.objects.get().paid_amount == Decimal("0.001")

    older = {**later, "status": "Processed", "txId": "old", "updatedAt": "2026-11-25T10:07:00Z"}
    apply_invoice_data(
        btc_invoice, {"id": INVOICE_ID, "status": "CONFIRMATION_AWAITING", "transactions": [older]}
    )
    assert Deposit.objects.get().tx_id == "beef"  # older news changes nothing


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        ("Processed", True),
        ("PartiallyProcessed", True),
        ("Processing", False),
        ("Created", False),
        ("Canceled", False),
    ],
)
def test_credited_deposits_count_towards_what_was_received_and_overpaid(
    btc_invoice, listen, status, counts
):
    """Mutant: partly processed deposits stopped counting towards the received amount
    and the overpayment. The payment amount is 0.001 BTC (``btc_invoice``)."""
    seen = listen("invoice_overpaid", kwargs=True)
    listed = [
        deposit_wire("tx-1", "0.0006", processedAmount="0.0005"),
        deposit_wire("tx-2", "0.0007", status=status, processedAmount="0.0006"),
    ]
    with TestCase.captureOnCommitCallbacks(execute=True):
        paid = invoice_payload("PAID", paymentAmount="0.001", transactions=listed)
        invoice = apply_invoice_data(btc_invoice, paid)
    assert invoice.paid_amount == (Decimal("0.0011") if counts else Decimal("0.0005"))
    if counts:
        # 0.0006 + 0.0007 gross credited, more than the 0.001 asked for.
        [(_, sent)] = seen
        assert (sent["expected"], sent["received"]) == (Decimal("0.001"), Decimal("0.0013"))
    else:
        assert seen == []


def test_a_field_the_answer_did_not_carry_is_falsy_and_says_so():
    """``MISSING`` reads as false, as an empty or null field does, so code testing a
    field's truth never takes an absent one for a value; one instance, named in logs."""
    assert not wire.MISSING
    assert wire.Invoice.from_wire({"id": "x"}).expires_at is wire.MISSING
    assert repr(wire.MISSING) == "MISSING"
