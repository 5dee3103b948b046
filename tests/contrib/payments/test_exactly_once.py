"""Exactly once through the contrib: a repeated, reordered or forged callback moves the
django-payments Payment once at most (``moves`` records every ``change_status``).

Callbacks reach this app's callback view (never django-payments'): on the sandbox
through the ``kunapay`` fixture, or signed here with the test key while ``responses``
plays the API's answers, in any order a test wants.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection
from payments import PaymentStatus

from django_invoices import services, signals
from django_invoices.contrib.payments import sync_payment
from django_invoices.models import CallbackEvent, Invoice, Order
from django_invoices.statuses import OrderStatus
from django_invoices.testing import deliver_callback, invoice_event
from tests.conftest import API, INVOICE_ID, invoice_payload

from .conftest import send_to_pay

CREATE_URL = f"{API}/v1/invoice"
READ_URL = f"{API}/v1/invoice/{INVOICE_ID}"
FORGED_SIGNATURE = "0" * 96


def confirmed(payment):
    return [(payment.pk, PaymentStatus.CONFIRMED)]


# -- on the sandbox ------------------------------------------------------------------------


@pytest.fixture
def invoice(kunapay, payment):
    send_to_pay(payment)
    return Invoice.objects.get()


def test_a_repeated_callback_moves_the_payment_once(kunapay, client, payment, invoice, moves):
    kunapay.fail("callback_twice", invoice=invoice)
    kunapay.pay(invoice)
    bodies = [delivery.body for delivery in kunapay.deliveries(invoice)]
    assert len(bodies) >= 2 * 3  # each report (awaiting, confirming, paid) sent twice
    # ... and all of them once more, three times over, as KUNA Pay's retries would.
    for _again in range(3):
        for body in bodies:
            assert deliver_callback(client, body).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMED
    assert payment.captured_amount == Decimal("42.50")
    assert moves == confirmed(payment)


def test_callbacks_out_of_order_move_the_payment_once(kunapay, client, payment, invoice, moves):
    kunapay.fail("callback_out_of_order", invoice=invoice)
    kunapay.pay(invoice)
    reports = [json.loads(d.body)["data"]["status"] for d in kunapay.deliveries(invoice)]
    assert reports[0] != "PAYMENT_AWAITING" and reports[-1] == "PAYMENT_AWAITING"
    # Paid, then "created": the first news of the invoice, delivered after the end.
    stale = invoice_event({**kunapay.data(invoice), "status": "CREATED"})
    assert deliver_callback(client, stale).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMED
    assert moves == confirmed(payment)


def test_a_forged_paid_callback_moves_nothing(kunapay, client, payment, invoice, moves):
    """Signed with no key of ours, or with another key: refused, and the invoice,
    read back if at all, is still unpaid."""
    paid = invoice_event({**kunapay.data(invoice), "status": "PAID"})
    refused = [
        deliver_callback(client, paid, signature=FORGED_SIGNATURE),
        deliver_callback(client, paid, private_key="not-the-shops-key"),
        deliver_callback(client, paid, signature=""),
    ]
    assert all(400 <= response.status_code < 500 for response in refused)
    assert not CallbackEvent.objects.filter(verified=True).exists()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.WAITING
    assert moves == []


def test_a_signed_callback_that_lies_moves_nothing(kunapay, client, payment, invoice, moves):
    """Signed with the shop's own key, but KUNA Pay's API says otherwise: a callback is
    a hint, and only the read counts."""
    lie = invoice_event({**kunapay.data(invoice), "status": "PAID"})
    assert deliver_callback(client, lie).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.WAITING
    assert moves == []


def test_forged_callbacks_after_the_payment_change_nothing(
    kunapay, client, payment, invoice, moves
):
    kunapay.pay(invoice)
    for status in ("TIMEOUT", "PARTIALLY_PAID", "DECLINED"):
        news = invoice_event({**kunapay.data(invoice), "status": status})
        deliver_callback(client, news, signature=FORGED_SIGNATURE)
        deliver_callback(client, news)  # signed, but the API says paid
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount) == (PaymentStatus.CONFIRMED, Decimal("42.50"))
    assert moves == confirmed(payment)


def test_a_forged_post_to_django_payments_process_url_moves_nothing(
    kunapay, client, payment, invoice, moves
):
    body = json.dumps(invoice_event({**kunapay.data(invoice), "status": "PAID"}))
    response = client.post(payment.get_process_url(), data=body, content_type="application/json")
    assert response.status_code == 405
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.WAITING
    assert moves == []


def test_the_same_outcome_seen_twice_moves_the_payment_once(kunapay, payment, invoice, moves):
    """A receiver run again (the signal sent twice, a sync by hand, the buyer's return
    at the same time) finds the Payment where it belongs and does nothing."""
    kunapay.pay(invoice)
    order = Order.objects.get()
    for _again in range(2):
        signals.order_status_changed.send(
            sender=Order, order=order, old_status="awaiting_payment", new_status="paid"
        )
        signals.deposit_received.send(sender=Invoice, deposit=None, invoice=invoice)
        sync_payment(payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMED
    assert moves == confirmed(payment)


# -- the API's answers in any order (responses) --------------------------------------------


@pytest.fixture
def sent(api, payment):
    api.post(CREATE_URL, json={"data": {"id": INVOICE_ID, "paymentLink": "https://pay/1"}})
    send_to_pay(payment)
    return Invoice.objects.get()


def test_reordered_reads_paid_then_created_move_the_payment_once(
    api, deliver, payment, sent, moves
):
    """The API itself answers out of order: paid, then (a lagging replica) created. The
    transition refuses to go back, and the Payment moves once."""
    api.get(READ_URL, json={"data": invoice_payload("PAID")})
    api.get(READ_URL, json={"data": invoice_payload("CREATED")})
    for status in ("PAID", "CREATED", "PAID"):
        deliver({"event": "Invoice", "data": invoice_payload(status)})
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMED
    assert moves == confirmed(payment)
    assert Invoice.objects.get().status == "paid"


def test_twenty_identical_callbacks_move_the_payment_once(api, deliver, payment, sent, moves):
    api.get(READ_URL, json={"data": invoice_payload("PAID")})
    paid = {"event": "Invoice", "data": invoice_payload("PAID")}
    for _again in range(20):
        assert deliver(paid).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMED
    assert moves == confirmed(payment)


# -- at the same time (PostgreSQL: real row locks) ------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_syncs_move_the_payment_once(payment, moves):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL; run with DATABASE_URL=postgres://...")
    order = services.order_for(
        payment, external_order_id=f"payment-{payment.pk}", amount=Decimal("42.50"), asset="EUR"
    )
    # Paid as a read would leave it, without the signals (the threads stand for them).
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PAID)
    barrier = threading.Barrier(10)
    errors = []

    def worker():
        try:
            barrier.wait()
            sync_payment(payment)
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMED
    assert moves == confirmed(payment)


def test_a_failing_status_changed_receiver_rolls_the_move_back_and_it_is_made_again(
    kunapay, payment, invoice, moves
):
    """The move and django-payments' signal are one transaction: a shop receiver that
    raises leaves the Payment waiting (logged), and the next sync moves it once."""
    from payments.signals import status_changed

    def broken(sender, instance, **kwargs):
        raise RuntimeError("the shop's receiver broke")

    status_changed.connect(broken, weak=False)
    kunapay.strict = False
    try:
        kunapay.pay(invoice)
    finally:
        status_changed.disconnect(broken)
    assert any("broke" in str(error) for error in kunapay.receiver_errors)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.WAITING
    rolled_back = len(moves)  # each outcome signal tried, and each attempt was undone
    assert rolled_back >= 1
    for _again in range(2):
        assert sync_payment(payment).status == PaymentStatus.CONFIRMED
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount) == (PaymentStatus.CONFIRMED, Decimal("42.50"))
    assert moves[rolled_back:] == confirmed(payment)
