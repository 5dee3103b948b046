"""Mutants of the health checks and the payments health page that survived the suite.

What they pinned, through the public entry points (``services.health``, the admin's
lists): the reachability check asks KUNA Pay for one invoice of the account's own list,
once, with the account's keys, and keeps its reason short; the age of the oldest pending
callback and of the last sweep are measured at the moment asked, from the sweep that
finished last (not the one recorded last); the hours summed before are read back from
``HealthHour`` as they were kept (a row of an older release with other buckets or fewer
keys reads as zeros); the provider requests' list filters by one result and names its
"Any error" choice; an account's entry of an hour has no recipe or key of its own
until an authentic callback gives them, and its time is UTC whatever the server's zone.
"""

import os
import re
import time
from datetime import timedelta
from datetime import timezone as dt_timezone
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone

from django_invoices.models import CallbackEvent, HealthHour, SweepRun
from django_invoices.services import health

from .conftest import API
from .test_admin_health import event, request_row

REQUESTS = reverse("admin:django_invoices_providerrequest_changelist")
LIST_URL = f"{API}/v1/invoice"


def eu_account(settings):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNTS": {"eu": {"API_KEY": "eu-api-key", "PRIVATE_KEY": "eu-private"}},
    }


# -- is KUNA Pay reachable --------------------------------------------------------------------


def test_the_reachability_check_reads_one_invoice_with_the_accounts_own_keys(db, api, settings):
    eu_account(settings)
    api.get(LIST_URL, json={"data": []})

    assert health.provider_reachable("eu") == ""

    (call,) = api.calls
    assert parse_qs(urlparse(call.request.url).query) == {"take": ["1"]}
    assert call.request.headers["api-key"] == "eu-api-key"


def test_the_reachability_check_asks_once_without_retrying(db, api):
    api.get(LIST_URL, status=503, json={"errors": []})

    problem = health.provider_reachable()

    assert problem.startswith("ProviderUnavailable: ")
    # The sweep's client would try three times (RETRIES 2); the check's fast one, once.
    assert len(api.calls) == 1


def test_a_long_reason_for_an_unreachable_provider_is_cut_to_300_characters(db, api):
    api.get(LIST_URL, status=401, json={"errors": [{"message": "bad key " + "x" * 600}]})

    problem = health.provider_reachable()

    assert problem.startswith("AuthenticationFailed: ")
    assert len(problem) == 300


# -- ages, at the moment asked --------------------------------------------------------------


def test_the_oldest_pending_callback_is_aged_at_the_moment_asked(db):
    waiting = event(1, state=CallbackEvent.State.PENDING)
    received = timezone.now() - timedelta(days=2)
    CallbackEvent.objects.filter(pk=waiting.pk).update(received_at=received)

    assert health.oldest_pending_age(received + timedelta(minutes=7)) == timedelta(minutes=7)


def test_the_last_sweep_is_the_one_that_finished_last_not_the_one_recorded_last(db):
    now = timezone.now()
    SweepRun.objects.create(
        kind=SweepRun.Kind.INVOICES,
        started_at=now - timedelta(minutes=3),
        finished_at=now - timedelta(minutes=1),
    )
    # Recorded after it, but it finished long before (a chunk that reported late).
    SweepRun.objects.create(
        kind=SweepRun.Kind.SWEEP,
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=2),
    )

    assert health.since_last_sweep(now) == timedelta(minutes=1)


# -- hours summed before, read back ---------------------------------------------------------


def kept_hour(summary, hours_ago=10):
    """A ``HealthHour`` of ``hours_ago`` hours back with ``summary``; its start."""
    start = health.hour_of(timezone.now()) - timedelta(hours=hours_ago)
    HealthHour.objects.create(hour=start, summary=summary)
    return start


def read_back(start):
    (hour,) = [h for h in health.hours() if h.start == start]
    return hour


def test_an_hour_summed_before_is_read_back_as_it_was_kept(db):
    summary = {
        "callbacks": {"applied": 4, "refused:bad_signature": 2},
        "lag": [0, 1, 4, *[4] * (len(health.LAG_BUCKETS) - 3)],
        "requests": 5,
        "errors": 2,
        "latency": [1, 3, *[5] * (len(health.LATENCY_BUCKETS) - 2)],
        "accounts": {
            "default": {
                "recipe": "sha384/hex/raw",
                "key": "ab12",
                "at": "2026-01-01T00:00:00+00:00",
                "refused": {"bad_signature": 2},
            }
        },
    }
    start = kept_hour(summary)

    hour = read_back(start)

    assert hour.start == start
    assert hour.stored() == summary
    # Rank 2 of 4 applied: one past the one of at most 1 s, in the (1, 2] bucket of three.
    assert health.lag_quantile(hour, 0.5) == pytest.approx(1 + 1 / 3)


def test_an_hour_kept_with_other_buckets_or_fewer_counts_reads_as_zeros(db):
    older = kept_hour({"callbacks": {"applied": 1}, "lag": [1, 1], "latency": [1]}, hours_ago=11)
    bare = kept_hour({}, hours_ago=12)

    hours = {start: read_back(start) for start in (older, bare)}

    empty = health.Hour(older).stored()
    assert hours[older].stored() == {**empty, "callbacks": {"applied": 1}}
    assert hours[bare].stored() == empty
    # The week's totals add them up without tripping over other bounds.
    assert health.sum_hours(list(hours.values())).applied == 1


def test_an_account_with_only_refused_callbacks_in_an_hour_has_no_recipe_or_key(db):
    refused = event(1, verified=False, state=CallbackEvent.State.REJECTED, outcome="bad_signature")
    received = timezone.now() - timedelta(hours=5)
    CallbackEvent.objects.filter(pk=refused.pk).update(received_at=received)
    start = health.hour_of(received)
    expected = {"recipe": "", "key": "", "at": "", "refused": {"bad_signature": 1}}

    assert read_back(start).accounts == {"default": expected}
    # Kept as such for the next loads.
    assert HealthHour.objects.get(hour=start).summary["accounts"] == {"default": expected}


@pytest.fixture
def server_in_tokyo():
    """The process's local time zone (Django sets it to TIME_ZONE) nine hours ahead."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_an_accounts_newest_authentic_callback_is_timed_in_utc_whatever_the_servers_zone(
    db, server_in_tokyo
):
    authentic = event(1, account="default", signature_variant="sha384/hex/raw")

    entry = health.hours()[-1].accounts["default"]

    assert entry["at"] == authentic.received_at.astimezone(dt_timezone.utc).isoformat()
    assert entry["at"].endswith("+00:00")


# -- the list of requests to KUNA Pay -------------------------------------------------------


def test_the_requests_list_filters_by_one_result(admin_client, db):
    timeout = request_row("timeout", 1500)
    request_row("ok")
    request_row("server_error")

    response = admin_client.get(REQUESTS, {"result": "timeout"})

    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [timeout.pk]


def test_the_requests_list_offers_any_error_as_a_result(admin_client, db):
    page = admin_client.get(REQUESTS).content.decode()
    assert re.search(r'<a href="\?result=errors"[^>]*>Any error</a>', page)
