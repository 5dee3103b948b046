"""Edges the health page's mutants showed untested (issue 18): the sweep's threshold
itself, the page on a second admin site and with the staff member's own tools, the
percentiles at a bucket's edges, and the hours added up."""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import responses
from django.urls import reverse
from django.utils import timezone

from django_invoices import conf, signals
from django_invoices.client import KunaPayClient
from django_invoices.models import SweepRun
from django_invoices.services import health, limits, monitoring, provider

from .conftest import API, invoice_payload
from .test_admin_health import PAGE, text_of
from .test_app_mutants2 import FIRST, MOMENT, sweep_run

# -- the page -----------------------------------------------------------------------------------


def test_a_sweep_exactly_as_old_as_its_threshold_is_not_late(admin_client, settings, monkeypatch):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "HEALTH_SWEEP_MAX_AGE": 3600}
    sweep_run(MOMENT - timedelta(hours=1))
    real_report = health.report
    monkeypatch.setattr(health, "report", lambda: real_report(MOMENT))

    response = admin_client.get(PAGE)

    assert response.context["sweep_late"] is False
    page = response.content.decode()
    assert text_of(page, "data-sweep-age") == "1 h ago"
    assert 'class="di-bad" data-sweep-age' not in page


def test_the_page_shows_the_staff_member_their_own_tools(admin_client, db):
    page = admin_client.get(PAGE).content.decode()
    # The admin's user tools come from the request's context processors.
    assert "<strong>admin</strong>" in page
    assert 'name="csrfmiddlewaretoken"' in page


@pytest.mark.urls("tests.urls_second_admin")
def test_on_a_second_admin_site_the_pages_links_stay_on_that_site(admin_client, db):
    page = admin_client.get("/ops/django_invoices/paymentshealth/").content.decode()
    breadcrumbs = page.split('<div class="breadcrumbs">', 1)[1].split("</div>", 1)[0]
    assert '<a href="/ops/">' in breadcrumbs
    assert '<a href="/ops/django_invoices/">' in breadcrumbs


# -- percentiles and sums -------------------------------------------------------------------------


def test_a_quantile_falling_in_an_empty_first_bucket_is_its_bound():
    assert health.quantile(0, [10, 20], [0, 4], 4) == 10.0


def test_a_quantile_inside_a_bucket_of_one_value_is_interpolated():
    # One value between 10 and 20: its median is taken half way, not at the bound.
    assert health.quantile(0.5, [10, 20], [0, 1], 1) == 15.0


def test_hours_add_up_from_the_first_ones_start():
    first = health.Hour(FIRST, requests=2, errors=1)
    second = health.Hour(FIRST + timedelta(hours=1), requests=3, errors=2)
    total = health.sum_hours([first, second])
    assert total.start == FIRST
    assert (total.requests, total.errors) == (5, 3)


def test_hours_whose_latency_buckets_differ_are_refused():
    odd = health.Hour(FIRST, latency=[1])
    with pytest.raises(ValueError):
        health.sum_hours([odd])


# -- the orders' reconciliation filter ------------------------------------------------------------


def test_the_orders_reconciliation_filter_names_its_choices(admin_client, db):
    page = admin_client.get(reverse("admin:django_invoices_order_changelist")).content.decode()
    assert "Invoice to look up at KUNA Pay</a>" in page
    assert "Differs from KUNA Pay: for staff</a>" in page


# -- the sweep's record ---------------------------------------------------------------------------


def test_a_sweep_run_records_what_it_was_told_and_zero_for_the_rest(db):
    started = timezone.now() - timedelta(seconds=5)
    run = monitoring.record_sweep("sweep", started, invoices_read=3)
    run.refresh_from_db()
    assert (run.invoices_read, run.invoices_changed) == (3, 0)
    assert (run.events_settled, run.orders_reconciled, run.failures, run.errors) == (0, 0, 0, "")


def test_a_sweep_run_keeps_each_failure_on_a_line_of_at_most_500_characters(db):
    long = "invoice 1: " + "x" * 600
    run = monitoring.record_sweep("sweep", timezone.now(), failures=["invoice 2: timeout", long])
    run.refresh_from_db()
    assert run.errors == "invoice 2: timeout\n" + long[:500]
    assert run.failures == 2


def test_a_sweep_run_is_announced_as_sent_by_the_sweep_run_model(db):
    seen = []

    def receiver(sender, run, **kwargs):
        seen.append(run.pk)

    signals.sweep_finished.connect(receiver, sender=SweepRun, weak=False)
    try:
        run = monitoring.record_sweep("sweep", timezone.now())
    finally:
        signals.sweep_finished.disconnect(receiver, sender=SweepRun)
    assert seen == [run.pk]


# -- an account's own site ------------------------------------------------------------------------


def test_an_accounts_customers_come_back_to_its_own_base_url(settings):
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
    assert provider.redirect_url("eu") == "https://eu.shop.example/invoices/return/"
    assert provider.redirect_url() == "https://shop.example/invoices/return/"


# -- the callback endpoint's rate limit ---------------------------------------------------------


def test_each_sender_spends_a_budget_of_its_own(settings, monkeypatch):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_REFUSED_PER_MINUTE": 2}
    # One minute for the whole test, whatever the clock does meanwhile.
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: 1_900_000_000.0))
    spender, other = (f"198.51.100.{n}-{uuid.uuid4().hex}" for n in (7, 8))
    limits.spend(limits.REFUSED, spender)
    limits.spend(limits.REFUSED, spender)
    assert limits.exceeded(limits.REFUSED, spender) is True
    assert limits.exceeded(limits.REFUSED, other) is False


# -- the client as an account's settings make it -------------------------------------------------


def test_a_client_takes_its_timeouts_and_retries_from_its_account(settings):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "CONNECT_TIMEOUT": 2.5,
        "READ_TIMEOUT": 7,
        "RETRIES": 4,
        "RETRY_BACKOFF": 0.25,
    }
    client = KunaPayClient.from_account(conf.get_account())
    assert client.timeout == (2.5, 7.0)
    assert (client.retries, client.retry_backoff) == (4, 0.25)


@responses.activate
def test_an_invoice_is_created_with_a_post_as_its_request_records(listen):
    sent = listen("provider_request", kwargs=True)
    responses.post(f"{API}/v1/invoice", json={"data": invoice_payload()})
    KunaPayClient(API, api_key="k", retries=0).create_invoice(amount="5", asset="EUR")
    assert [kwargs["method"] for _, kwargs in sent] == ["POST"]


class RecordingCache:
    """Records what the limit asks of the cache; ``get`` fails when told to."""

    def __init__(self, failing=False):
        self.failing = failing
        self.added = []

    def get(self, key):
        if self.failing:
            raise ConnectionError("cache down")
        return None

    def add(self, key, value, timeout):
        self.added.append((value, timeout))
        return True


def test_a_counter_is_forgotten_two_windows_after_it_starts(settings, monkeypatch):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_REFUSED_PER_MINUTE": 2}
    recording = RecordingCache()
    monkeypatch.setattr(limits, "cache", recording)
    limits.spend(limits.REFUSED, "198.51.100.9")
    # Long enough to outlive its minute, short enough not to pile up in the cache.
    assert recording.added == [(1, 120)]


def test_a_cache_that_cannot_be_read_limits_nothing(settings, monkeypatch):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_REFUSED_PER_MINUTE": 2}
    monkeypatch.setattr(limits, "cache", RecordingCache(failing=True))
    assert limits.exceeded(limits.REFUSED, "198.51.100.10") is False
