"""The callback path's hand-written statements (``services/statements.py``), each
checked against the ORM query it stands for, on the database the suite runs on
(SQLite here, PostgreSQL in ``make test-postgres``)."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from django_invoices.models import (
    CallbackEvent,
    Deposit,
    DrainSchedule,
    Invoice,
    Order,
    ProviderRequest,
)
from django_invoices.services import statements

from .conftest import INVOICE_ID

pytestmark = pytest.mark.django_db

OTHER_ID = "11111111-2222-4333-8444-555555555555"
CREDITED = ("Processed", "PartiallyProcessed")
MONEY_IN = ("", "Deposit", "InvoiceDeposit")


def make_invoice(provider_id, account="default", external_order_id="A-1"):
    order = Order.objects.create(
        external_order_id=external_order_id, amount=Decimal("1.00"), asset="EUR"
    )
    return Invoice.objects.create(
        provider_id=provider_id,
        account=account,
        order=order,
        invoice_amount=Decimal("1.00"),
        invoice_asset="EUR",
    )


def event(invoice, dedupe_key, state):
    return CallbackEvent.objects.create(
        invoice=invoice, dedupe_key=dedupe_key, state=state, body_sha256="0" * 64
    )


def test_invoices_named_are_the_accounts_invoices_with_whether_the_news_was_applied():
    mine = make_invoice(INVOICE_ID)
    other = make_invoice(OTHER_ID, external_order_id="A-2")
    make_invoice(str(uuid.uuid4()), account="shop-b", external_order_id="B-1")
    event(mine, "news", CallbackEvent.State.APPLIED)
    event(other, "news", CallbackEvent.State.PENDING)
    event(other, "older news", CallbackEvent.State.APPLIED)
    ids = [uuid.UUID(INVOICE_ID), uuid.UUID(OTHER_ID), uuid.uuid4()]

    found = statements.invoices_named("default", ids, "news")

    expected = (
        Invoice.objects.filter(account="default", provider_id__in=ids)
        .annotate(
            applied=Exists(
                CallbackEvent.objects.filter(
                    invoice=OuterRef("pk"), dedupe_key="news", state="applied"
                )
            )
        )
        .values_list("pk", "provider_id", "applied")
    )
    assert sorted(
        (invoice.pk, invoice.provider_id, invoice.account, applied) for invoice, applied in found
    ) == sorted((pk, provider_id, "default", applied) for pk, provider_id, applied in expected)
    assert sorted(applied for _invoice, applied in found) == [False, True]
    assert all(isinstance(invoice.provider_id, uuid.UUID) for invoice, _applied in found)
    assert all(not invoice._state.adding for invoice, _applied in found)
    assert statements.invoices_named("shop-b", ids, "news") == []


def test_drain_requested_only_when_the_named_row_has_a_request_time():
    assert statements.drain_requested("callbacks") is False
    DrainSchedule.objects.create(name="callbacks")
    assert statements.drain_requested("callbacks") is False
    DrainSchedule.objects.create(name="other", requested_at=timezone.now())
    assert statements.drain_requested("callbacks") is False
    assert statements.drain_requested("other") is True
    DrainSchedule.objects.filter(name="callbacks").update(requested_at=timezone.now())
    assert statements.drain_requested("callbacks") is True


def deposit(invoice, provider_id, status, type_, amount, processed):
    return Deposit.objects.create(
        invoice=invoice,
        provider_id=provider_id,
        status=status,
        type=type_,
        amount=Decimal(amount) if amount is not None else None,
        processed_amount=Decimal(processed) if processed is not None else None,
    )


def test_credited_total_sums_the_deposits_that_count_as_the_orm_aggregate_does():
    invoice = make_invoice(INVOICE_ID)
    other = make_invoice(OTHER_ID, external_order_id="A-2")
    deposit(invoice, "t1", "Processed", "InvoiceDeposit", "0.10000001", "0.1")
    deposit(invoice, "t2", "PartiallyProcessed", "", "0.2", "0.19999999")
    deposit(invoice, "t3", "Processed", "Deposit", "1.5", None)
    deposit(invoice, "t4", "Processing", "InvoiceDeposit", "7", "7")  # not credited
    deposit(invoice, "t5", "Processed", "Withdrawal", "9", "9")  # not money in
    deposit(other, "t6", "Processed", "InvoiceDeposit", "100", "100")  # another invoice

    for column in ("amount", "processed_amount"):
        total = statements.credited_total(invoice.pk, column, CREDITED, MONEY_IN)
        expected = Deposit.objects.filter(
            invoice=invoice, status__in=CREDITED, type__in=MONEY_IN
        ).aggregate(total=Sum(column))["total"]
        assert total == expected, column
        assert type(total) is type(expected) is Decimal, column
    assert statements.credited_total(invoice.pk, "amount", CREDITED, MONEY_IN) == Decimal(
        "1.80000001"
    )
    assert statements.credited_total(invoice.pk, "processed_amount", CREDITED, MONEY_IN) == (
        Decimal("0.29999999")
    )


def test_credited_total_of_an_invoice_with_no_deposit_that_counts_is_none():
    invoice = make_invoice(INVOICE_ID)
    assert statements.credited_total(invoice.pk, "amount", CREDITED, MONEY_IN) is None
    deposit(invoice, "t1", "Processing", "InvoiceDeposit", "1", "1")
    assert statements.credited_total(invoice.pk, "amount", CREDITED, MONEY_IN) is None


def request_row(number, started):
    return ProviderRequest(
        started_at=started,
        account="default",
        method="GET",
        endpoint="invoice",
        object_id=f"obj-{number}",
        status_code=200 if number % 2 else None,
        result="ok",
        milliseconds=number,
        attempt=1 + number % 3,
    )


def test_insert_many_writes_what_bulk_create_writes_in_batches_the_database_takes(monkeypatch):
    started = timezone.now() - timedelta(minutes=5)
    ProviderRequest.objects.bulk_create([request_row(n, started) for n in range(5)])
    expected = list(
        ProviderRequest.objects.order_by("milliseconds").values(
            "started_at",
            "account",
            "method",
            "endpoint",
            "object_id",
            "status_code",
            "result",
            "milliseconds",
            "attempt",
        )
    )
    ProviderRequest.objects.all().delete()
    monkeypatch.setattr(connection.ops, "bulk_batch_size", lambda fields, objs: 2)

    statements.insert_many([request_row(n, started) for n in range(5)])

    stored = list(ProviderRequest.objects.order_by("milliseconds").values(*expected[0].keys()))
    assert stored == expected
    assert len(stored) == 5


def test_insert_many_sends_one_statement_a_batch(django_assert_num_queries, monkeypatch):
    started = timezone.now()
    monkeypatch.setattr(connection.ops, "bulk_batch_size", lambda fields, objs: 2)
    with django_assert_num_queries(3):  # 2 + 2 + 1 rows
        statements.insert_many([request_row(n, started) for n in range(5)])
    with django_assert_num_queries(0):
        statements.insert_many([])
    assert ProviderRequest.objects.count() == 5


def test_an_event_is_stored_with_each_value_as_save_would_store_it():
    invoice = make_invoice(INVOICE_ID)
    fields = {
        "account": "default",
        "replay_key": "r" * 64,
        "body": '{"event": "Invoice", "text": "\u20b4 \u0444"}',
        "body_sha256": "b" * 64,
        "body_size": 1234,
        "headers": {"Kun-Signature": "x", "Content-Type": "application/json"},
        "remote_addr": "2001:db8::1",
        "verified": True,
        "signature_variant": "sha384/hex/raw",
        "event_name": "Invoice",
        "object_id": INVOICE_ID,
        "provider_status": "PAID",
        "dedupe_key": "d" * 64,
        "invoice": invoice,
        "state": CallbackEvent.State.PENDING,
        "attempts": 0,
    }
    saved = CallbackEvent.objects.create(**{**fields, "replay_key": "s" * 64})
    stored = CallbackEvent(**fields)

    assert statements.store_event(stored) is False

    assert stored.pk is not None and stored.pk != saved.pk
    assert stored.received_at is not None
    names = [f.attname for f in CallbackEvent._meta.concrete_fields]
    skipped = {"id", "replay_key", "received_at"}
    as_saved = CallbackEvent.objects.values(*names).get(pk=saved.pk)
    as_stored = CallbackEvent.objects.values(*names).get(pk=stored.pk)
    assert {k: v for k, v in as_stored.items() if k not in skipped} == {
        k: v for k, v in as_saved.items() if k not in skipped
    }
    assert as_stored["received_at"] == stored.received_at
    assert as_stored["headers"] == fields["headers"]
    assert as_stored["remote_addr"] == "2001:db8::1"


def test_a_value_of_another_type_than_its_field_holds_is_adapted_by_the_field():
    # A number in a text field: the field turns it into text, as save() would.
    stored = CallbackEvent(
        account="default", body_sha256="c" * 64, event_name=12345, body=678, state="pending"
    )
    statements.insert(stored)
    row = CallbackEvent.objects.values("event_name", "body").get(pk=stored.pk)
    assert row == {"event_name": "12345", "body": "678"}


def replay(**fields):
    values = {
        "account": "default",
        "replay_key": "k" * 64,
        "body": "{}",
        "body_sha256": "e" * 64,
        "verified": True,
        "state": CallbackEvent.State.PENDING,
    }
    return CallbackEvent(**{**values, **fields})


@pytest.fixture
def without_upsert(monkeypatch):
    """A database without ON CONFLICT (MySQL, Oracle)."""
    monkeypatch.setattr(connection, "vendor", "mysql")


def test_without_an_upsert_a_replay_is_counted_on_the_first_row(without_upsert):
    first = replay()
    assert statements.store_event(first) is False
    assert first.pk is not None and not first._state.adding
    CallbackEvent.objects.filter(pk=first.pk).update(state="applied", outcome="done")

    again = replay(remote_addr="192.0.2.1")
    assert statements.store_event(again) is True

    assert CallbackEvent.objects.count() == 1
    stored = CallbackEvent.objects.get()
    assert stored.times_received == 2
    assert stored.last_received_at is not None
    assert stored.last_received_at >= stored.received_at
    assert (again.pk, again.state, again.outcome, again.times_received) == (
        first.pk,
        "applied",
        "done",
        2,
    )
    assert not again._state.adding


def test_without_an_upsert_a_replay_stored_in_between_is_counted_not_duplicated(
    without_upsert, monkeypatch
):
    from django.db.models import QuerySet

    twin = replay()
    statements.store_event(twin)
    real_first = QuerySet.first
    looks = []

    def first_misses_once(queryset):
        looks.append(1)
        # The first look runs before the other process's row was committed.
        return None if len(looks) == 1 else real_first(queryset)

    monkeypatch.setattr(QuerySet, "first", first_misses_once)
    late = replay()
    assert statements.store_event(late) is True
    assert len(looks) == 2
    assert CallbackEvent.objects.count() == 1
    assert CallbackEvent.objects.get().times_received == 2
    assert late.pk == twin.pk


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="save() without RETURNING needs a cursor's lastrowid"
)
def test_without_an_upsert_a_replay_takes_the_stored_rows_invoice(without_upsert):
    assert statements.store_event(replay()) is False  # stored with no invoice
    again = replay()
    again.invoice = make_invoice(INVOICE_ID)  # what this arrival was matched to
    assert statements.store_event(again) is True
    # As with ON CONFLICT: the replay is the stored row, its relation included.
    assert (again.invoice_id, again.invoice) == (None, None)


@pytest.mark.skipif(
    "postgresql" in connection.settings_dict["ENGINE"],
    reason="psycopg's cursor has no lastrowid, which an INSERT without RETURNING needs",
)
def test_without_returning_an_insert_saves_the_instance(without_upsert, monkeypatch):
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    event = replay(replay_key=None)
    statements.insert(event)
    assert event.pk is not None and not event._state.adding
    assert CallbackEvent.objects.get(pk=event.pk).body_sha256 == "e" * 64
    without_key = replay(replay_key=None)
    assert statements.store_event(without_key) is False
    assert CallbackEvent.objects.count() == 2
