"""Survivors of the monitoring extras (``contrib.healthcheck``, ``contrib.metrics``,
``contrib.otel``), pinned by what they changed:

- the health checks fail past their limit, not at it, each with its own message, and
  read in the thread that runs them (``sync_to_async`` with ``thread_sensitive``): they
  see what that thread's transaction wrote;
- the metrics' exposition (each metric's help text and type, the histograms' buckets),
  the sweep's timestamp gauge keeping the newest value of all processes, a sweep with
  nothing to report counted as ``ok``; each registry fed apart, the default one
  uninstalled as well, uninstalling unfeeding and harmless twice, and metrics connected
  by hand kept alive by the signals;
- the spans: empty attributes left out and the rest kept, values OpenTelemetry cannot
  carry recorded as text, the tracer named and versioned as the app, and a provider
  request's span failed by the outcome it learned last, not before it learned one.
"""

import gc
import uuid
import weakref
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
import requests
from asgiref.sync import async_to_sync
from django.utils import timezone
from health_check.exceptions import ServiceUnavailable
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

import django_invoices
from django_invoices import services, signals, telemetry
from django_invoices.contrib import metrics as ours
from django_invoices.contrib.healthcheck import CallbacksFlowing, KunaPayReachable, SweepRunning
from django_invoices.exceptions import KunaPayError
from django_invoices.models import CallbackEvent, SweepRun

from . import test_monitoring
from .callbacks_kit import invoice_event, post
from .conftest import API
from .merchants.models import Merchant
from .test_monitoring import by_name

spans = test_monitoring.spans  # the fixture: the app's spans, caught in memory

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=dt_timezone.utc)
ASSETS = f"{API}/v1/invoice/assets"
REQUESTS_OK = {
    "account": "default",
    "method": "GET",
    "endpoint": "/v1/invoice/assets",
    "result": "ok",
}


@pytest.fixture
def frozen(monkeypatch):
    """The clock stopped at ``NOW``."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)


# -- the health checks ----------------------------------------------------------------------


def test_callbacks_flowing_fails_past_its_limit_not_at_it(db, frozen):
    waiting = CallbackEvent.objects.create(body="{}", body_sha256="x", verified=True)
    CallbackEvent.objects.filter(pk=waiting.pk).update(received_at=NOW - timedelta(seconds=600))
    CallbacksFlowing().check()  # HEALTH_PENDING_MAX_AGE: 600 s, waited exactly that
    CallbacksFlowing(max_age=timedelta(seconds=600)).check()

    CallbackEvent.objects.filter(pk=waiting.pk).update(received_at=NOW - timedelta(seconds=601))
    with pytest.raises(ServiceUnavailable) as failed:
        CallbacksFlowing().check()
    assert failed.value.message == "the oldest pending callback has waited 601 s, more than 600 s"


def test_sweep_running_fails_past_its_limit_not_at_it_and_without_a_sweep(db, frozen):
    with pytest.raises(ServiceUnavailable) as failed:
        SweepRunning().check()
    assert failed.value.message == "no sweep (invoices_sync) has ever finished"

    finished = NOW - timedelta(seconds=3600)  # HEALTH_SWEEP_MAX_AGE
    run = SweepRun.objects.create(kind="sweep", started_at=finished, finished_at=finished)
    SweepRunning().check()
    SweepRunning(max_age=timedelta(seconds=3600)).check()

    SweepRun.objects.filter(pk=run.pk).update(finished_at=NOW - timedelta(seconds=3601))
    with pytest.raises(ServiceUnavailable) as failed:
        SweepRunning().check()
    assert failed.value.message == "the last sweep finished 3601 s ago, more than 3600 s"


# What django-health-check awaits: run(), from the thread of the view's request (a sync
# caller here, as Django's handler is for an async view under WSGI). The rows below are
# written in this test's transaction, which only this thread's connection sees: a check
# run in another thread would read another connection (on SQLite's shared in-memory
# database, a table this transaction locks).


def test_callbacks_flowing_runs_in_the_callers_thread(db, frozen):
    CallbackEvent.objects.create(body="{}", body_sha256="x", verified=True)
    CallbackEvent.objects.update(received_at=NOW - timedelta(minutes=11))
    with pytest.raises(ServiceUnavailable, match="waited 660 s, more than 600 s"):
        async_to_sync(CallbacksFlowing().run)()


def test_sweep_running_runs_in_the_callers_thread(db):
    now = timezone.now()
    SweepRun.objects.create(kind="sweep", started_at=now, finished_at=now)
    async_to_sync(SweepRunning().run)()


def test_kuna_pay_reachable_runs_in_the_callers_thread(db, api, settings):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNT_RESOLVER": "tests.merchants.resolver.MerchantAccounts",
    }
    Merchant.objects.create(slug="shop-a", public_key="shop-a-public", private_keys="shop-a-key")
    api.get(f"{API}/v1/invoice", json={"data": []})

    async_to_sync(KunaPayReachable(account="shop-a").run)()

    (call,) = api.calls
    assert call.request.headers["public-key"] == "shop-a-public"


# -- Prometheus -----------------------------------------------------------------------------


@pytest.fixture
def registry():
    """A registry of its own with our metrics installed, for this test only."""
    registry = CollectorRegistry()
    ours.install(registry)
    yield registry
    ours.uninstall(registry)


def test_the_exposition_names_each_metric_with_its_help_type_and_buckets(db, api, registry):
    api.get(ASSETS, json={"data": []})
    services.get_client().list_assets()
    signals.callbacks_settled.send(
        sender=CallbackEvent, account="default", invoice=None, states={1: "applied"}, lags=[0.3]
    )

    families = {
        family.name: family
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        if not family.name.endswith("_created")  # when each series began
    }

    assert {name: (f.type, f.documentation) for name, f in families.items()} == {
        "django_invoices_callbacks_received": (
            "counter",
            "KUNA Pay callbacks received, by what became of them as they were stored.",
        ),
        "django_invoices_callbacks_settled": (
            "counter",
            "Callbacks a read of their invoice settled, by the state it left them in.",
        ),
        "django_invoices_callback_lag_seconds": (
            "histogram",
            "Seconds from a callback's receipt to its change applied.",
        ),
        "django_invoices_provider_requests": (
            "counter",
            "Requests to KUNA Pay, by endpoint and result.",
        ),
        "django_invoices_provider_request_seconds": (
            "histogram",
            "Seconds a request to KUNA Pay took.",
        ),
        "django_invoices_sweep_runs": (
            "counter",
            "Runs of the sweep (invoices_sync), or chunks of it run by a task worker.",
        ),
        "django_invoices_sweep_failures": ("counter", "Items a sweep could not read."),
        "django_invoices_sweep_last_finished_timestamp_seconds": (
            "gauge",
            "When a sweep last finished (Unix time).",
        ),
    }

    def bounds(name):
        return [
            float(sample.labels["le"])
            for sample in families[name].samples
            if sample.name == f"{name}_bucket"
        ]

    inf = float("inf")
    lag = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400, inf]
    assert bounds("django_invoices_callback_lag_seconds") == lag
    request = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, inf]
    assert bounds("django_invoices_provider_request_seconds") == request


def test_the_sweeps_timestamp_keeps_the_newest_of_all_processes(monkeypatch, tmp_path):
    # prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR), two worker
    # processes played in turn: each writes its own file, the collector merges them.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    try:
        for pid, finished in ((101, NOW), (102, NOW - timedelta(hours=1))):
            monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda p=pid: p))
            run = SimpleNamespace(kind="sweep", failures=0, finished_at=finished)
            ours.Metrics(CollectorRegistry()).on_sweep(None, run=run)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(tmp_path))
        name = "django_invoices_sweep_last_finished_timestamp_seconds"
        assert merged.get_sample_value(name, {"kind": "sweep"}) == NOW.timestamp()
    finally:
        values.close_all_multiprocess_files()


def test_a_sweep_with_nothing_to_read_is_counted_ok(db, registry):
    services.run_sync(services.plan_sync(older_than=timedelta(0)))

    runs = "django_invoices_sweep_runs_total"
    assert registry.get_sample_value(runs, {"kind": "sweep", "result": "ok"}) == 1
    assert registry.get_sample_value(runs, {"kind": "sweep", "result": "failures"}) is None


def test_two_registries_are_each_fed(db, api):
    first, second = CollectorRegistry(), CollectorRegistry()
    ours.install(first)
    ours.install(second)
    try:
        api.get(ASSETS, json={"data": []})
        services.get_client().list_assets()
        sample = "django_invoices_provider_requests_total"
        assert first.get_sample_value(sample, REQUESTS_OK) == 1
        assert second.get_sample_value(sample, REQUESTS_OK) == 1
    finally:
        ours.uninstall(first)
        ours.uninstall(second)


def test_uninstalled_metrics_are_fed_no_more(db, api):
    registry = CollectorRegistry()
    installed = ours.install(registry)
    ours.uninstall(registry)

    api.get(ASSETS, json={"data": []})
    services.get_client().list_assets()

    samples = [sample for family in installed.requests.collect() for sample in family.samples]
    assert samples == []


def test_the_default_registry_is_uninstalled_too():
    ours.install()
    ours.uninstall()
    assert b"django_invoices_" not in generate_latest(REGISTRY)


def test_uninstalling_what_is_not_installed_does_nothing():
    registry = CollectorRegistry()
    ours.uninstall(registry)
    ours.install(registry)
    ours.uninstall(registry)
    ours.uninstall(registry)
    assert generate_latest(registry) == b""


def test_metrics_connected_by_hand_are_kept_alive_by_the_signals(db, api):
    registry = CollectorRegistry()
    connected = ours.Metrics(registry)
    connected.connect()
    alive = weakref.ref(connected)
    del connected
    gc.collect()
    try:
        api.get(ASSETS, json={"data": []})
        services.get_client().list_assets()
        sample = "django_invoices_provider_requests_total"
        assert registry.get_sample_value(sample, REQUESTS_OK) == 1
    finally:
        if (still := alive()) is not None:
            still.disconnect()


# -- OpenTelemetry --------------------------------------------------------------------------


def test_a_stored_callbacks_receive_span_holds_its_ids_and_no_empty_reason(client, db, spans):
    post(client, invoice_event("PAID"))  # stored pending (then ignored: no invoice of ours)

    event = CallbackEvent.objects.get()
    attributes = dict(by_name(spans)["callback.receive"].attributes)
    assert attributes == {
        "django_invoices.account": "default",
        "django_invoices.outcome": "pending",
        "django_invoices.event_id": event.pk,
    }


def test_a_request_that_got_no_answer_has_no_status_code_but_its_outcome(db, api, spans):
    api.get(ASSETS, body=requests.ConnectionError("Connection refused"))
    with pytest.raises(KunaPayError):
        services.get_client(fast=True).list_assets()

    attributes = dict(by_name(spans)["provider.request"].attributes)
    assert "django_invoices.status_code" not in attributes
    assert "http.response.status_code" not in attributes
    assert attributes["django_invoices.outcome"] == "unreachable"
    assert attributes["django_invoices.attempts"] == 1


def test_values_opentelemetry_cannot_carry_are_recorded_as_text(spans):
    invoice_id = uuid.UUID("506c695a-4187-4463-ac41-07dc0782cb0e")
    with telemetry.span("invoice.read", provider_invoice_id=invoice_id) as step:
        step.set(amount=Decimal("42.50"), invoice_id=7)

    attributes = dict(by_name(spans)["invoice.read"].attributes)
    assert attributes == {
        "django_invoices.provider_invoice_id": "506c695a-4187-4463-ac41-07dc0782cb0e",
        "django_invoices.amount": "42.50",
        "django_invoices.invoice_id": 7,
    }


def test_the_spans_come_from_the_apps_own_tracer(spans):
    with telemetry.span("callback"):
        pass

    (span,) = spans.get_finished_spans()
    assert span.instrumentation_scope.name == "django_invoices"
    assert span.instrumentation_scope.version == django_invoices.__version__


def test_a_provider_requests_span_fails_by_the_outcome_it_learned(spans):
    from opentelemetry.trace import StatusCode

    with telemetry.span("provider.request") as step:
        step.set(outcome="server_error", status_code=503)
        step.set(attempts=2)  # says nothing of the outcome: it stays
    with telemetry.span("provider.request"):
        pass  # no outcome learned: not failed

    failed, untold = spans.get_finished_spans()
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.status.description == "server_error"
    assert untold.status.status_code == StatusCode.UNSET
