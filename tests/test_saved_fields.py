"""Which fields the services name when they save a row: a ``post_save`` receiver (a
shop's, or Django's own update_fields-aware code) is told exactly those, and a save
that names them writes no other column."""

import pytest
import requests
from django.db.models.signals import post_save

from django_invoices import services
from django_invoices.exceptions import ProviderTimeout
from django_invoices.models import Deposit, Invoice, Order
from django_invoices.services import invoices as invoice_service
from django_invoices.services import transitions

from .test_deposit_writes import _other_invoice, deposit_data
from .test_pipeline_mutants import CREATE_URL, _listed, _owing


@pytest.fixture
def saved():
    """``saved(Model)``: the list of ``(pk, update_fields)`` of each save of that model
    from then on."""
    receivers = []

    def listen(model):
        seen = []

        def receiver(sender, instance, update_fields, **kwargs):
            seen.append((instance.pk, update_fields))

        post_save.connect(receiver, sender=model, weak=False)
        receivers.append((receiver, model))
        return seen

    yield listen
    for receiver, model in receivers:
        post_save.disconnect(receiver, sender=model)


def test_a_create_with_no_clear_answer_saves_only_the_orders_reconciliation_and_time(
    api, order, saved
):
    api.post(CREATE_URL, body=requests.ReadTimeout("no answer"))
    api.get(CREATE_URL, status=503, json={"errors": [{"code": "DOWN", "message": "down"}]})
    orders = saved(Order)

    with pytest.raises(ProviderTimeout):
        services.create_invoice(order)

    assert orders == [
        (
            order.pk,
            frozenset({"needs_reconciliation", "reconciliation_issue", "updated_at"}),
        )
    ]
    assert Order.objects.get(pk=order.pk).needs_reconciliation is True


def test_reconciling_an_order_with_nothing_found_saves_only_its_reconciliation_and_time(
    api, order, saved
):
    _listed(api)
    pk = _owing(order)
    orders = saved(Order)

    assert invoice_service.reconcile_order(pk) == ("nothing found", None)

    assert orders == [
        (pk, frozenset({"needs_reconciliation", "reconciliation_issue", "updated_at"}))
    ]
    assert Order.objects.get(pk=pk).needs_reconciliation is False


def test_moving_a_deposit_saves_only_its_invoice_and_time_before_its_news(btc_invoice, saved):
    other = _other_invoice()
    transitions.write_deposit(other, deposit_data("tx-1", status="Processing"))
    deposit = Deposit.objects.get()
    deposits = saved(Deposit)

    _, done = transitions.write_deposit(btc_invoice, deposit_data("tx-1"), authoritative=True)

    assert done == transitions.DEPOSIT_MOVED
    # The move names its fields; the news it came with is then saved whole.
    assert deposits == [(deposit.pk, frozenset({"invoice", "updated_at"})), (deposit.pk, None)]


def test_moving_a_deposit_saves_only_the_received_total_and_time_of_the_invoice_it_left(
    btc_invoice, saved
):
    other = _other_invoice()
    transitions.write_deposit(other, deposit_data("tx-1"))
    invoices = saved(Invoice)

    transitions.write_deposit(btc_invoice, deposit_data("tx-1"), authoritative=True)

    assert invoices == [(other.pk, frozenset({"paid_amount", "updated_at"}))]
    assert Invoice.objects.get(pk=other.pk).paid_amount == 0
