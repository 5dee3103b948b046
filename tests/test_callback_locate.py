"""Locate: which of our invoices a callback is about, decided once from our records
(``services.locate``), and every later step following that answer."""

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from django_invoices.callbacks import ParsedCallback
from django_invoices.models import CallbackEvent, Deposit, Invoice, Order
from django_invoices.services import locate, pipeline

from .callbacks_kit import post
from .conftest import API, INVOICE_ID, invoice_payload

State = CallbackEvent.State
OTHER_ID = "22222222-3333-4444-8555-666666666666"
THIRD_ID = "33333333-3333-4444-8555-666666666666"


def make_invoice(provider_id, reference, **fields):
    order = Order.objects.create(external_order_id=reference, amount=Decimal("1"), asset="EUR")
    return Invoice.objects.create(
        provider_id=provider_id,
        order=order,
        invoice_amount=Decimal("1"),
        invoice_asset="EUR",
        **fields,
    )


@pytest.fixture
def two_invoices(invoice):
    return invoice, make_invoice(OTHER_ID, "B-1")


def find(data, event="InvoiceDeposit", account="default"):
    found = locate.locate(ParsedCallback(event, data), account)
    return None if found is None else Invoice.objects.get(pk=found.invoice.pk)


def test_an_invoice_event_is_about_its_own_id_and_nothing_else_it_names(two_invoices):
    first, _ = two_invoices
    assert find({"id": INVOICE_ID, "invoiceId": OTHER_ID}, event="Invoice") == first
    assert find({"id": INVOICE_ID.upper()}, event="Invoice") == first
    assert find({"id": f"urn:uuid:{INVOICE_ID}"}, event="Invoice") == first


def test_an_invoice_event_naming_an_invoice_we_do_not_know_is_about_none_of_ours(
    two_invoices,
):
    unknown = str(uuid.uuid4())
    assert find({"id": unknown, "externalOrderId": "A-1"}, event="Invoice") is None
    assert find({"id": unknown, "invoiceId": OTHER_ID}, event="Invoice") is None


def test_a_deposit_is_about_the_invoice_it_names_never_its_own_id(two_invoices):
    _first, second = two_invoices
    assert find({"id": INVOICE_ID, "invoiceId": OTHER_ID}) == second
    assert find({"id": INVOICE_ID}) is None  # a transaction id is no invoice id
    assert find({"id": "tx-1", "invoiceId": str(uuid.uuid4()), "externalOrderId": "B-1"}) is None
    assert find({"id": "tx-1", "invoiceId": "not-a-uuid", "externalOrderId": "B-1"}) == second


def test_an_event_of_another_name_may_carry_the_invoices_own_id(two_invoices):
    first, second = two_invoices
    assert find({"id": INVOICE_ID}, event="InvoiceUpdated") == first
    assert find({"id": INVOICE_ID, "invoiceId": OTHER_ID}, event="InvoiceUpdated") == second


def test_an_order_id_names_the_orders_newest_invoice(two_invoices):
    first, _ = two_invoices
    Invoice.objects.filter(pk=first.pk).update(status="expired")
    newer = Invoice.objects.create(
        provider_id=THIRD_ID,
        order=first.order,
        status="awaiting_payment",
        invoice_amount=Decimal("1"),
        invoice_asset="EUR",
    )
    Invoice.objects.filter(pk=first.pk).update(created_at=newer.created_at - timedelta(minutes=5))
    assert find({"externalOrderId": "A-1"}) == newer
    assert find({"externalOrderId": "A-1"}, event="Invoice") == newer
    assert find({"externalOrderId": "nobody"}) is None


def test_an_order_id_of_the_longest_length_the_models_hold_is_found(db):
    reference = "R" * 128
    invoice = make_invoice(THIRD_ID, reference)
    assert find({"externalOrderId": reference}) == invoice


def test_a_recorded_deposit_names_its_invoice_before_an_order_id(two_invoices):
    _first, second = two_invoices
    Deposit.objects.create(provider_id="tx-9", invoice=second, status="Processed")
    assert find({"id": "tx-9"}) == second
    assert find({"id": "tx-9", "externalOrderId": "A-1"}) == second
    assert find({"id": "tx-9"}, event="Invoice") is None
    assert find({"id": "tx-unknown"}) is None
    assert find({}) is None


def test_another_accounts_invoices_are_never_named(two_invoices):
    _, second = two_invoices
    Invoice.objects.filter(pk=second.pk).update(account="other")
    Deposit.objects.create(provider_id="tx-9", invoice=second, status="Processed")
    assert find({"invoiceId": OTHER_ID}) is None
    assert find({"externalOrderId": "B-1"}) is None
    assert find({"id": "tx-9"}) is None
    assert find({"invoiceId": OTHER_ID}, account="other") == Invoice.objects.get(pk=second.pk)


def test_locate_says_whether_the_same_news_was_applied_to_that_invoice(two_invoices):
    _first, second = two_invoices
    CallbackEvent.objects.create(
        verified=True, state=State.APPLIED, invoice=second, dedupe_key="k", body="{}"
    )
    parsed = ParsedCallback("Invoice", {"id": INVOICE_ID})
    assert locate.locate(parsed, "default", dedupe_key="k").applied_already is False
    parsed = ParsedCallback("InvoiceDeposit", {"id": "tx", "invoiceId": OTHER_ID})
    assert locate.locate(parsed, "default", dedupe_key="k").applied_already is True
    by_order = ParsedCallback("InvoiceDeposit", {"id": "tx", "externalOrderId": "B-1"})
    assert locate.locate(by_order, "default", dedupe_key="k").applied_already is True
    assert locate.locate(by_order, "default", dedupe_key="other").applied_already is False


def test_the_invoice_of_an_event_not_placed_is_found_from_its_body(invoice):
    body = json.dumps({"event": "Invoice", "data": {"id": INVOICE_ID, "status": "PAID"}})
    event = CallbackEvent.objects.create(verified=True, state=State.PENDING, body=body)
    assert pipeline.invoice_of_event(event) == invoice
    event.verified = False
    assert pipeline.invoice_of_event(event) is None
    event.verified, event.body = True, "not json"
    assert pipeline.invoice_of_event(event) is None


# -- the rest of the pipeline follows locate's answer --------------------------------------


def test_a_body_naming_two_invoices_reads_the_one_located_and_settles_no_other(
    client, api, queued, run_queued, two_invoices
):
    """Regression: a signed ``Invoice`` event with ``data.id`` = K and ``invoiceId`` = N
    used to be read as N and marked applied, and a genuine PAID callback about a third
    invoice M waiting behind it was marked "covered" by that read. Now K is read (the
    invoice locate named), N is never read, and M's callback is settled by M's own read,
    never by K's."""
    first, second = two_invoices  # K and N
    third = make_invoice(THIRD_ID, "C-1")  # M
    for invoice_id in (INVOICE_ID, THIRD_ID):
        api.get(
            f"{API}/v1/invoice/{invoice_id}", json={"data": invoice_payload("PAID", invoice_id)}
        )
    mixed = {"id": INVOICE_ID, "invoiceId": OTHER_ID, "status": "PAID"}
    assert post(client, {"event": "Invoice", "data": mixed}).json()["state"] == "pending"
    genuine = {"id": THIRD_ID, "status": "PAID"}
    assert post(client, {"event": "Invoice", "data": genuine}).json()["state"] == "pending"
    placed = dict(CallbackEvent.objects.values_list("object_id", "invoice"))
    assert placed == {INVOICE_ID: first.pk, THIRD_ID: third.pk}

    run_queued(queued, due_only=True)

    read = sorted(call.request.url for call in api.calls)
    assert read == sorted(f"{API}/v1/invoice/{i}" for i in (INVOICE_ID, THIRD_ID))
    for invoice in (first, third):
        event = CallbackEvent.objects.get(invoice=invoice)
        assert event.state == State.APPLIED
        assert event.outcome == "read 'PAID': created -> paid"
    assert Invoice.objects.get(pk=second.pk).status == "created"
    assert Invoice.objects.get(pk=third.pk).status == "paid"


def test_a_body_naming_two_invoices_in_the_request_reads_only_the_one_located(
    client, api, two_invoices
):
    first, second = two_invoices
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    mixed = {"id": INVOICE_ID, "invoiceId": OTHER_ID, "status": "PAID"}
    answer = post(client, {"event": "Invoice", "data": mixed}).json()
    assert answer["state"] == "applied"
    assert [call.request.url for call in api.calls] == [f"{API}/v1/invoice/{INVOICE_ID}"]
    assert CallbackEvent.objects.get().invoice == first
    assert Invoice.objects.get(pk=second.pk).status == "created"


def test_a_signed_callback_naming_a_128_character_order_id_is_located(client, api, db):
    """``Order.external_order_id`` holds 128 characters; the body's is read whole."""
    reference = "R" * 128
    invoice = make_invoice(THIRD_ID, reference)
    api.get(
        f"{API}/v1/invoice/{THIRD_ID}",
        json={"data": invoice_payload("PAID", THIRD_ID, transactions=[{"id": "tx-9"}])},
    )
    deposit = {"id": "tx-9", "externalOrderId": reference, "status": "Processed"}
    answer = post(client, {"event": "InvoiceDeposit", "data": deposit}).json()
    assert answer["state"] == "applied"
    assert CallbackEvent.objects.get().invoice == invoice


def test_an_order_id_names_the_invoice_created_last_not_the_one_stored_last(two_invoices):
    first, _ = two_invoices
    stored_later = Invoice.objects.create(
        provider_id=THIRD_ID,
        order=first.order,
        status="expired",
        invoice_amount=Decimal("1"),
        invoice_asset="EUR",
    )
    Invoice.objects.filter(pk=stored_later.pk).update(
        created_at=first.created_at - timedelta(minutes=5)
    )
    assert find({"externalOrderId": "A-1"}) == first
    # Created at the same instant: the one stored last.
    Invoice.objects.filter(pk=stored_later.pk).update(created_at=first.created_at)
    assert find({"externalOrderId": "A-1"}) == stored_later


def test_news_applied_to_another_invoice_or_not_applied_at_all_is_no_duplicate(two_invoices):
    first, second = two_invoices
    for invoice, state in ((first, State.APPLIED), (second, State.FAILED)):
        CallbackEvent.objects.create(
            verified=True, state=state, invoice=invoice, dedupe_key="k", body="{}"
        )
    by_order = ParsedCallback("InvoiceDeposit", {"id": "tx", "externalOrderId": "B-1"})
    assert locate.locate(by_order, "default", dedupe_key="k").applied_already is False


@pytest.mark.parametrize(
    "data", [{"id": "tx-9"}, {"externalOrderId": "B-1"}], ids=["recorded-deposit", "order-id"]
)
def test_locating_by_our_records_takes_one_query_and_loads_what_the_read_needs(
    two_invoices, data, django_assert_num_queries
):
    _, second = two_invoices
    Deposit.objects.create(provider_id="tx-9", invoice=second, status="Processed")
    with django_assert_num_queries(1):
        found = locate.locate(ParsedCallback("InvoiceDeposit", data), "default").invoice
    with django_assert_num_queries(0):
        assert (found.pk, found.provider_id, found.account) == (
            second.pk,
            uuid.UUID(OTHER_ID),
            "default",
        )
