"""Monitoring (issue 21): the records behind the health page, Prometheus metrics scraped
and parsed, OpenTelemetry spans captured, the health check, the ids in log lines, and
none of the extras imported by the core."""

import ast
import gc
import io
import logging
import re
import subprocess
import sys
import textwrap
import warnings
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from django_invoices import services, signals, telemetry
from django_invoices.client import KunaPayClient
from django_invoices.exceptions import KunaPayError
from django_invoices.models import CallbackEvent, Invoice, Order, ProviderRequest, SweepRun
from django_invoices.services import monitoring
from django_invoices.tasks import jobs

from .callbacks_kit import deposit_event, invoice_event, post
from .conftest import API, INVOICE_ID, NEWER_ID, invoice_payload

ROOT = Path(__file__).resolve().parent.parent
INVOICE_URL = f"{API}/v1/invoice/{INVOICE_ID}"


# -- the records ----------------------------------------------------------------------------


def test_each_request_to_kuna_pay_is_recorded_with_its_result_and_time(client, api, invoice):
    api.get(INVOICE_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    post(client, invoice_event("PAYMENT_AWAITING"))

    (row,) = ProviderRequest.objects.all()
    assert (row.account, row.method, row.endpoint) == ("default", "GET", "/v1/invoice/{id}")
    assert (row.object_id, row.status_code, row.result, row.attempt) == (INVOICE_ID, 200, "ok", 1)
    assert row.milliseconds < 5000
    assert abs(row.started_at - timezone.now()) < timedelta(seconds=30)


def test_each_attempt_of_a_retried_read_is_one_record(api, invoice):
    api.get(INVOICE_URL, status=503, json={"errors": []})
    api.get(INVOICE_URL, status=503, json={"errors": []})
    api.get(INVOICE_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})

    services.refresh_invoice(invoice)  # two retries (tests/settings.py: RETRIES 2)

    rows = ProviderRequest.objects.order_by("pk").values_list("attempt", "status_code", "result")
    assert list(rows) == [(1, 503, "server_error"), (2, 503, "server_error"), (3, 200, "ok")]


@pytest.mark.parametrize(
    ("answer", "result"),
    [
        ({"status": 401, "json": {"errors": [{"message": "bad key"}]}}, "auth"),
        ({"status": 404, "json": {"errors": []}}, "not_found"),
        ({"status": 429, "json": {"errors": []}}, "rate_limited"),
        ({"status": 422, "json": {"errors": []}}, "refused"),
        ({"status": 200, "json": {"nodata": 1}}, "invalid"),
        ({"body": requests.ConnectTimeout("slow")}, "timeout"),
        ({"body": requests.ConnectionError("Connection refused")}, "unreachable"),
    ],
)
def test_a_failed_request_is_recorded_by_what_went_wrong(db, api, answer, result):
    api.post(f"{API}/v1/invoice", **answer)
    client = services.get_client()
    with pytest.raises(KunaPayError):
        client.create_invoice(amount="1", asset="EUR")
    # A POST that certainly never arrived is tried again (RETRIES 2); one that did, not.
    attempts = 3 if result in ("timeout", "unreachable") else 1
    rows = ProviderRequest.objects.order_by("pk").values_list("endpoint", "result", "attempt")
    assert list(rows) == [("/v1/invoice", result, n) for n in range(1, attempts + 1)]


def test_a_client_built_without_an_account_is_not_recorded(db, api):
    api.get(f"{API}/v1/invoice/assets", json={"data": []})
    KunaPayClient(API, api_key="k").list_assets()
    assert ProviderRequest.objects.count() == 0


def test_a_failing_receiver_never_breaks_a_request(db, api):
    def broken(sender, **kwargs):
        raise RuntimeError("monitoring is down")

    signals.provider_request.connect(broken)
    try:
        api.get(f"{API}/v1/invoice/assets", json={"data": [{"code": "BTC"}]})
        assert services.get_client().list_assets() == [{"code": "BTC"}]
    finally:
        signals.provider_request.disconnect(broken)


def test_reads_in_a_sweeps_threads_are_recorded_by_the_thread_that_started_them(db, api, invoice):
    other = Order.objects.create(external_order_id="A-2", amount=1, asset="EUR")
    newer = Invoice.objects.create(
        provider_id=NEWER_ID, order=other, invoice_amount=1, invoice_asset="EUR"
    )
    api.get(INVOICE_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    api.get(f"{API}/v1/invoice/{NEWER_ID}", json={"data": invoice_payload("CREATED", NEWER_ID)})
    writers = []
    real_write = monitoring._write

    def watched(rows):
        import threading

        writers.append((threading.current_thread().name, len(rows)))
        real_write(rows)

    with mock.patch.object(monitoring, "_write", watched):
        services.sync.sync_invoices([invoice.pk, newer.pk], max_workers=2)

    # One INSERT of both, from this thread: the pool's threads opened no connection.
    import threading

    assert writers == [(threading.current_thread().name, 2)]
    assert sorted(ProviderRequest.objects.values_list("object_id", flat=True)) == sorted(
        [INVOICE_ID, NEWER_ID]
    )


def test_a_sweep_is_recorded_with_what_it_could_not_read(db, api, invoice, listen):
    finished = listen("sweep_finished", kwargs=True)
    api.get(INVOICE_URL, status=500, json={"errors": []})
    plan = services.plan_sync(older_than=timedelta(0))

    report = services.run_sync(plan)

    (run,) = SweepRun.objects.all()
    assert (run.kind, run.invoices_read, run.failures) == ("sweep", 0, 1)
    assert run.errors == report.failures[0]
    assert INVOICE_ID in run.errors
    assert finished == [("sweep_finished", {"run": run})]


def test_a_sweep_with_nothing_to_read_is_recorded_too(db):
    call_command("invoices_sync", "--dry-run", stdout=io.StringIO())
    assert SweepRun.objects.count() == 0  # a dry run reads nothing and is no sweep
    call_command("invoices_sync", stdout=io.StringIO())
    (run,) = SweepRun.objects.all()
    assert (run.kind, run.invoices_read, run.failures) == ("sweep", 0, 0)


def test_a_chunk_of_the_sweep_on_a_worker_is_recorded(db, api, invoice):
    api.get(INVOICE_URL, json={"data": invoice_payload("PAID")})
    jobs.sync_invoices([invoice.pk])
    jobs.sync_orders([invoice.order.pk])  # needs no lookup: cleared

    runs = SweepRun.objects.order_by("pk").values_list("kind", "invoices_read", "invoices_changed")
    assert list(runs) == [("invoices", 1, 1), ("orders", 0, 0)]


def test_monitoring_records_are_pruned_after_their_age(db, settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "MONITORING_MAX_AGE": 10}
    now = timezone.now()
    for days in (11, 9):
        ProviderRequest.objects.create(
            started_at=now - timedelta(days=days),
            account="default",
            method="GET",
            endpoint="/v1/invoice/{id}",
            result="ok",
            milliseconds=5,
        )
        SweepRun.objects.create(
            kind="sweep",
            started_at=now - timedelta(days=days),
            finished_at=now - timedelta(days=days),
        )

    assert services.prune_callbacks(dry_run=True)["provider requests"] == 1
    call_command("invoices_prune_callbacks", stdout=(out := io.StringIO()))

    assert "1 record of a request to KUNA Pay, 1 sweep run." in out.getvalue()
    assert ProviderRequest.objects.count() == SweepRun.objects.count() == 1
    assert ProviderRequest.objects.get().started_at > now - timedelta(days=10)


def test_the_monitoring_settings_are_checked(settings):
    from django_invoices.checks import check_settings

    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "MONITORING_MAX_AGE": 3}
    ids = [message.id for message in check_settings(None)]
    assert "django_invoices.E008" in ids


def test_an_overpaid_invoice_is_marked_for_a_person(db, api, btc_invoice):
    tx = {**deposit_event("tx-1", amount="0.002")["data"], "type": "Deposit"}
    api.get(
        INVOICE_URL,
        json={
            "data": invoice_payload(
                "PAID", paymentAmount="0.001", paymentAssetCode="BTC", transactions=[tx]
            )
        },
    )
    services.refresh_invoice(btc_invoice)
    assert Invoice.objects.get(pk=btc_invoice.pk).overpaid is True


# -- Prometheus -----------------------------------------------------------------------------


@pytest.fixture
def metrics():
    """Our metrics in prometheus_client's default registry, for this test only."""
    from django_invoices.contrib import metrics as ours

    installed = ours.install()
    yield installed
    ours.uninstall()


def scrape(client):
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if sample.name.startswith("django_invoices_")
    }


@pytest.mark.urls("tests.monitoring_urls")
def test_metrics_are_scraped_from_the_shops_endpoint(client, api, invoice, metrics):
    api.get(INVOICE_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    post(client, invoice_event("PAYMENT_AWAITING"))
    post(client, invoice_event("PAYMENT_AWAITING", note="again"))  # the same news
    post(client, invoice_event("PAID"), signature="0" * 96)
    api.replace("GET", INVOICE_URL, status=503, json={"errors": []})
    post(client, invoice_event("PAID"))
    services.run_sync(services.plan_sync(older_than=timedelta(0)))

    found = scrape(client)

    def value(name, **labels):
        return found.get((name, tuple(sorted(labels.items()))), 0)

    received = "django_invoices_callbacks_received_total"
    assert value(received, account="default", outcome="pending", reason="") == 2
    assert value(received, account="default", outcome="duplicate", reason="") == 1
    assert value(received, account="default", outcome="refused", reason="bad_signature") == 1
    settled = "django_invoices_callbacks_settled_total"
    assert value(settled, account="default", state="applied") == 1
    assert value("django_invoices_callback_lag_seconds_count", account="default") == 1
    assert value("django_invoices_callback_lag_seconds_bucket", account="default", le="+Inf") == 1
    requests_total = "django_invoices_provider_requests_total"
    item = {"account": "default", "method": "GET", "endpoint": "/v1/invoice/{id}"}
    assert value(requests_total, result="ok", **item) == 1
    # The callback's read (not retried while KUNA Pay waits for the answer); the sweep's,
    # with its two retries; then the sweep's drain of the callback still pending, the same.
    assert value(requests_total, result="server_error", **item) == 1 + 3 + 3
    assert value("django_invoices_provider_request_seconds_count", **item) == 8
    assert value("django_invoices_sweep_runs_total", kind="sweep", result="failures") == 1
    # The invoice it could not read, and the callback still waiting on it.
    assert value("django_invoices_sweep_failures_total", kind="sweep") == 2
    stamp = value("django_invoices_sweep_last_finished_timestamp_seconds", kind="sweep")
    assert abs(stamp - timezone.now().timestamp()) < 60


def test_installing_twice_registers_once_and_uninstalling_stops_counting(db, api):
    from prometheus_client import CollectorRegistry

    from django_invoices.contrib import metrics as ours

    registry = CollectorRegistry()
    first = ours.install(registry)
    assert ours.install(registry) is first
    api.get(f"{API}/v1/invoice/assets", json={"data": []})
    services.get_client().list_assets()
    labels = {"account": "default", "method": "GET", "endpoint": "/v1/invoice/assets"}
    sample = "django_invoices_provider_requests_total"
    assert registry.get_sample_value(sample, {**labels, "result": "ok"}) == 1
    ours.uninstall(registry)
    assert registry.get_sample_value(sample, {**labels, "result": "ok"}) is None
    services.get_client().list_assets()  # nothing listens any more: no error either


# -- OpenTelemetry --------------------------------------------------------------------------


@pytest.fixture
def spans():
    """The app's steps as spans of an SDK tracer provider, caught in memory."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from django_invoices.contrib import otel

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.install(tracer_provider=provider)
    yield exporter
    otel.uninstall()


def by_name(exporter):
    return {
        span.name.removeprefix("django_invoices."): span for span in exporter.get_finished_spans()
    }


def test_a_callback_is_traced_step_by_step(client, api, invoice, spans):
    api.get(INVOICE_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    post(client, invoice_event("PAYMENT_AWAITING"))

    found = by_name(spans)
    assert set(found) == {
        "callback",
        "callback.receive",
        "invoice.read",
        "provider.request",
        "invoice.apply",
        "callbacks.settle",
    }
    root = found["callback"]
    assert root.parent is None
    for name in ("callback.receive", "invoice.read", "invoice.apply"):
        assert found[name].parent.span_id == root.context.span_id, name
    assert found["provider.request"].parent.span_id == found["invoice.read"].context.span_id
    assert found["callbacks.settle"].parent.span_id == found["invoice.apply"].context.span_id
    event = CallbackEvent.objects.get()
    attributes = {name: dict(span.attributes) for name, span in found.items()}
    assert attributes["callback"]["django_invoices.outcome"] == "applied"
    assert attributes["callback"]["django_invoices.event_id"] == event.pk
    assert attributes["callback.receive"]["django_invoices.outcome"] == "pending"
    for name in ("invoice.read", "invoice.apply", "callbacks.settle"):
        assert attributes[name]["django_invoices.provider_invoice_id"] == INVOICE_ID, name
        assert attributes[name]["django_invoices.invoice_id"] == invoice.pk, name
        assert attributes[name]["django_invoices.account"] == "default", name
    assert attributes["invoice.apply"]["django_invoices.outcome"] == "new -> awaiting_payment" or (
        attributes["invoice.apply"]["django_invoices.outcome"].startswith("created ->")
    )
    assert attributes["callbacks.settle"]["django_invoices.outcome"] == "applied=1"
    request = attributes["provider.request"]
    assert request["http.request.method"] == "GET"
    assert request["http.response.status_code"] == 200
    assert request["django_invoices.endpoint"] == "/v1/invoice/{id}"
    assert request["django_invoices.account"] == "default"
    assert request["django_invoices.object_id"] == INVOICE_ID
    assert request["django_invoices.outcome"] == "ok"
    from opentelemetry.trace import SpanKind, StatusCode

    assert found["provider.request"].kind == SpanKind.CLIENT
    assert found["provider.request"].status.status_code == StatusCode.UNSET


def test_a_failed_provider_call_is_an_error_span(client, api, invoice, spans):
    from opentelemetry.trace import StatusCode

    api.get(INVOICE_URL, status=503, json={"errors": []})
    post(client, invoice_event("PAID"))

    found = by_name(spans)
    assert found["provider.request"].status.status_code == StatusCode.ERROR
    assert found["invoice.read"].status.status_code == StatusCode.ERROR
    assert dict(found["callback"].attributes)["django_invoices.outcome"] == "pending"
    assert "invoice.apply" not in found


def test_a_404_is_an_answer_not_a_failed_provider_call(db, api, spans):
    from opentelemetry.trace import StatusCode

    api.get(INVOICE_URL, status=404, json={"errors": [{"message": "Not found"}]})
    with pytest.raises(KunaPayError):  # NotFound, for the caller to decide
        services.get_client().get_invoice(INVOICE_ID)

    (span,) = spans.get_finished_spans()
    assert dict(span.attributes)["django_invoices.outcome"] == "not_found"
    assert span.status.status_code == StatusCode.UNSET
    assert [event.name for event in span.events] == ["exception"]  # still recorded


def test_a_provider_call_that_fails_before_any_answer_is_an_error_span(spans):
    from opentelemetry.trace import StatusCode

    with pytest.raises(RuntimeError), telemetry.span("provider.request"):
        raise RuntimeError("no key to sign with")

    (span,) = spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "RuntimeError"


def test_a_refused_callback_is_traced_with_its_reason(client, db, spans):
    post(client, invoice_event("PAID"), signature="0" * 96)
    attributes = dict(by_name(spans)["callback.receive"].attributes)
    assert attributes["django_invoices.outcome"] == "refused"
    assert attributes["django_invoices.reason"] == "bad_signature"


def test_without_opentelemetry_configured_nothing_is_recorded(client, api, invoice):
    from opentelemetry import trace

    from django_invoices.contrib import otel

    otel.install()  # the API's own tracer provider: no SDK configured
    try:
        with telemetry.span("callback") as step:
            assert isinstance(step.span, trace.NonRecordingSpan)
            step.set(outcome="anything")  # accepted, recorded nowhere
        api.get(INVOICE_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
        assert post(client, invoice_event("PAYMENT_AWAITING")).json()["state"] == "applied"
    finally:
        otel.uninstall()


def test_without_a_tracer_a_step_is_one_shared_object_that_does_nothing():
    assert not telemetry.tracing()
    with telemetry.span("callback", account="default") as step:
        step.set(outcome="applied")
    assert step is telemetry.NO_STEP


# -- django-health-check --------------------------------------------------------------------


def test_kuna_pay_reachable_with_the_accounts_keys(db, api):
    from django_invoices.contrib.healthcheck import KunaPayReachable

    api.get(f"{API}/v1/invoice", json={"data": []})
    KunaPayReachable().check()
    (call,) = api.calls
    assert call.request.headers["api-key"] == "test-api-key"
    assert "take=1" in call.request.url


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"status": 401, "json": {"errors": [{"message": "Invalid key"}]}}, "AuthenticationFailed"),
        ({"status": 503, "json": {"errors": []}}, "ProviderUnavailable"),
        ({"body": requests.ConnectionError("Connection refused")}, "ProviderUnavailable"),
    ],
)
def test_kuna_pay_down_or_refusing_the_keys_fails_the_check(db, api, answer, said):
    from health_check.exceptions import ServiceUnavailable

    from django_invoices.contrib.healthcheck import KunaPayReachable

    api.get(f"{API}/v1/invoice", **answer)
    with pytest.raises(ServiceUnavailable) as failed:
        KunaPayReachable().check()
    assert said in str(failed.value)
    assert "test-api-key" not in str(failed.value)
    assert "test-private-key" not in str(failed.value)


def test_callbacks_flowing_fails_past_the_threshold(db):
    from health_check.exceptions import ServiceUnavailable

    from django_invoices.contrib.healthcheck import CallbacksFlowing

    CallbacksFlowing().check()  # nothing waits
    waiting = CallbackEvent.objects.create(body="{}", body_sha256="x", verified=True)
    CallbacksFlowing().check()  # a moment old
    CallbackEvent.objects.filter(pk=waiting.pk).update(
        received_at=timezone.now() - timedelta(minutes=11)
    )
    with pytest.raises(ServiceUnavailable, match=r"waited 6[0-9]{2} s, more than 600 s"):
        CallbacksFlowing().check()
    CallbacksFlowing(max_age=timedelta(hours=1)).check()


def test_sweep_running_fails_without_a_sweep_or_after_too_long(db):
    from health_check.exceptions import ServiceUnavailable

    from django_invoices.contrib.healthcheck import SweepRunning

    with pytest.raises(ServiceUnavailable, match="no sweep"):
        SweepRunning().check()
    now = timezone.now()
    run = SweepRun.objects.create(kind="sweep", started_at=now, finished_at=now)
    SweepRunning().check()
    SweepRun.objects.filter(pk=run.pk).update(finished_at=now - timedelta(hours=2))
    with pytest.raises(ServiceUnavailable, match="more than 3600 s"):
        SweepRunning().check()
    SweepRunning(max_age=timedelta(hours=3)).check()


@pytest.mark.urls("tests.monitoring_urls")
def test_the_health_page_of_the_guide_reports_each_check(client, db, api):
    api.get(f"{API}/v1/invoice", status=401, json={"errors": [{"message": "Invalid key"}]})

    response = client.get("/health/?format=json")

    assert response.status_code == 500
    results = response.json()
    assert results["Database(alias='default')"] == "OK"
    assert results["CallbacksFlowing(max_age=None)"] == "OK"
    assert "AuthenticationFailed" in results["KunaPayReachable(account='default')"]
    assert "no sweep" in results["SweepRunning(max_age=None)"]
    # django-health-check's Database check opens a connection in a thread of its own,
    # which Django never closes on the in-memory test database: collect it here, where
    # Python 3.13's ResourceWarning about it is expected, not during a later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


# -- log lines carry ids --------------------------------------------------------------------


def records_with(caplog, words):
    return [record for record in caplog.records if words in record.getMessage()]


def test_log_lines_about_an_invoice_carry_its_ids(client, api, invoice, caplog):
    caplog.set_level(logging.INFO, logger="django_invoices")
    api.get(INVOICE_URL, status=503, json={"errors": []})
    post(client, invoice_event("PAID"))

    (failed,) = records_with(caplog, "for its callbacks failed")
    assert failed.invoice_id == invoice.pk
    assert failed.provider_invoice_id == INVOICE_ID
    assert failed.account == "default"
    (answered,) = records_with(caplog, "answered 503")
    assert answered.provider_invoice_id == INVOICE_ID
    assert answered.account == "default"


def test_a_refused_callbacks_log_line_carries_the_event_id(client, db, caplog):
    post(client, invoice_event("PAID"), signature="0" * 96)
    (refused,) = records_with(caplog, "Refused a KUNA Pay callback")
    assert refused.event_id == CallbackEvent.objects.get().pk
    assert refused.account == "default"


def test_giving_up_on_a_callback_is_logged_with_its_ids(client, api, invoice, caplog, settings):
    api.get(INVOICE_URL, status=503, json={"errors": []})
    post(client, invoice_event("PAID"))
    event = CallbackEvent.objects.get()
    CallbackEvent.objects.filter(pk=event.pk).update(attempts=11)

    services.drain_callbacks(due_only=False)

    (gave_up,) = records_with(caplog, "Gave up on")
    assert gave_up.invoice_id == invoice.pk
    assert gave_up.provider_invoice_id == INVOICE_ID
    assert CallbackEvent.objects.get().state == "failed"


def test_every_log_line_naming_an_invoice_order_event_or_deposit_carries_extra():
    """The rule, read from the source: a logger call whose message names one of these
    (with a placeholder for which) passes ``extra`` (the ids of ``telemetry.LOG_KEYS``)."""
    missing = []
    for path in sorted((ROOT / "django_invoices").rglob("*.py")):
        parts = path.relative_to(ROOT / "django_invoices").parts
        if parts[0] in ("sandbox", "migrations") or parts[:2] in (
            ("contrib", "oscar"),
            ("contrib", "payments"),
        ):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "logger"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                continue
            message = node.args[0].value.replace("django-invoices", "")
            names_one = re.search(r"\b(invoice|order|event|deposit)s?\b", message, re.I)
            if names_one and "%" in message and not any(k.arg == "extra" for k in node.keywords):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {message}")
    assert missing == []


def test_the_log_keys_are_documented():
    page = (ROOT / "docs" / "howto" / "monitoring.rst").read_text(encoding="utf-8")
    assert [key for key in telemetry.LOG_KEYS if f"``{key}``" not in page] == []


def test_ids_never_query_the_database(db, invoice, django_assert_num_queries):
    light = Invoice.objects.only("pk", "provider_id").get(pk=invoice.pk)
    with django_assert_num_queries(0):
        found = telemetry.ids(invoice=light)
    assert found == {"invoice_id": invoice.pk, "provider_invoice_id": INVOICE_ID}
    full = Invoice.objects.select_related("order").get(pk=invoice.pk)
    assert telemetry.ids(invoice=full, transaction_id="tx-1") == {
        "invoice_id": invoice.pk,
        "provider_invoice_id": INVOICE_ID,
        "account": "default",
        "order_id": invoice.order_id,
        "external_order_id": "A-1",
        "transaction_id": "tx-1",
    }


# -- none of it without the extras ----------------------------------------------------------

WITHOUT_EXTRAS = textwrap.dedent(
    """
    import sys

    class NoExtras:
        blocked = ("prometheus_client", "opentelemetry", "health_check")

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.blocked:
                raise ModuleNotFoundError(f"No module named {name!r} (hidden)", name=name)
            return None

    sys.meta_path.insert(0, NoExtras())

    import django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)

    import json
    from django.test import Client
    from django_invoices.signing import sign_callback

    body = json.dumps({"event": "Invoice", "data": {"id": "4f1c2b4e-0000-4000-8000-00000000000a",
                                                     "status": "PAID"}}).encode()
    answer = Client().post("/invoices/callback/default/", body, content_type="application/json",
                           headers={"kun-signature": sign_callback("test-private-key", body)})
    assert answer.status_code == 200, answer.content
    admin = Client()
    from django.contrib.auth.models import User
    admin.force_login(User.objects.create_superuser("a", "a@example.com", "x"))
    assert admin.get("/admin/django_invoices/paymentshealth/").status_code == 200
    loaded = sorted(n for n in sys.modules if n.split(".")[0] in NoExtras.blocked)
    contrib = sorted(n for n in sys.modules if n.startswith("django_invoices.contrib"))
    print("LOADED", loaded, contrib)
    """
)


def test_the_core_imports_none_of_the_extras():
    """The app, a callback and the health page, with the extras' packages hidden: none
    of them, and no monitoring contrib, is ever imported."""
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LOADED [] []" in result.stdout
