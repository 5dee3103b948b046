"""The admin at a shop's real size: no whole-table work, indexed searches, bounded pages.

Timings live in ``bench/admin_pages.py``; these tests pin what makes them possible (the
SQL each page sends, which rows a search finds, how much of a busy invoice is shown).
"""

import json
import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin import site
from django.db import connection
from django.forms import inlineformset_factory
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_invoices.admin import INVOICE_EVENTS_SHOWN, NewestFormSet, changelists
from django_invoices.models import CallbackEvent, Deposit, Invoice, Order
from django_invoices.statuses import InvoiceStatus

ORDERS = reverse("admin:django_invoices_order_changelist")
INVOICES = reverse("admin:django_invoices_invoice_changelist")
DEPOSITS = reverse("admin:django_invoices_deposit_changelist")
CALLBACKS = reverse("admin:django_invoices_callbackevent_changelist")
CHANGELISTS = [ORDERS, INVOICES, DEPOSITS, CALLBACKS]


def make_invoice(ref, asset="EUR", status=InvoiceStatus.AWAITING_PAYMENT, **order_fields):
    order = Order.objects.create(
        external_order_id=ref, amount=Decimal("10"), asset=asset, **order_fields
    )
    return Invoice.objects.create(
        provider_id=uuid.uuid4(),
        order=order,
        status=status,
        invoice_amount=Decimal("10"),
        invoice_asset=asset,
    )


def make_event(invoice=None, number=0, **fields):
    fields.setdefault("verified", True)
    fields.setdefault("state", CallbackEvent.State.APPLIED)
    fields.setdefault("event_name", "Invoice")
    return CallbackEvent.objects.create(
        invoice=invoice,
        body="{}",
        body_sha256=f"{number:064x}",
        object_id=str(invoice.provider_id) if invoice else f"obj-{number}",
        **fields,
    )


def listed(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response
    return list(response.context["cl"].result_list)


def sql_of(client, url, params=None):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return [query["sql"] for query in queries.captured_queries]


@pytest.fixture
def rows(db):
    invoice = make_invoice("A-1", asset="USDT")
    Deposit.objects.create(provider_id="tx-1", invoice=invoice, status="Processed", tx_id="0xab")
    make_event(invoice, 1)
    make_event(None, 2, verified=False, state=CallbackEvent.State.REJECTED, event_name="X")
    return invoice


# -- no whole-table work ----------------------------------------------------------------


@pytest.mark.parametrize("url", CHANGELISTS)
@pytest.mark.parametrize(
    "params",
    [{}, {"q": "A-1"}, {"q": "4f1c2b4e-0000-4000-8000-000000000000"}],
    ids=["plain", "text search", "id search"],
)
def test_a_changelist_counts_a_bounded_number_of_rows_and_lists_no_distinct_values(
    admin_client, rows, url, params
):
    statements = sql_of(admin_client, url, params)

    counts = [sql for sql in statements if "COUNT(" in sql.upper()]
    assert len(counts) == 1  # no second count of the whole table beside the filtered one
    assert re.search(r"LIMIT \d+", counts[0])  # counts at most EXACT_COUNT_LIMIT + 1
    for sql in statements:
        assert "DISTINCT" not in sql.upper(), sql
        assert not re.search(r"\b(MIN|MAX)\(", sql.upper()), sql  # no date_hierarchy
        # No icontains: SQLite spells the case-insensitive e-mail match as a LIKE
        # without wildcards, which PostgreSQL writes as UPPER(email) = UPPER(...).
        assert "LIKE '%" not in sql.upper(), sql


def test_the_count_beyond_the_limit_is_exact_where_no_estimate_exists(
    admin_client, rows, monkeypatch
):
    for number in range(6):
        make_invoice(f"B-{number}")
    monkeypatch.setattr(changelists, "EXACT_COUNT_LIMIT", 3)

    response = admin_client.get(INVOICES)

    expected = 7 if connection.vendor != "postgresql" else None
    if expected is not None:
        assert response.context["cl"].result_count == expected
    else:  # the planner's estimate, and never less than what was counted
        assert response.context["cl"].result_count >= 4


def test_the_paginator_counts_exactly_up_to_the_limit(db, monkeypatch):
    for number in range(5):
        make_invoice(f"C-{number}")
    monkeypatch.setattr(changelists, "EXACT_COUNT_LIMIT", 5)
    paginator = changelists.EstimatedCountPaginator(Invoice.objects.all(), 2)
    assert paginator.count == 5
    assert paginator.num_pages == 3
    assert changelists.EstimatedCountPaginator([1, 2, 3], 2).count == 3


@pytest.mark.postgres
def test_postgresql_estimates_a_long_list_instead_of_counting_it(db, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL; run with DATABASE_URL=postgres://...")
    for number in range(12):
        make_invoice(f"D-{number}")
    monkeypatch.setattr(changelists, "EXACT_COUNT_LIMIT", 3)
    paginator = changelists.EstimatedCountPaginator(Invoice.objects.all(), 2)

    with CaptureQueriesContext(connection) as queries:
        count = paginator.count

    assert count >= 4
    assert [q["sql"].startswith("EXPLAIN") for q in queries.captured_queries] == [False, True]


# -- filters from fixed lists and recent rows --------------------------------------------


def choices(response, title):
    for spec in response.context["cl"].filter_specs:
        if str(spec.title) == title:
            return [str(choice["display"]) for choice in spec.choices(response.context["cl"])]
    raise AssertionError(f"no filter {title!r}")


def test_filters_offer_settings_statuses_and_the_values_of_recent_rows(admin_client, rows):
    invoices = admin_client.get(INVOICES)
    assert choices(invoices, "invoice asset") == ["All", "USDT"]
    assert choices(invoices, "merchant account") == ["All", "default"]
    deposits = admin_client.get(DEPOSITS)
    assert choices(deposits, "status") == [
        "All",
        "Canceled",
        "Created",
        "PartiallyProcessed",
        "Processed",
        "Processing",
    ]
    events = admin_client.get(CALLBACKS)
    # The known names, and "X" because a recent (forged) event carried it.
    assert choices(events, "event") == [
        "All",
        "Invoice",
        "InvoiceDeposit",
        "InvoiceStatus",
        "InvoiceStatusChanged",
        "X",
    ]


def test_filters_still_filter_and_offer_a_value_named_in_the_url(admin_client, rows):
    make_invoice("E-1", asset="BTC")
    assert [str(o) for o in listed(admin_client, ORDERS, asset="BTC")] == ["E-1"]
    assert [str(i.order) for i in listed(admin_client, INVOICES, invoice_asset="USDT")] == ["A-1"]
    assert listed(admin_client, INVOICES, account="eu") == []
    assert "eu" in choices(admin_client.get(INVOICES, {"account": "eu"}), "merchant account")
    assert [e.object_id for e in listed(admin_client, CALLBACKS, event_name="X")] == ["obj-2"]
    assert [d.provider_id for d in listed(admin_client, DEPOSITS, status="Processed")] == ["tx-1"]
    assert listed(admin_client, DEPOSITS, status="Canceled") == []


def test_the_asset_filter_reads_only_the_newest_rows(admin_client, rows, monkeypatch):
    monkeypatch.setattr(changelists, "RECENT_ROWS", 1)
    make_invoice("F-1", asset="TRX")  # the newest order
    response = admin_client.get(ORDERS)
    assert choices(response, "asset") == ["All", "TRX"]


def test_lists_filter_by_date_without_a_date_hierarchy(admin_client, rows):
    response = admin_client.get(CALLBACKS)
    assert response.context["cl"].date_hierarchy is None
    assert "Today" in choices(response, "received")
    assert len(listed(admin_client, ORDERS, created_at__gte="2000-01-01 00:00:00+00:00")) == 1
    assert listed(admin_client, ORDERS, created_at__gte="2999-01-01 00:00:00+00:00") == []


# -- searches an index answers ----------------------------------------------------------


def test_an_invoice_id_finds_its_invoice_deposits_and_callbacks(admin_client, rows):
    other = make_invoice("B-1")
    Deposit.objects.create(provider_id="tx-2", invoice=other, status="Processed")
    make_event(other, 3)
    term = str(rows.provider_id).upper()

    assert [str(i) for i in listed(admin_client, INVOICES, q=term)] == [str(rows.provider_id)]
    assert [str(o) for o in listed(admin_client, ORDERS, q=term)] == ["A-1"]
    assert [d.provider_id for d in listed(admin_client, DEPOSITS, q=term)] == ["tx-1"]
    assert {e.body_sha256[-1] for e in listed(admin_client, CALLBACKS, q=term)} == {"1"}


def test_an_invoice_id_finds_the_events_placed_on_it_not_those_placed_elsewhere(admin_client, rows):
    (placed,) = CallbackEvent.objects.filter(invoice=rows)
    elsewhere = make_event(make_invoice("B-1"), 3)
    CallbackEvent.objects.filter(pk=elsewhere.pk).update(object_id=str(rows.provider_id))

    found = listed(admin_client, CALLBACKS, q=str(rows.provider_id))

    # Not the event placed on another invoice, whatever id its body carries.
    assert {event.pk for event in found} == {placed.pk}


def test_events_about_an_unknown_invoice_id_are_found_by_the_id_they_carry(admin_client, rows):
    unknown = uuid.uuid4()
    forged = make_event(None, 5, verified=False, state=CallbackEvent.State.REJECTED)
    CallbackEvent.objects.filter(pk=forged.pk).update(object_id=str(unknown))

    found = listed(admin_client, CALLBACKS, q=f'"{unknown}"')

    assert [event.pk for event in found] == [forged.pk]


def test_an_order_id_that_is_a_uuid_is_found_too(admin_client, db):
    reference = str(uuid.uuid4())
    make_invoice(reference)
    assert [str(o) for o in listed(admin_client, ORDERS, q=reference)] == [reference]
    assert [str(i.order) for i in listed(admin_client, INVOICES, q=reference)] == [reference]


def test_identifiers_are_matched_whole(admin_client, rows):
    assert [d.provider_id for d in listed(admin_client, DEPOSITS, q="0xab")] == ["tx-1"]
    assert listed(admin_client, DEPOSITS, q="0xa") == []
    assert len(listed(admin_client, CALLBACKS, q=f"{1:064x}")) == 1
    assert listed(admin_client, CALLBACKS, q=f"{1:064x}"[:20]) == []
    assert [e.object_id for e in listed(admin_client, CALLBACKS, q="obj-2")] == ["obj-2"]
    assert [str(o) for o in listed(admin_client, ORDERS, q="A-1")] == ["A-1"]
    assert listed(admin_client, ORDERS, q="A-") == []


# -- a busy invoice ---------------------------------------------------------------------


def test_the_invoice_page_shows_the_newest_events_and_links_to_all(admin_client, rows):
    for number in range(INVOICE_EVENTS_SHOWN + 5):
        make_event(rows, 100 + number, provider_status=f"status-no-{number:03}")
    change = reverse("admin:django_invoices_invoice_change", args=[rows.pk])

    page = admin_client.get(change).content.decode()

    # A marker no CSRF token can contain (a bare "S123" turned up in one now and then).
    shown = re.findall(r"status-no-\d{3}", page)
    newest = [f"status-no-{n:03}" for n in range(INVOICE_EVENTS_SHOWN + 4, 4, -1)]
    assert shown == newest
    link = f"{CALLBACKS}?invoice__id__exact={rows.pk}"
    assert f'<a href="{link}">' in page
    everything = listed(admin_client, CALLBACKS, invoice__id__exact=rows.pk)
    assert len(everything) == INVOICE_EVENTS_SHOWN + 6  # with the fixture's own event
    assert {event.invoice_id for event in everything} == {rows.pk}


def test_the_invoice_page_takes_the_same_queries_with_5_or_500_events(admin_client, rows):
    change = reverse("admin:django_invoices_invoice_change", args=[rows.pk])
    admin_client.get(change)
    for number in range(5):
        make_event(rows, 1000 + number)
    few = len(sql_of(admin_client, change))
    CallbackEvent.objects.bulk_create(
        CallbackEvent(invoice=rows, body="{}", body_sha256=f"{n:064x}", verified=True)
        for n in range(2000, 2500)
    )
    many = sql_of(admin_client, change)
    assert len(many) == few
    assert any("LIMIT 20" in sql for sql in many)


def test_each_list_says_what_its_search_matches(admin_client, db):
    assert "A whole order id, e-mail or KUNA Pay invoice id." in (
        admin_client.get(ORDERS).content.decode()
    )
    for url in CHANGELISTS:
        assert "A whole " in admin_client.get(url).content.decode()


# -- the health page ----------------------------------------------------------------------------

HEALTH = reverse("admin:django_invoices_paymentshealth_changelist")
# Each statement of the health page is bounded by a time range an index serves, or by
# a LIMIT (a partial index's few rows, or the newest row).
BOUNDED = re.compile(
    r'"(received_at|started_at|finished_at|created_at|hour)" >= |\bLIMIT \d+', re.IGNORECASE
)


def pending_and_swept():
    """A callback waiting and a sweep: the page then sends every one of its queries."""
    from django.utils import timezone

    from django_invoices.models import SweepRun

    CallbackEvent.objects.create(body="{}", body_sha256="p", verified=True, state="pending")
    now = timezone.now()
    SweepRun.objects.create(kind="sweep", started_at=now, finished_at=now)


def test_every_query_of_the_health_page_is_bounded(admin_client, rows):
    pending_and_swept()
    admin_client.get(HEALTH)

    statements = sql_of(admin_client, HEALTH)

    # The admin's own two (the session, the user), then the report's.
    report = [sql for sql in statements if "django_invoices_" in sql]
    assert len(report) == len(statements) - 2 == 11
    for sql in report:
        assert BOUNDED.search(sql), sql
        assert "DISTINCT" not in sql.upper(), sql
        # A count only ever of a LIMITed subquery.
        if "COUNT(*)" in sql.upper():
            assert re.search(r"LIMIT \d+\)", sql), sql
    # The charts group by hour in the database, never row by row in Python.
    grouped = [sql for sql in report if "GROUP BY" in sql.upper()]
    assert len(grouped) == 4


def test_the_health_page_counts_through_partial_indexes(admin_client, rows):
    """The conditions of the counts of invoices and orders that need a person are those of
    their partial indexes, so a table of millions of rows is never read to count them."""
    statements = sql_of(admin_client, HEALTH)
    invoices = [sql for sql in statements if 'FROM "django_invoices_invoice"' in sql]
    orders = [sql for sql in statements if 'FROM "django_invoices_order"' in sql]
    assert len(invoices) == len(orders) == 1
    assert '"overpaid"' in invoices[0] and "'partially_paid'" in invoices[0]
    assert '"needs_reconciliation"' in orders[0] and '"reconciliation_issue"' in orders[0]
    names = {index.name for index in Invoice._meta.indexes} | {
        index.name for index in Order._meta.indexes
    }
    assert {"django_invo_invoice_person", "django_invo_order_reconcile"} <= names


@pytest.mark.postgres
def test_postgresql_answers_every_health_query_through_an_index(admin_client, rows):
    """With sequential scans priced out, a plan that still reads a whole table of ours has
    no index to use."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL; run with DATABASE_URL=postgres://...")
    pending_and_swept()
    statements = [sql for sql in sql_of(admin_client, HEALTH) if "django_invoices_" in sql]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in statements:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert not re.search(r"Seq Scan on django_invoices_\w+", plan), (sql, plan)


# -- the filters' choices, built the way the admin builds them ---------------------------


def values_of(filter_class, model, **params):
    """A filter as a changelist makes it, for a request with these query parameters."""
    request = RequestFactory().get("/", params)
    found = filter_class(request, {k: [v] for k, v in params.items()}, model, site._registry[model])
    return found, request


def test_a_values_filter_offers_fixed_recent_and_chosen_values_and_filters(db):
    make_invoice("A-1", asset="USDT")
    make_invoice("A-2", asset="EUR")
    Order.objects.create(external_order_id="A-3", amount=Decimal("1"), asset="")
    asset_filter = changelists.values_filter("asset", "the asset", fixed=lambda: ["UAH", ""])

    assert asset_filter.__name__ == "AssetFilter"
    assert asset_filter.title == "the asset"
    assert asset_filter.parameter_name == "asset"
    unfiltered, request = values_of(asset_filter, Order)
    assert unfiltered.lookup_choices == [("EUR", "EUR"), ("UAH", "UAH"), ("USDT", "USDT")]
    assert unfiltered.queryset(request, Order.objects.all()).count() == 3

    chosen, request = values_of(asset_filter, Order, asset="EUR")
    assert [str(o) for o in chosen.queryset(request, Order.objects.all())] == ["A-2"]
    # A value from a link is offered even when no recent row carries it.
    unknown, request = values_of(asset_filter, Order, asset="BTC")
    assert ("BTC", "BTC") in unknown.lookup_choices
    assert not unknown.queryset(request, Order.objects.all()).exists()


def test_a_values_filter_is_named_after_its_field(db):
    named = changelists.values_filter("invoice_asset", "asset", recent=False)
    assert named.__name__ == "InvoiceAssetFilter"
    assert named.parameter_name == "invoice_asset"
    assert values_of(named, Invoice)[0].lookup_choices == []


def test_a_values_filter_reads_the_newest_rows_by_its_own_date(db, monkeypatch):
    monkeypatch.setattr(changelists, "RECENT_ROWS", 1)
    older = make_invoice("B-1", asset="TRX").order
    newer = make_invoice("B-2", asset="BTC").order
    # The first order made, but the newest by date: a date, not the id, says what is new.
    Order.objects.filter(pk=older.pk).update(created_at=newer.created_at + timedelta(days=1))

    by_date = changelists.values_filter("asset", "asset")
    assert values_of(by_date, Order)[0].lookup_choices == [("TRX", "TRX")]
    by_update = changelists.values_filter("asset", "asset", newest="-updated_at")
    Order.objects.filter(pk__in=[older.pk, newer.pk]).update(updated_at=newer.updated_at)
    # Rows of the same date: the one made last.
    assert values_of(by_update, Order)[0].lookup_choices == [("BTC", "BTC")]


def test_a_values_filter_may_offer_its_fixed_values_only(db):
    make_invoice("C-1", asset="USDT")
    fixed = changelists.values_filter("asset", "asset", fixed=lambda: ["EUR"], recent=False)
    assert values_of(fixed, Order)[0].lookup_choices == [("EUR", "EUR")]


# -- searching by an invoice id, however it was pasted -----------------------------------


def test_a_quoted_invoice_id_finds_its_order(admin_client, rows):
    for term in (f'"{rows.provider_id}"', f"'{rows.provider_id}'", f" '{rows.provider_id}' "):
        assert [str(o) for o in listed(admin_client, ORDERS, q=term)] == ["A-1"], term
    # Anything else around the id is not an id.
    assert listed(admin_client, ORDERS, q=f"X{rows.provider_id}X") == []


def test_events_about_an_unknown_invoice_id_are_found_however_the_id_is_written(admin_client, rows):
    unknown = uuid.uuid4()
    forged = make_event(None, 6, verified=False, state=CallbackEvent.State.REJECTED)
    CallbackEvent.objects.filter(pk=forged.pk).update(object_id=str(unknown))

    for term in (str(unknown).upper(), unknown.hex):
        assert [event.pk for event in listed(admin_client, CALLBACKS, q=term)] == [forged.pk]


def test_a_transaction_id_that_is_a_uuid_finds_its_deposit(admin_client, rows):
    transaction = str(uuid.uuid4())
    Deposit.objects.create(provider_id=transaction, invoice=rows, status="Processed")

    for term in (transaction, f'"{transaction}"'):
        assert [d.provider_id for d in listed(admin_client, DEPOSITS, q=term)] == [transaction]


# -- the planner's estimate --------------------------------------------------------------


class ExplainCursor:
    """A cursor that answers EXPLAIN as PostgreSQL would, with ``plan`` for its plan."""

    def __init__(self, plan):
        self.plan = plan
        self.executed = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params):
        self.executed.append((sql, params))

    def fetchone(self):
        return (self.plan,)


@pytest.mark.parametrize("as_text", [False, True], ids=["parsed", "text"])
def test_the_estimate_is_the_rows_of_the_plans_top_node(db, monkeypatch, as_text):
    plan = [{"Plan": {"Node Type": "Seq Scan", "Plan Rows": 123456.0}}]
    cursor = ExplainCursor(json.dumps(plan) if as_text else plan)  # as each driver gives it
    rows = Invoice.objects.filter(invoice_asset="EUR").values("pk")
    sql, params = rows.query.sql_with_params()

    with monkeypatch.context() as patched:
        patched.setattr(connection, "cursor", lambda: cursor)
        estimate = changelists.planner_estimate(rows)

    assert estimate == 123456
    assert cursor.executed == [(f"EXPLAIN (FORMAT JSON) {sql}", params)]
    assert params == ("EUR",)


def test_the_newest_events_are_read_once_however_often_the_form_asks_for_them(rows):
    for number in range(INVOICE_EVENTS_SHOWN + 5):
        make_event(rows, 100 + number)
    events = inlineformset_factory(Invoice, CallbackEvent, formset=NewestFormSet, fields=["state"])
    formset = events(instance=rows)

    first, again = formset.get_queryset(), formset.get_queryset()
    with CaptureQueriesContext(connection) as queries:
        assert len(list(first)) == len(list(again)) == INVOICE_EVENTS_SHOWN

    assert len(queries) == 1
