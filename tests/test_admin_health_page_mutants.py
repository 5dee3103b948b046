"""Survivors of the payments health page (``django_invoices/admin/health.py``) that
changed what staff see, pinned here.

The charts' series (``_outcome_series`` and the quantile and request series of
``_charts``): every outcome, quantile and request kind has its own label and colour in
the legend and in each shape's tooltip, which names its hour ("Mon 7 Dec, 23:00"); the
day's charts and numbers (``_summary``) cover the last 24 hours only, the week's all
168; the quantiles shown are the median and the 95th percentile, on logarithmic axes
from 0.1 s to a day and from 10 ms to a minute, labelled where the page says; an
outcome nobody saw counts 0 and a quantile without values reads "-". The page's links
(``_links``, ``_url``) open the lists with exactly the filters of the number they
stand for, from the read's moment to the second; counts past ``COUNT_CAP`` read
"1000+". The charts and sums are read from ``admin.health``'s functions directly, on
hours written here, since the page only draws their result.
"""

import math
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from urllib.parse import parse_qs, urlparse

from django.urls import reverse
from django.utils import timezone

from django_invoices.admin import health as page_health
from django_invoices.services import health, receipt

from .test_admin_health import EVENTS, INVOICES, ORDERS, PAGE, text_of

REQUESTS = reverse("admin:django_invoices_providerrequest_changelist")
SWEEPS = reverse("admin:django_invoices_sweeprun_changelist")

#: The first of the 168 hours written here: the last one is Monday 7 December, 23:00 UTC.
FIRST = datetime(2026, 12, 1, 0, tzinfo=dt_timezone.utc)
LAST_LABEL = "Mon 7 Dec, 23:00"

REFUSED = [
    (receipt.REJECT_BAD_SIGNATURE, "Refused: bad signature"),
    (receipt.REJECT_NO_SIGNATURE, "Refused: no signature"),
    (receipt.REJECT_UNKNOWN_ACCOUNT, "Refused: unknown account"),
    (receipt.REJECT_MALFORMED, "Refused: malformed"),
    (receipt.REJECT_TOO_LARGE, "Refused: too large"),
    (receipt.REJECT_MISCONFIGURED, "Refused: settings unusable"),
]
#: Every outcome, its label and colour, bottom to top, with how many the last hour saw.
OUTCOMES = [
    ("applied", "Applied", "di-applied", 10),
    ("duplicate", "Duplicate", "di-duplicate", 2),
    ("ignored", "Ignored", "di-ignored", 3),
    ("pending", "Pending", "di-pending", 4),
    ("failed", "Failed", "di-failed", 5),
    *(
        (f"refused:{reason}", label, f"di-refused-{n}", 6 + n)
        for n, (reason, label) in enumerate(REFUSED)
    ),
]


def week_of_hours():
    """168 hours: every outcome in the last; one applied callback and one request in
    the hour just before the last 24 (in the week, not the day); nothing else."""
    hours = [health.Hour(FIRST + timedelta(hours=n)) for n in range(health.HOURS)]
    last = hours[-1]
    last.callbacks = {key: n for key, _label, _css, n in OUTCOMES}
    # The ten applied all within the first lag bucket (at most 0.5 s).
    last.lag = [10] * len(health.LAG_BUCKETS)
    last.requests, last.errors = 10, 3
    # The ten requests all within the first latency bucket (at most 50 ms).
    last.latency = [10] * len(health.LATENCY_BUCKETS)
    before = hours[-25]
    before.callbacks = {"applied": 1}
    before.lag = [1] * len(health.LAG_BUCKETS)
    before.requests = 1
    before.latency = [1] * len(health.LATENCY_BUCKETS)
    return hours


def legend(chart):
    return [(str(entry["label"]), entry["css"]) for entry in chart["legend"]]


def shapes(chart, kind):
    return [(shape["css"], shape["title"]) for shape in chart[kind]]


def log_y(value, low, high):
    """Where a logarithmic axis from ``low`` (bottom, y 168) to ``high`` (top, y 8) puts
    ``value``."""
    return round(8 + 160 * (1 - math.log10(value / low) / math.log10(high / low)), 1)


# -- the charts' series ------------------------------------------------------------------------


def test_every_callback_outcome_has_its_own_label_and_colour():
    chart = page_health._charts(week_of_hours())["callbacks_day"]

    assert legend(chart) == [(label, css) for _key, label, css, _n in OUTCOMES]
    assert shapes(chart, "rects") == [
        (css, f"{LAST_LABEL} · {label}: {n}") for _key, label, css, n in OUTCOMES
    ]


def test_the_day_charts_show_the_last_24_hours_and_the_week_charts_all():
    drawn = page_health._charts(week_of_hours())

    assert len(drawn["callbacks_day"]["rects"]) == len(OUTCOMES)
    assert len(drawn["callbacks_week"]["rects"]) == len(OUTCOMES) + 1
    assert len(drawn["requests_day"]["rects"]) == 2
    assert len(drawn["requests_week"]["rects"]) == 3
    assert len(drawn["lag_day"]["dots"]) == len(drawn["latency_day"]["dots"]) == 2
    assert len(drawn["lag_week"]["dots"]) == len(drawn["latency_week"]["dots"]) == 4


def test_the_requests_chart_splits_answers_from_errors():
    chart = page_health._charts(week_of_hours())["requests_day"]

    assert legend(chart) == [("Answered", "di-applied"), ("Errors", "di-failed")]
    assert shapes(chart, "rects") == [
        ("di-applied", f"{LAST_LABEL} · Answered: 7"),
        ("di-failed", f"{LAST_LABEL} · Errors: 3"),
    ]


def test_the_lag_chart_draws_the_median_and_the_95th_percentile_on_a_log_axis():
    chart = page_health._charts(week_of_hours())["lag_day"]

    assert legend(chart) == [("median (p50)", "di-p50"), ("p95", "di-p95")]
    # Ten values of at most 0.5 s: the median is estimated at 0.25 s, p95 at 0.475 s.
    assert shapes(chart, "dots") == [
        ("di-p50", f"{LAST_LABEL} · median (p50): 0.2 s"),
        ("di-p95", f"{LAST_LABEL} · p95: 0.5 s"),
    ]
    low, high = 0.1, 86400
    assert [dot["y"] for dot in chart["dots"]] == [log_y(0.25, low, high), log_y(0.475, low, high)]
    ticks = (0.1, 1, 10, 60, 600, 3600, 86400)
    assert [tick["label"] for tick in chart["y_ticks"]] == [
        "0.1 s",
        "1 s",
        "10 s",
        "1 min",
        "10 min",
        "1 h",
        "24 h",
    ]
    assert [tick["y"] for tick in chart["y_ticks"]] == [log_y(t, low, high) for t in ticks]


def test_the_latency_chart_draws_the_median_and_the_95th_percentile_on_a_log_axis():
    chart = page_health._charts(week_of_hours())["latency_day"]

    assert legend(chart) == [("median (p50)", "di-p50"), ("p95", "di-p95")]
    # Ten requests of at most 50 ms: the median is estimated at 25 ms, p95 at 47.5 ms.
    assert shapes(chart, "dots") == [
        ("di-p50", f"{LAST_LABEL} · median (p50): 25 ms"),
        ("di-p95", f"{LAST_LABEL} · p95: 48 ms"),
    ]
    low, high = 10, 60_000
    assert [dot["y"] for dot in chart["dots"]] == [log_y(25, low, high), log_y(47.5, low, high)]
    ticks = (10, 100, 1000, 10_000, 60_000)
    assert [tick["label"] for tick in chart["y_ticks"]] == [
        "10 ms",
        "100 ms",
        "1 s",
        "10 s",
        "1 min",
    ]
    assert [tick["y"] for tick in chart["y_ticks"]] == [log_y(t, low, high) for t in ticks]


# -- the numbers ---------------------------------------------------------------------------------


def test_the_days_numbers_count_the_last_24_hours_and_the_weeks_all():
    found = page_health._summary(week_of_hours())

    assert found["day"] == {
        "received": sum(n for *_rest, n in OUTCOMES),
        "applied": 10,
        "duplicate": 2,
        "pending": 4,
        "failed": 5,
        "refused": sum(6 + n for n in range(len(REFUSED))),
        "lag_p50": "0.2 s",
        "lag_p95": "0.5 s",
        "requests": 10,
        "errors": 3,
        "latency_p50": "25 ms",
        "latency_p95": "48 ms",
    }
    week = found["week"]
    assert (week["received"], week["applied"], week["requests"]) == (
        found["day"]["received"] + 1,
        11,
        11,
    )


def test_an_outcome_nobody_saw_counts_zero_and_a_quantile_without_values_reads_a_dash():
    empty = [health.Hour(FIRST + timedelta(hours=n)) for n in range(health.HOURS)]

    for name in ("day", "week"):
        assert page_health._summary(empty)[name] == {
            "received": 0,
            "applied": 0,
            "duplicate": 0,
            "pending": 0,
            "failed": 0,
            "refused": 0,
            "lag_p50": "-",
            "lag_p95": "-",
            "requests": 0,
            "errors": 0,
            "latency_p50": "-",
            "latency_p95": "-",
        }


def test_counts_past_the_cap_read_as_the_cap_and_more():
    assert page_health._capped(health.COUNT_CAP) == str(health.COUNT_CAP)
    assert page_health._capped(health.COUNT_CAP + 1) == f"{health.COUNT_CAP}+"


def test_without_a_pending_callback_the_oldest_wait_reads_a_dash(admin_client, db):
    page = admin_client.get(PAGE).content.decode()
    assert text_of(page, "data-oldest") == "-"


# -- the links -----------------------------------------------------------------------------------


def test_each_link_opens_its_list_with_the_filters_of_its_number(admin_client, db):
    response = admin_client.get(PAGE)
    now = response.context["now"]

    def moment(value):
        return timezone.localtime(value).replace(microsecond=0).isoformat(sep=" ")

    day = moment(now - timedelta(days=1))
    week = moment(now - timedelta(days=health.DAYS))
    since = moment(response.context["attention"].since)
    expected = {
        "pending": (EVENTS, {"state__exact": "pending", "verified__exact": "1", "o": "1"}),
        "failed": (EVENTS, {"state__exact": "failed", "received_at__gte": week}),
        "refused": (EVENTS, {"verified__exact": "0", "received_at__gte": day}),
        "received": (EVENTS, {"received_at__gte": day}),
        "overpaid": (INVOICES, {"attention": "overpaid", "created_at__gte": since}),
        "partly_paid": (INVOICES, {"attention": "partly_paid", "created_at__gte": since}),
        "paid_late": (INVOICES, {"attention": "paid_late", "created_at__gte": since}),
        "lookup_owed": (ORDERS, {"reconciliation": "owed"}),
        "reconciliation_issue": (ORDERS, {"reconciliation": "issue"}),
        "requests": (REQUESTS, {"started_at__gte": day}),
        "request_errors": (REQUESTS, {"result": "errors", "started_at__gte": day}),
    }
    links = response.context["links"]
    found = {}
    for key, url in links.items():
        parts = urlparse(url)
        found[key] = (parts.path, {k: v for k, (v,) in parse_qs(parts.query).items()})
    assert links["sweeps"] == SWEEPS  # the whole list: no filter, no "?"
    del found["sweeps"]
    assert found == expected
