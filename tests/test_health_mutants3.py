"""Survivors of the payments health page (third pass), pinned by what an operator sees:

- the invoices' "needs a person" filter names its choices as the page's numbers do;
- the hourly tables: an applied callback's lag is counted under every bound it is
  within, and other callbacks under none; a request's time likewise; every hour is a
  whole UTC hour and every row lands in it whatever the server's time zone; a row of an
  hour past the table (a clock ahead) is skipped without dropping the rows after it;
  the newest authentic callback of an account keeps the key that verified it;
- hours kept by another load in the meantime do not break the page;
- the pending count reads 0 when nothing waits and stops one past the cap.
"""

import re
from datetime import timedelta
from datetime import timezone as dt_timezone

from django.urls import reverse
from django.utils import timezone

from django_invoices.models import CallbackEvent, HealthHour
from django_invoices.services import health

from .test_admin_health import PAGE, event, request_row, text_of

INVOICES = reverse("admin:django_invoices_invoice_changelist")


def received(made, at, processed_after=None):
    """Moves ``made`` to ``at`` (auto_now_add set it to now), processed ``processed_after``
    later when given."""
    fields = {"received_at": at}
    if processed_after is not None:
        fields["processed_at"] = at + processed_after
    CallbackEvent.objects.filter(pk=made.pk).update(**fields)


# -- the invoices' filter ---------------------------------------------------------------------


def test_the_needs_a_person_filter_names_its_three_choices(admin_client, db):
    page = admin_client.get(INVOICES).content.decode()

    for value, label in (
        ("overpaid", "Overpaid"),
        ("partly_paid", "Partly paid"),
        ("paid_late", "Paid after it expired"),
    ):
        # Case included: the page's numbers link here under these same words.
        assert re.search(rf'<a href="\?attention={value}"[^>]*>{label}</a>', page), label


# -- the hourly tables ------------------------------------------------------------------------


def test_an_applied_callbacks_lag_is_counted_under_each_bound_it_is_within(db):
    at = health.hour_of(timezone.now()) - timedelta(hours=2) + timedelta(minutes=10)
    for number, seconds in ((301, 0.3), (302, 3), (303, 100)):
        received(event(number), at, timedelta(seconds=seconds))
    # Settled quickly but not applied: no lag to chart.
    duplicate = event(304, state=CallbackEvent.State.DUPLICATE)
    received(duplicate, at, timedelta(seconds=0.1))
    received(event(305, state=CallbackEvent.State.PENDING), at)

    (hour,) = [h for h in health.hours() if h.start == health.hour_of(at)]

    by_bound = dict(zip(health.LAG_BUCKETS, hour.lag, strict=True))
    assert {bound: by_bound[bound] for bound in (0.5, 1, 2, 5, 60, 120, 86400)} == {
        0.5: 1,
        1: 1,
        2: 1,
        5: 2,
        60: 2,
        120: 3,
        86400: 3,
    }
    assert hour.callbacks == {"applied": 3, "duplicate": 1, "pending": 1}


def test_a_requests_time_is_counted_under_each_bound_it_is_within(db):
    now = timezone.now()
    for result, milliseconds in (("ok", 40), ("timeout", 250), ("not_found", 4000)):
        request_row(result, milliseconds, started_at=now)

    hour = health.summed(health.hour_of(now), now)[health.hour_of(now)]

    by_bound = dict(zip(health.LATENCY_BUCKETS, hour.latency, strict=True))
    assert {bound: by_bound[bound] for bound in (50, 200, 300, 3000, 5000, 30000)} == {
        50: 1,
        200: 1,
        300: 2,
        3000: 2,
        5000: 3,
        30000: 3,
    }
    assert (hour.requests, hour.errors) == (3, 1)
    # The page's median: the second of three, in the (200, 300] bucket.
    assert health.latency_quantile(hour, 0.5) == 250


def test_hours_are_whole_utc_hours_whatever_the_servers_time_zone(admin_client, settings, db):
    # Half an hour off UTC: a local hour is never a UTC hour.
    settings.TIME_ZONE = "Asia/Kolkata"
    event(311)
    request_row("ok")

    table = health.hours()
    response = admin_client.get(PAGE)

    assert {hour.start.astimezone(dt_timezone.utc).minute for hour in table} == {0}
    assert sum(hour.received for hour in table[-2:]) == 1
    assert sum(hour.requests for hour in table[-2:]) == 1
    day = response.context["summary"]["day"]
    assert (day["received"], day["applied"], day["requests"]) == (1, 1, 1)


def test_rows_of_an_hour_past_the_table_do_not_drop_the_rows_after_them(db):
    now = timezone.now()
    ahead = now + timedelta(hours=3)  # a sender's clock ahead: not drawn
    # The queries group by state or account before the hour, so the database returns
    # these rows (state "applied", account "a-...") before the ones of the hour drawn.
    received(event(321, account="a-ahead"), ahead)
    received(
        event(322, verified=False, state=CallbackEvent.State.REJECTED, account="a-ahead"), ahead
    )
    received(
        event(
            323,
            state=CallbackEvent.State.PENDING,
            account="b-now",
            signature_variant="sha384/hex/raw",
        ),
        now,
    )
    received(event(324, verified=False, state=CallbackEvent.State.REJECTED, account="b-now"), now)

    hour = health.hours(now)[-1]

    assert hour.callbacks == {"pending": 1, "refused:misconfigured": 1}
    assert set(hour.accounts) == {"b-now"}
    entry = hour.accounts["b-now"]
    assert (entry["recipe"], entry["refused"]) == ("sha384/hex/raw", {"misconfigured": 1})


def test_an_accounts_newest_authentic_callback_keeps_the_key_that_verified_it(admin_client, db):
    older = event(331, signature_variant="sha384/hex/raw", key_fingerprint="f00d")
    newest = event(332, signature_variant="sha384/hex/compact", key_fingerprint="beef")
    # Moved back, not forward: the newest stays in the current hour.
    received(older, newest.received_at - timedelta(seconds=1))

    entry = health.hours()[-1].accounts["default"]
    (row,) = admin_client.get(PAGE).context["signatures"]

    assert (entry["recipe"], entry["key"]) == ("sha384/hex/compact", "beef")
    assert (row["recipe"], row["key_fingerprint"]) == ("sha384/hex/compact", "beef")


def test_hours_another_load_kept_meanwhile_do_not_break_the_page(admin_client, db, monkeypatch):
    real_summed = health.summed
    raced = {}

    def summed_while_another_load_keeps_an_hour(since, now):
        table = real_summed(since, now)
        # The other load read no kept hours either, and inserted first.
        raced["row"] = HealthHour.objects.create(hour=since, summary={"requests": 7})
        return table

    monkeypatch.setattr(health, "summed", summed_while_another_load_keeps_an_hour)

    response = admin_client.get(PAGE)

    assert response.status_code == 200
    assert HealthHour.objects.count() == health.HOURS - 4
    # The first one in stays: insert-only.
    assert HealthHour.objects.get(pk=raced["row"].pk).summary == {"requests": 7}


# -- pending callbacks ------------------------------------------------------------------------


def test_with_nothing_pending_the_count_is_zero(admin_client, db):
    event(341)  # applied: not waiting

    assert health.pending() == health.Pending(0, None)
    assert text_of(admin_client.get(PAGE).content.decode(), "data-pending") == "0"


def test_the_pending_count_stops_one_past_the_cap(admin_client, db, monkeypatch):
    monkeypatch.setattr(health, "COUNT_CAP", 3)
    for number in range(351, 356):
        event(number, state=CallbackEvent.State.PENDING)

    found = health.pending()

    assert found.count == 4
    assert found.capped
    assert text_of(admin_client.get(PAGE).content.decode(), "data-pending") == "3+"
