"""Each way a KUNA Pay invoice ends moves the Oscar order as outcomes.py's table says.

The buyer places the order through Oscar's checkout and acts on the sandbox's payment
page (the ``kunapay`` fixture); the sandbox's signed callbacks reach the callback view,
which reads the invoice back and applies it; the app's signals move the Oscar order.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from django_invoices import services
from django_invoices.contrib.oscar import outcomes
from django_invoices.testing import set_invoice_status

from .conftest import app_invoice, events, oscar_order, status_changes

PENDING = "Pending payment"


def stock(product):
    record = product.stockrecords.get()
    return record.num_in_stock, record.num_allocated


def sources(order):
    return [
        (
            source.source_type.name,
            source.amount_allocated,
            source.amount_debited,
            source.reference,
            list(source.transactions.values_list("txn_type", "amount")),
        )
        for source in order.sources.order_by("pk")
    ]


@pytest.fixture
def read(django_capture_on_commit_callbacks):
    """``read(invoice, provider_status)``: the invoice takes that status as a read of it
    would (``django_invoices.testing.set_invoice_status``), signals sent at the commit."""

    def apply(invoice, provider_status):
        with django_capture_on_commit_callbacks(execute=True):
            set_invoice_status(invoice, provider_status)

    return apply


@pytest.fixture
def placed(kunapay, place_order):
    """An order placed, waiting for the buyer on the payment page: (Oscar order, invoice)."""
    place_order()
    order = oscar_order()
    return order, app_invoice(order)


def test_paid_records_a_source_and_a_settled_event_and_moves_the_order(kunapay, placed, product):
    order, invoice = placed
    kunapay.pay(invoice)

    order.refresh_from_db()
    reference = str(invoice.provider_id)
    assert order.status == "Paid"
    assert status_changes(order) == [(PENDING, "Paid")]
    assert events(order) == [("Settled", Decimal("24.90"), reference)]
    settled = order.payment_events.get()
    assert [(q.line_id, q.quantity) for q in settled.line_quantities.all()] == [
        (line.pk, 1) for line in order.lines.all()
    ]
    assert sources(order) == [
        ("KUNA Pay", Decimal("24.90"), Decimal("24.90"), reference, [("Debit", Decimal("24.90"))])
    ]
    # Paid goods ship: the allocation stays for Oscar's shipping to consume.
    assert stock(product) == (5, 1)
    assert "paid, 24.90 EUR received" in order.notes.get().message


def test_overpaid_settles_the_total_and_records_the_excess(kunapay, placed):
    order, invoice = placed
    kunapay.overpay(invoice)  # one and a half times what was due, in USDT

    order.refresh_from_db()
    reference = str(invoice.provider_id)
    assert order.status == "Overpaid"
    assert status_changes(order) == [(PENDING, "Overpaid")]
    assert events(order) == [
        ("Settled", Decimal("24.90"), reference),
        ("Overpaid", Decimal("12.45"), reference),
    ]
    assert sources(order)[0][2] == Decimal("37.35")


def test_partly_paid_records_what_arrived_and_keeps_the_stock(kunapay, placed, product):
    order, invoice = placed
    kunapay.pay_part(invoice)  # half

    order.refresh_from_db()
    assert order.status == "Partly paid"
    assert events(order) == [("Partly paid", Decimal("12.45"), str(invoice.provider_id))]
    assert sources(order)[0][1:3] == (Decimal("24.90"), Decimal("12.45"))
    assert stock(product) == (5, 1)


def test_the_rest_of_a_partial_payment_settles_the_order(kunapay, placed, read):
    order, invoice = placed
    kunapay.pay_part(invoice)
    read(invoice, "PAID")  # the buyer sent the rest

    order.refresh_from_db()
    assert order.status == "Paid"
    assert status_changes(order) == [(PENDING, "Partly paid"), ("Partly paid", "Paid")]
    assert [name for name, _amount, _ref in events(order)] == ["Partly paid", "Settled"]


@pytest.mark.parametrize(
    ("act", "status", "event"),
    [
        ("expire", "Payment expired", "Expired"),
        ("decline", "Payment declined", "Declined"),
    ],
)
def test_an_invoice_that_ends_unpaid_releases_the_stock(
    kunapay, placed, product, act, status, event
):
    order, invoice = placed
    assert stock(product) == (5, 1)
    getattr(kunapay, act)(invoice)

    order.refresh_from_db()
    assert order.status == status
    assert events(order) == [(event, Decimal("0.00"), str(invoice.provider_id))]
    assert order.sources.count() == 0
    # Oscar's own rule: the allocation goes back, the stock was never consumed.
    assert stock(product) == (5, 0)
    assert order.lines.get().allocation_cancelled


def test_a_deactivated_invoice_cancels_the_payment(kunapay, placed, product, read):
    order, invoice = placed
    read(invoice, "DEACTIVATED")

    order.refresh_from_db()
    assert order.status == "Payment cancelled"
    assert [name for name, _amount, _ref in events(order)] == ["Cancelled"]
    assert stock(product) == (5, 0)


def test_a_payment_after_the_deadline_is_paid_late(kunapay, placed, product):
    order, invoice = placed
    kunapay.fail("paid_after_expiry", invoice=invoice)
    kunapay.expire(invoice)  # the buyer's transfer lands after the deadline

    order.refresh_from_db()
    # The first read already shows it paid, after its expiry: never seen expired.
    assert order.status == "Paid late"
    assert status_changes(order) == [(PENDING, "Paid late")]
    assert events(order) == [("Settled", Decimal("24.90"), str(invoice.provider_id))]
    assert stock(product) == (5, 1)


def test_a_payment_after_the_order_expired_is_paid_late_and_flags_the_stock(
    kunapay, placed, product, read
):
    order, invoice = placed
    kunapay.expire(invoice)
    assert stock(product) == (5, 0)
    read(invoice, "PAID")  # money after all, after the allocation went back

    order.refresh_from_db()
    assert order.status == "Paid late"
    assert status_changes(order) == [(PENDING, "Payment expired"), ("Payment expired", "Paid late")]
    assert [name for name, _amount, _ref in events(order)] == ["Expired", "Settled"]
    assert any("check the stock" in note.message for note in order.notes.all())


def test_an_older_invoice_ending_after_the_order_was_paid_moves_nothing(kunapay, placed, read):
    order, first = placed
    kunapay.expire(first)
    second = services.create_invoice(services.linked_order(order))  # staff let them pay again
    kunapay.pay(second)
    order.refresh_from_db()
    assert order.status == "Paid"
    before = (status_changes(order), events(order))

    read(first, "DECLINED")  # the old invoice's news, late

    order.refresh_from_db()
    assert (status_changes(order), events(order)) == before
    assert outcomes.apply_invoice(first.pk) == outcomes.SUPERSEDED


def test_statuses_and_events_follow_the_settings(kunapay, placed, settings, monkeypatch):
    order, invoice = placed
    pipeline = {**type(order).pipeline, PENDING: ("Being processed",)}
    monkeypatch.setattr(type(order), "pipeline", pipeline)  # Oscar reads it once
    settings.DJANGO_INVOICES_OSCAR = {
        "STATUSES": {"paid": "Being processed"},
        "EVENTS": {"paid": "Paid by KUNA Pay"},
        "SOURCE_TYPE": "Crypto",
    }
    kunapay.pay(invoice)

    order.refresh_from_db()
    assert order.status == "Being processed"
    assert [name for name, _amount, _ref in events(order)] == ["Paid by KUNA Pay"]
    assert sources(order)[0][0] == "Crypto"


def test_a_status_the_pipeline_does_not_allow_is_not_forced(kunapay, placed, monkeypatch):
    order, invoice = placed
    # Oscar reads the pipeline once, onto the model class.
    monkeypatch.setattr(type(order), "pipeline", {PENDING: ("Cancelled",), "Cancelled": ()})
    kunapay.pay(invoice)

    order.refresh_from_db()
    assert order.status == PENDING
    assert status_changes(order) == []
    # The money is recorded all the same, and staff are told why the status stayed.
    assert [name for name, _amount, _ref in events(order)] == ["Settled"]
    assert "does not lead from it to 'Paid'" in order.notes.get().message
    assert outcomes.apply_invoice(invoice.pk) == outcomes.ALREADY


def test_orders_of_the_shop_itself_are_left_alone(kunapay, db):
    from django_invoices.models import Order

    order = Order.objects.create(external_order_id="own-1", amount=Decimal("5"), asset="EUR")
    kunapay.pay(order)  # no Oscar order behind it: the receivers must not fail (strict)

    invoice = order.invoices.get()
    assert invoice.status == "paid"
    assert outcomes.apply_invoice(invoice.pk) == outcomes.NOT_OSCAR


def test_more_money_on_a_paid_invoice_records_the_excess(
    kunapay, placed, django_capture_on_commit_callbacks
):
    from django_invoices import wire
    from django_invoices.services.transitions import apply_invoice_data

    order, invoice = placed
    kunapay.pay(invoice)
    order.refresh_from_db()
    assert order.status == "Paid"
    # A second transfer arrives on the paid invoice, and a read shows it.
    data = kunapay.data(invoice)
    first = data["transactions"][0]
    data["transactions"].append(
        {**first, "id": "d2f0c2b4-0b5c-4f7e-9a55-000000000002", "amount": "2.739"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        apply_invoice_data(invoice, wire.Invoice.from_wire(data))

    order.refresh_from_db()
    reference = str(invoice.provider_id)
    assert order.status == "Overpaid"
    assert status_changes(order) == [(PENDING, "Paid"), ("Paid", "Overpaid")]
    assert events(order) == [
        ("Settled", Decimal("24.90"), reference),
        ("Overpaid", Decimal("2.49"), reference),
    ]
    assert sources(order)[0][2:4] == (Decimal("27.39"), reference)
