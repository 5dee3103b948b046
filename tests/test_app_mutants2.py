"""Survivors of the app's admin, API, checks and services (second pass), pinned by what
they changed:

- the health page: its signature rows (the key and time of each account's newest
  authentic callback, its other refusals, the link to its refused callbacks of the
  week); its ages, thresholds, title and breadcrumbs, read at the moment of its report;
  the charts' units;
- ``services.health``: ``report``, ``attention`` and ``sweeps`` read at the moment
  given; each count stops one past the cap, from reads of bounded size; the signature
  rows' numbers (the day is the last 24 hours; unknown accounts listed only when
  refused, up to twice the shown number); ``sum_hours`` and ``summed`` at their edges;
- the callback rate limit's count of the day's refusals lives two days, and reads 0
  from a cache that fails;
- ``statements.insert``: routed as the model is, no save signals, a saved instance;
  ``store_event`` without ``ON CONFLICT``: per account and replay key, two tries;
- ``bulk``: an answer that could not be saved, reads still queued after a bug, a router,
  the current invoice's status; an account's callback URL on its own ``BASE_URL``.
"""

import time
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib import admin as django_admin
from django.db import OperationalError
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from django_invoices import services
from django_invoices.admin import charts
from django_invoices.exceptions import InvalidResponse
from django_invoices.models import (
    CallbackEvent,
    Invoice,
    Order,
    PaymentsHealth,
    ProviderRequest,
    SweepRun,
)
from django_invoices.services import (
    Outcome,
    bulk,
    health,
    limits,
    monitoring,
    nonces,
    provider,
    reads,
    statements,
)
from django_invoices.statuses import InvoiceStatus

from .conftest import API, INVOICE_ID, invoice_payload
from .test_admin_health import PAGE, text_of
from .test_admin_health import event as stored_event
from .test_services_mutants import make_invoice as make_service_invoice
from .test_services_mutants import make_order
from .test_statements import make_invoice, replay, without_upsert  # noqa: F401 (a fixture)

UTC = dt_timezone.utc


# -- the health page's signature rows ----------------------------------------------------------


def test_a_signature_row_shows_the_key_time_other_refusals_and_links_the_weeks_refusals(db):
    page = django_admin.site._registry[PaymentsHealth]
    verified = datetime(2026, 12, 7, 22, 5, tzinfo=UTC)
    entry = health.AccountSignatures(
        "shop-b",
        recipe="sha384/hex/raw",
        key_fingerprint="ab12cd34",
        verified_at=verified,
        refused_day={"bad_signature": 1},
        refused_week={"bad_signature": 2, "missing_signature": 1, "malformed": 4, "too_large": 1},
    )
    found = {"now": datetime(2026, 12, 7, 23, 30, 15, 123456, tzinfo=UTC), "signatures": [entry]}

    (row,) = page._signatures(found)

    # The link opens the account's unverified callbacks from exactly a week before the
    # page's moment, to the second.
    assert row == {
        "account": "shop-b",
        "recipe": "sha384/hex/raw",
        "key_fingerprint": "ab12cd34",
        "verified_at": verified,
        "bad_signatures_day": 1,
        "bad_signatures_week": 3,
        "other_refusals_week": 5,
        "refused_link": "/admin/django_invoices/callbackevent/?account=shop-b"
        "&verified__exact=0&received_at__gte=2026-11-30+23%3A30%3A15%2B00%3A00",
    }


# -- what needs a person -------------------------------------------------------------------------


def test_attention_counts_from_thirty_days_before_the_moment_it_is_given(db):
    moment = datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert health.attention(moment).since == datetime(2026, 3, 1, 12, tzinfo=UTC)


# -- the callback rate limit's count for staff ----------------------------------------------------


def test_the_days_count_of_rate_limited_callbacks_is_kept_two_days(monkeypatch):
    clock = [1_800_000_000.0]
    # The cache's expiry runs on time.time(); the day's key on the date, held still.
    monkeypatch.setattr("time.time", lambda: clock[0])
    monkeypatch.setattr(limits.dj_timezone, "now", lambda: datetime(2027, 1, 15, 12, tzinfo=UTC))
    limits.note_refusal(limits.REFUSED, "192.0.2.1")
    limits.note_refusal(limits.REPLAYED, "default")
    assert limits.refused_today() == 2

    clock[0] += 2 * 86400 - 1
    assert limits.refused_today() == 2
    clock[0] += 2
    assert limits.refused_today() == 0


def test_the_days_count_reads_zero_from_a_cache_that_fails(monkeypatch):
    broken = mock.Mock()
    broken.get.side_effect = ConnectionError("cache down")
    monkeypatch.setattr(limits, "cache", broken)
    assert limits.refused_today() == 0


# -- statements.insert ----------------------------------------------------------------------------


def event(**fields):
    values = {"account": "default", "body": "{}", "body_sha256": "f" * 64, "state": "pending"}
    return CallbackEvent(**{**values, **fields})


@pytest.mark.django_db
def test_insert_works_with_a_router_that_looks_at_the_model(settings):
    # The sandbox's router, as its docs say to add it, reads model._meta.
    settings.DATABASE_ROUTERS = ["django_invoices.sandbox.routers.SandboxRouter"]
    stored = event()
    statements.insert(stored)
    assert CallbackEvent.objects.filter(pk=stored.pk).count() == 1


@pytest.mark.django_db
def test_insert_sends_no_save_signals():
    # Like the upsert that stores every callback with a replay key, which no save()
    # runs: a receiver must not see some callbacks and miss others.
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.body_sha256)

    pre_save.connect(receiver, sender=CallbackEvent, weak=False)
    post_save.connect(receiver, sender=CallbackEvent, weak=False)
    try:
        stored = event()
        statements.insert(stored)
    finally:
        pre_save.disconnect(receiver, sender=CallbackEvent)
        post_save.disconnect(receiver, sender=CallbackEvent)
    assert stored.pk is not None
    assert seen == []


@pytest.mark.django_db
def test_an_inserted_event_is_a_saved_row_to_the_orm():
    invoice = make_invoice(INVOICE_ID)
    stored = event(replay_key="r" * 64)
    statements.insert(stored)
    # Not its own duplicate to validation, and taken by a related manager, which
    # refuses instances that are not saved in its database.
    stored.validate_constraints()
    stored.validate_unique()
    invoice.callback_events.add(stored)
    assert CallbackEvent.objects.get(pk=stored.pk).invoice_id == invoice.pk


# -- store_event without ON CONFLICT -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("without_upsert")
def test_without_an_upsert_the_same_replay_key_of_another_account_is_a_new_event():
    assert statements.store_event(replay(account="default")) is False
    other = replay(account="shop-b")
    assert statements.store_event(other) is False
    assert other.times_received == 1
    assert sorted(CallbackEvent.objects.values_list("account", "times_received")) == [
        ("default", 1),
        ("shop-b", 1),
    ]


@pytest.mark.django_db
@pytest.mark.usefixtures("without_upsert")
def test_without_an_upsert_another_replay_key_of_the_account_is_a_new_event():
    assert statements.store_event(replay(replay_key="a" * 64)) is False
    assert statements.store_event(replay(replay_key="b" * 64)) is False
    assert CallbackEvent.objects.count() == 2
    assert set(CallbackEvent.objects.values_list("times_received", flat=True)) == {1}


@pytest.mark.django_db
@pytest.mark.usefixtures("without_upsert")
def test_without_an_upsert_a_replay_that_conflicts_but_never_shows_gives_up_after_two_tries(
    monkeypatch,
):
    from django.db.models import QuerySet

    statements.store_event(replay())
    looks = []

    def never_found(queryset):
        looks.append(1)
        return None

    monkeypatch.setattr(QuerySet, "first", never_found)
    with pytest.raises(RuntimeError) as raised:
        statements.store_event(replay())
    assert str(raised.value) == "a callback event neither found nor stored"
    assert len(looks) == 2
    assert CallbackEvent.objects.count() == 1


# -- the health report, read at a moment ---------------------------------------------------------

MOMENT = datetime(2026, 6, 1, 12, 30, tzinfo=UTC)


def sweep_run(finished_at, failures=0):
    return SweepRun.objects.create(
        kind=SweepRun.Kind.SWEEP,
        started_at=finished_at - timedelta(minutes=1),
        finished_at=finished_at,
        failures=failures,
    )


def test_the_report_reads_every_part_at_the_moment_it_is_given(db):
    sweep_run(MOMENT - timedelta(hours=2), failures=3)

    found = health.report(MOMENT)

    assert found["now"] == MOMENT
    assert found["hours"][-1].start == datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert found["attention"].since == datetime(2026, 5, 2, 12, 30, tzinfo=UTC)
    assert (found["sweeps"].runs_today, found["sweeps"].failures_today) == (1, 3)


def test_the_days_sweeps_are_those_finished_in_the_24_hours_before_the_moment(db):
    sweep_run(MOMENT - timedelta(hours=30), failures=5)
    sweep_run(MOMENT - timedelta(hours=23), failures=2)
    sweep_run(MOMENT - timedelta(hours=1), failures=1)

    found = health.sweeps(MOMENT)

    assert (found.runs_today, found.failures_today) == (2, 3)


def test_the_latest_sweep_is_the_one_that_finished_last_then_the_one_recorded_last(db):
    finished_last = sweep_run(MOMENT)
    sweep_run(MOMENT - timedelta(hours=1))
    assert health.sweeps(MOMENT).latest == finished_last
    same_time = sweep_run(MOMENT)
    assert health.sweeps(MOMENT).latest == same_time


def test_without_any_sweep_there_is_no_latest_and_nothing_today(db):
    assert health.sweeps(MOMENT) == health.Sweeps(None, 0, 0)


def test_the_days_sweeps_are_counted_up_to_the_cap_and_one(db):
    runs = [
        SweepRun(
            kind=SweepRun.Kind.INVOICES,
            started_at=MOMENT - timedelta(minutes=30),
            finished_at=MOMENT - timedelta(minutes=20),
            failures=1,
        )
        for _ in range(health.COUNT_CAP + 2)
    ]
    SweepRun.objects.bulk_create(runs)

    found = health.sweeps(MOMENT)

    assert (found.runs_today, found.failures_today) == (1001, 1001)


def test_a_sweeps_age_is_measured_at_the_moment_asked():
    latest = SweepRun(finished_at=MOMENT)
    found = health.Sweeps(latest, 1, 0)
    assert found.age(MOMENT + timedelta(seconds=90)) == timedelta(seconds=90)


# -- what needs a person: the counts' caps -------------------------------------------------------


def invoices(groups):
    """Flagged invoices, each on its own order: (how many, fields, created_at) per group."""
    made = 0
    for count, fields, created_at in groups:
        orders = Order.objects.bulk_create(
            Order(external_order_id=f"N-{made + n}", amount=Decimal("1"), asset="EUR")
            for n in range(count)
        )
        rows = Invoice.objects.bulk_create(
            Invoice(
                provider_id=uuid.uuid4(),
                order=order,
                invoice_amount=Decimal("1"),
                invoice_asset="EUR",
                **fields,
            )
            for order in orders
        )
        Invoice.objects.filter(pk__in=[row.pk for row in rows]).update(created_at=created_at)
        made += count


def orders(groups):
    """Orders: (how many, fields, updated_at) per group."""
    made = 0
    for count, fields, updated_at in groups:
        rows = Order.objects.bulk_create(
            Order(external_order_id=f"O-{made + n}", amount=Decimal("1"), asset="EUR", **fields)
            for n in range(count)
        )
        Order.objects.filter(pk__in=[row.pk for row in rows]).update(updated_at=updated_at)
        made += count


OVERPAID = {"overpaid": True, "status": InvoiceStatus.CANCELLED}
PARTLY = {"status": InvoiceStatus.PARTIALLY_PAID}
LATE = {"status": InvoiceStatus.PAID, "expired_once": True}


def test_each_invoice_count_stops_one_past_the_cap(db):
    invoices(
        [
            (1002, {**PARTLY, "overpaid": True}, MOMENT - timedelta(days=1)),
            (1002, LATE, MOMENT - timedelta(days=2)),
        ]
    )
    found = health.attention(MOMENT)
    assert (found.overpaid, found.partly_paid, found.paid_late) == (1001, 1001, 1001)


def test_a_full_read_of_flagged_invoices_hides_none_of_them(db, django_assert_num_queries):
    # Three counts from one read of at most three times the cap and one rows; here that
    # read is full, and the oldest overpaid invoice is not in it: each kind is counted
    # on its own (one query more per kind), so overpaid shows "1000+", not "1000".
    invoices(
        [
            (2001, PARTLY, MOMENT - timedelta(days=1)),
            (1000, OVERPAID, MOMENT - timedelta(days=2)),
            (1, OVERPAID, MOMENT - timedelta(days=3)),
        ]
    )
    with django_assert_num_queries(1 + 3 + 1):
        found = health.attention(MOMENT)
    assert (found.overpaid, found.partly_paid, found.paid_late) == (1001, 1001, 0)


def test_a_read_that_ends_short_counts_every_kind_at_once(db, django_assert_num_queries):
    invoices(
        [
            (2000, PARTLY, MOMENT - timedelta(days=1)),
            (999, OVERPAID, MOMENT - timedelta(days=2)),
            (1, LATE, MOMENT - timedelta(days=3)),
        ]
    )
    with django_assert_num_queries(2):
        found = health.attention(MOMENT)
    assert (found.overpaid, found.partly_paid, found.paid_late) == (999, 1001, 1)


def test_each_order_count_stops_one_past_the_cap(db):
    orders(
        [
            (
                1002,
                {"needs_reconciliation": True, "reconciliation_issue": "amount differs"},
                MOMENT - timedelta(days=1),
            ),
        ]
    )
    found = health.attention(MOMENT)
    assert (found.lookup_owed, found.reconciliation_issue) == (1001, 1001)


def test_a_full_read_of_flagged_orders_hides_none_of_them(db):
    orders(
        [
            # Orders that need nothing, updated after every flagged one, are not read.
            (2001, {}, MOMENT),
            (1001, {"needs_reconciliation": True}, MOMENT - timedelta(days=1)),
            (1000, {"reconciliation_issue": "amount differs"}, MOMENT - timedelta(days=2)),
            (1, {"reconciliation_issue": "amount differs"}, MOMENT - timedelta(days=3)),
        ]
    )
    found = health.attention(MOMENT)
    assert (found.lookup_owed, found.reconciliation_issue) == (1001, 1001)


# -- the signature rows' numbers -----------------------------------------------------------------

FIRST = datetime(2026, 12, 1, 0, tzinfo=UTC)


def week():
    return [health.Hour(FIRST + timedelta(hours=n)) for n in range(health.HOURS)]


def authentic(hour, name, recipe, key, at):
    hour.account(name).update(recipe=recipe, key=key, at=at.isoformat())


def refused(hour, name, **reasons):
    hour.account(name)["refused"].update(reasons)


def test_an_accounts_row_has_its_newest_recipe_and_its_refusals_of_the_day_and_week():
    table = week()
    refused(table[5], "default", bad_signature=1)  # before any authentic callback
    authentic(table[10], "default", "sha384/hex/raw", "k1", FIRST + timedelta(hours=10, minutes=5))
    refused(table[10], "default", bad_signature=1)
    newest = FIRST + timedelta(hours=100, minutes=7)
    authentic(table[100], "default", "sha384/hex/compact", "k2", newest)
    refused(table[143], "default", bad_signature=2)  # the hour before the last 24
    refused(table[144], "default", bad_signature=3, malformed=1)  # the first of the last 24
    refused(table[167], "default", bad_signature=4)

    (row,) = health.signatures(table)

    assert row == health.AccountSignatures(
        "default",
        recipe="sha384/hex/compact",
        key_fingerprint="k2",
        verified_at=newest,
        refused_day={"bad_signature": 7, "malformed": 1},
        refused_week={"bad_signature": 11, "malformed": 1},
    )


def test_accounts_nobody_configured_are_listed_when_refused_up_to_twice_the_shown_number():
    table = week()
    hour = table[150]
    for n in range(45):
        refused(hour, f"ghost-{n}", unknown_account=1)
    # Known to the resolver but past the names listed: authentic callbacks only.
    authentic(hour, "quiet", "sha384/hex/raw", "k9", FIRST + timedelta(hours=150))
    refused(hour, "default", bad_signature=1)

    rows = health.signatures(table)

    assert [row.account for row in rows] == ["default", *(f"ghost-{n}" for n in range(39))]
    assert rows[0].refused_week == {"bad_signature": 1}
    assert rows[1].refused_week == {"unknown_account": 1}


def test_hours_added_up_with_buckets_of_another_length_are_refused():
    odd = health.Hour(FIRST, lag=[1])
    with pytest.raises(ValueError):
        health.sum_hours([odd])


def test_no_hours_add_up_to_an_empty_hour():
    total = health.sum_hours([])
    assert (total.received, total.requests, total.errors) == (0, 0, 0)


def test_an_hour_starting_at_the_moment_read_is_summed(db):
    on_the_hour = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert list(health.summed(on_the_hour, on_the_hour)) == [on_the_hour]


# -- the page, at the moment of its report ---------------------------------------------------------


def test_the_pages_ages_and_thresholds_are_read_at_the_moment_of_its_report(
    admin_client, settings, monkeypatch
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "HEALTH_PENDING_MAX_AGE": 60}
    waiting = stored_event(1, state=CallbackEvent.State.PENDING)
    CallbackEvent.objects.filter(pk=waiting.pk).update(received_at=MOMENT - timedelta(seconds=60))
    sweep_run(MOMENT - timedelta(minutes=30))
    real_report = health.report
    monkeypatch.setattr(health, "report", lambda: real_report(MOMENT))

    page = admin_client.get(PAGE).content.decode()

    # Waited exactly the threshold: not past it.
    assert "<dd data-oldest>1 min</dd>" in page
    assert "A problem past 1 min (HEALTH_PENDING_MAX_AGE)." in page
    assert text_of(page, "data-sweep-age") == "30 min ago"
    assert "A problem past 1 h (HEALTH_SWEEP_MAX_AGE)." in page
    assert "<title>Payments health | Django site admin</title>" in page
    assert "&rsaquo; Payments health\n</div>" in page


# -- the charts' units -------------------------------------------------------------------------


def test_durations_are_written_with_their_units(monkeypatch):
    monkeypatch.setattr(charts, "_UNITS", {})  # translated afresh
    assert [
        charts.milliseconds(120),
        charts.seconds(12),
        charts.seconds(240),
        charts.seconds(7200),
    ] == ["120 ms", "12 s", "4 min", "2 h"]


# -- refreshing many invoices ------------------------------------------------------------------


def test_an_answer_that_could_not_be_saved_keeps_the_status_it_had_on_both_sides(db, monkeypatch):
    invoice = make_service_invoice(make_order("A-1"))
    monkeypatch.setattr(bulk, "_read_invoice", lambda invoice: (timezone.now(), {}))

    def locked_out(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(reads, "apply_read", locked_out)

    [outcome] = bulk.refresh_invoices([invoice], max_workers=1)

    assert (outcome.outcome, outcome.old_status, outcome.new_status) == (
        Outcome.FAILED,
        "awaiting_payment",
        "awaiting_payment",
    )
    assert outcome.reason == "it could not be saved; see the logs"


def test_after_an_unexpected_error_the_reads_still_queued_are_not_sent(db, monkeypatch):
    made = [make_service_invoice(make_order(f"A-{n}")) for n in range(3)]
    read = []

    def slow_second_read(invoice):
        read.append(invoice.pk)
        if len(read) == 2:
            time.sleep(0.5)  # still busy when the first answer fails
        return timezone.now(), {}

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(bulk, "_read_invoice", slow_second_read)
    monkeypatch.setattr(reads, "apply_read", broken)

    with pytest.raises(RuntimeError):
        bulk.refresh_invoices(made, max_workers=1)
    assert made[2].pk not in read


def test_refreshing_works_with_a_router_that_looks_at_the_model(api, db, settings):
    settings.DATABASE_ROUTERS = ["django_invoices.sandbox.routers.SandboxRouter"]
    invoice = make_service_invoice(make_order("A-1"), status=InvoiceStatus.CREATED)
    api.get(
        f"{API}/v1/invoice/{invoice.provider_id}",
        json={"data": invoice_payload("PAYMENT_AWAITING", str(invoice.provider_id))},
    )
    [outcome] = bulk.refresh_invoices([invoice])
    assert (outcome.outcome, outcome.new_status) == (Outcome.REFRESHED, "awaiting_payment")


def test_orders_are_annotated_with_their_current_invoices_status(db):
    order = make_order("A-1")
    invoice = make_service_invoice(order, status=InvoiceStatus.PARTIALLY_PAID)
    row = bulk.with_current_invoice(Order.objects.all()).get()
    assert (
        row.current_invoice_pk,
        row.current_invoice_provider_id,
        row.current_invoice_status,
    ) == (invoice.pk, invoice.provider_id, "partially_paid")


def test_an_accounts_callback_url_is_on_its_own_base_url(settings):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNTS": {
            "eu": {
                "API_KEY": "eu-api-key",
                "PRIVATE_KEY": "eu-private",
                "BASE_URL": "https://eu.shop.example/",
            }
        },
    }
    assert provider.callback_url("eu") == "https://eu.shop.example/invoices/callback/eu/"


# -- small edges of the services -------------------------------------------------------------------


def test_a_refused_request_counter_lasts_its_whole_minute(settings, monkeypatch):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_REFUSED_PER_MINUTE": 1}
    clock = [1_800_000_000.0]  # the first second of a minute
    monkeypatch.setattr("time.time", lambda: clock[0])
    limits.spend(limits.REFUSED, "192.0.2.1")
    clock[0] += 59  # the same minute, near its end
    assert limits.exceeded(limits.REFUSED, "192.0.2.1") is True


def record(seconds):
    monitoring.record_provider_request(
        None,
        account="default",
        method="GET",
        endpoint="/v1/invoice/{id}",
        object_id="",
        status_code=200,
        result="ok",
        seconds=seconds,
        started_at=MOMENT,
        attempt=1,
    )


def test_a_requests_time_is_stored_in_whole_milliseconds(db):
    record(2.5)
    record(0.0004)
    assert sorted(ProviderRequest.objects.values_list("milliseconds", flat=True)) == [0, 2500]


def test_a_client_signs_past_the_nonce_another_process_took(settings):
    # A key of its own: the counter lives in a cache that outlasts the test.
    public_key = f"pub-shared-{uuid.uuid4().hex}"
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "PUBLIC_KEY": public_key,
        "AUTH_MODE": "signed",
    }
    far_ahead = 9_000_000_000_000  # another process's nonce, past this clock
    nonces.shared_counter(public_key)(far_ahead)
    nonce = int(provider.get_client()._headers("/v1/invoice", "")["nonce"])
    assert nonce == far_ahead + 1


def test_a_float_in_an_integer_field_is_stored_as_save_would_store_it(db):
    stored = event(attempts=2.7)
    statements.insert(stored)
    assert CallbackEvent.objects.values_list("attempts", flat=True).get(pk=stored.pk) == 2


def test_an_over_long_payment_asset_is_named_in_the_error(api, invoice):
    api.get(
        f"{API}/v1/invoice/{INVOICE_ID}",
        json={"data": invoice_payload("PAYMENT_AWAITING", paymentAssetCode="B" * 500)},
    )
    said = r"^KUNA Pay sent a paymentAssetCode of 500 characters"
    with pytest.raises(InvalidResponse, match=said):
        services.refresh_invoice(invoice)


def test_without_a_payment_link_the_template_gives_the_payment_page(api, invoice, settings):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "PAYMENT_URL_TEMPLATE": "https://pay.example/invoice/{id}",
    }
    Invoice.objects.filter(pk=invoice.pk).update(payment_url="")
    invoice.refresh_from_db()
    api.get(
        f"{API}/v1/invoice/{INVOICE_ID}",
        json={"data": invoice_payload("PAYMENT_AWAITING", paymentLink="")},
    )
    services.refresh_invoice(invoice)
    invoice.refresh_from_db()
    assert invoice.payment_url == f"https://pay.example/invoice/{INVOICE_ID}"


@pytest.mark.django_db
def test_waiting_events_are_read_where_rows_lock_but_cannot_be_skipped(monkeypatch):
    # MariaDB before 10.6 has FOR UPDATE without SKIP LOCKED.
    from django.db import connection

    invoice = make_invoice(INVOICE_ID)
    waiting = event(invoice=invoice, verified=True, state="pending", attempts=1)
    statements.insert(waiting)
    monkeypatch.setattr(connection.features, "has_select_for_update", True)
    monkeypatch.setattr(connection.features, "has_select_for_update_skip_locked", False)
    rows = statements.waiting_events(invoice.pk, timezone.now() + timedelta(seconds=1))
    assert [(pk, body, attempts) for pk, body, attempts, _at in rows] == [(waiting.pk, "{}", 1)]
