"""The bulk services behind the admin actions, and the client's thread safety."""

import json
import re
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.db import OperationalError
from django.utils import timezone

from django_invoices import services
from django_invoices.client import KunaPayClient
from django_invoices.models import Invoice, Order
from django_invoices.services import Outcome, bulk, reads
from django_invoices.statuses import InvoiceStatus

from .conftest import API, invoice_payload

DETAIL_URL = re.compile(rf"{re.escape(API)}/v1/invoice/[0-9a-f-]{{36}}$")


class ConcurrentReads:
    """The provider answering each invoice read after 20 ms, counting the most reads
    in flight at once (``peak``)."""

    def __init__(self, api):
        self.lock = threading.Lock()
        self.in_flight = self.peak = 0
        api.add_callback("GET", DETAIL_URL, callback=self.answer)

    def answer(self, request):
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(0.02)
        with self.lock:
            self.in_flight -= 1
        invoice_id = request.url.rsplit("/", 1)[1]
        return 200, {}, json.dumps({"data": invoice_payload("PAYMENT_AWAITING", invoice_id)})


def make_invoice(ref, status=InvoiceStatus.CREATED):
    order = Order.objects.create(external_order_id=ref, amount=Decimal("1"), asset="EUR")
    return Invoice.objects.create(
        provider_id=uuid.uuid4(),
        order=order,
        status=status,
        invoice_amount=Decimal("1"),
        invoice_asset="EUR",
    )


def test_refresh_invoices_keeps_the_pool_bounded_and_the_input_order(api, db):
    invoices = [make_invoice(f"A-{i}") for i in range(12)]
    reads = ConcurrentReads(api)

    outcomes = services.refresh_invoices(invoices, max_workers=3)

    assert 1 < reads.peak <= 3
    assert [o.invoice.pk for o in outcomes] == [i.pk for i in invoices]
    assert {o.outcome for o in outcomes} == {Outcome.REFRESHED}
    assert all(o.changed and o.new_status == InvoiceStatus.AWAITING_PAYMENT for o in outcomes)


def test_refresh_invoices_of_nothing_asks_nothing(api, db):
    assert services.refresh_invoices([]) == []
    assert not api.calls


def test_a_final_status_refreshed_again_is_not_a_change(api, db):
    invoice = make_invoice("A-1", status=InvoiceStatus.PAID)
    api.get(DETAIL_URL, json={"data": invoice_payload("PAID", str(invoice.provider_id))})
    [outcome] = services.refresh_invoices([invoice])
    assert outcome.outcome == Outcome.REFRESHED
    assert not outcome.changed


def test_create_invoices_reports_an_invoice_made_meanwhile_as_skipped(db, monkeypatch):
    order = Order.objects.create(external_order_id="A-1", amount=Decimal("1"), asset="EUR")
    made_meanwhile = Invoice.objects.create(
        provider_id=uuid.uuid4(), order=order, invoice_amount=Decimal("1"), invoice_asset="EUR"
    )
    Invoice.objects.filter(pk=made_meanwhile.pk).update(
        created_at=timezone.now() - timedelta(seconds=1)
    )
    made_meanwhile.refresh_from_db()
    # The bulk look-up runs first and finds nothing open; then another process wins.
    monkeypatch.setattr(bulk, "OPEN_STATUSES", frozenset())
    monkeypatch.setattr(bulk, "create_invoice", lambda order, account: made_meanwhile)

    [outcome] = services.create_invoices([order])

    assert outcome.outcome == Outcome.SKIPPED
    assert outcome.invoice == made_meanwhile


def test_nonces_stay_unique_across_threads():
    client = KunaPayClient(
        API, public_key="pub", private_key="priv", auth_mode="signed", clock=lambda: 1000.0
    )
    seen = []

    def take():
        for _ in range(500):
            seen.append(client._nonce())

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == len(seen) == 4000


def test_a_database_error_on_one_invoice_does_not_stop_the_rest(api, db, monkeypatch):
    invoices = [make_invoice(f"A-{i}") for i in range(3)]
    api.add_callback(
        "GET",
        DETAIL_URL,
        callback=lambda request: (
            200,
            {},
            json.dumps({"data": invoice_payload("PAID", request.url.rsplit("/", 1)[1])}),
        ),
    )
    apply = reads.apply_read

    def flaky(invoice, data, started, **kwargs):
        if invoice.pk == invoices[1].pk:
            raise OperationalError("lock timeout")
        return apply(invoice, data, started, **kwargs)

    monkeypatch.setattr(reads, "apply_read", flaky)

    outcomes = services.refresh_invoices(invoices)

    assert [o.outcome for o in outcomes] == [Outcome.REFRESHED, Outcome.FAILED, Outcome.REFRESHED]
    assert outcomes[1].reason == "it could not be saved; see the logs"
    assert Invoice.objects.filter(status=InvoiceStatus.PAID).count() == 2


def test_an_invoice_of_an_unconfigured_account_fails_alone(api, order):
    from django_invoices import services
    from django_invoices.models import Invoice

    invoice = Invoice.objects.create(
        provider_id="00000000-0000-0000-0000-0000000000aa",
        order=order,
        account="gone",
        invoice_amount=order.amount,
        invoice_asset="EUR",
    )
    [outcome] = services.refresh_invoices([invoice])
    assert outcome.outcome == services.Outcome.FAILED
    assert "gone" in outcome.reason
    assert not api.calls


def test_each_refresh_thread_reads_through_its_own_session(api, db, monkeypatch):
    invoices = [make_invoice(f"S-{i}") for i in range(12)]
    lock = threading.Lock()
    sessions_by_thread: dict[int, set[int]] = {}
    original = requests.Session.request

    def recording(session, *args, **kwargs):
        with lock:
            sessions_by_thread.setdefault(threading.get_ident(), set()).add(id(session))
        return original(session, *args, **kwargs)

    def provider(request):
        time.sleep(0.01)  # long enough for the pool to use several threads
        invoice_id = request.url.rsplit("/", 1)[1]
        return 200, {}, json.dumps({"data": invoice_payload("PAYMENT_AWAITING", invoice_id)})

    api.add_callback("GET", DETAIL_URL, callback=provider)
    monkeypatch.setattr(requests.Session, "request", recording)
    callers_session = id(services.get_client().session)

    outcomes = services.refresh_invoices(invoices, max_workers=4)

    assert {o.outcome for o in outcomes} == {Outcome.REFRESHED}
    assert threading.get_ident() not in sessions_by_thread  # the caller only applies
    assert 1 < len(sessions_by_thread) <= 4
    used = [session for sessions in sessions_by_thread.values() for session in sessions]
    assert all(len(sessions) == 1 for sessions in sessions_by_thread.values())
    assert len(set(used)) == len(used)  # no session served two threads
    assert callers_session not in used


def test_get_client_is_per_thread_and_reused_within_a_thread():
    mine = services.get_client()
    assert services.get_client() is mine
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(services.get_client()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    assert theirs[0].session is not mine.session


def test_refresh_workers_is_read_from_the_settings_at_each_call(api, db, settings):
    invoices = [make_invoice(f"W-{i}") for i in range(8)]
    reads = ConcurrentReads(api)
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "REFRESH_WORKERS": 1}
    services.refresh_invoices(invoices[:4])
    assert reads.peak == 1

    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "REFRESH_WORKERS": 2}
    reads.peak = 0
    services.refresh_invoices(invoices[4:])
    assert reads.peak == 2


def _backends_settle_at(expected, connection, within=10.0):
    """PostgreSQL ends a backend shortly after its client hangs up, not at once."""
    deadline = time.monotonic() + within
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            count = cursor.fetchone()[0]
        if count == expected or time.monotonic() > deadline:
            return count == expected
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_each_thread_applies_on_its_own_connection(api):
    from django.db import connection

    from django_invoices import signals

    invoices = [make_invoice(f"T-{i}") for i in range(10)]
    applied_in = []

    def provider(request):
        time.sleep(0.01)
        invoice_id = request.url.rsplit("/", 1)[1]
        return 200, {}, json.dumps({"data": invoice_payload("PAID", invoice_id)})

    def record(sender, invoice, **kwargs):
        applied_in.append(threading.current_thread().name)

    api.add_callback("GET", DETAIL_URL, callback=provider)
    signals.invoice_paid.connect(record)
    try:
        outcomes = services.refresh_invoices(invoices, max_workers=3)
    finally:
        signals.invoice_paid.disconnect(record)

    assert [o.outcome for o in outcomes] == [Outcome.REFRESHED] * 10
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.PAID}
    assert len(applied_in) == 10
    if connection.vendor == "postgresql":
        # Applied by the pool threads, whose connections are closed when they end.
        assert all(name.startswith("django-invoices-refresh") for name in applied_in)
        assert _backends_settle_at(1, connection)
    else:  # SQLite has no row locks to share the writes: the caller applies them all
        assert set(applied_in) == {threading.current_thread().name}


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_in_a_refresh_thread_reaches_the_caller(api, monkeypatch):
    invoices = [make_invoice(f"U-{i}") for i in range(4)]
    api.add_callback(
        "GET",
        DETAIL_URL,
        callback=lambda r: (200, {}, json.dumps({"data": invoice_payload("PAID")})),
    )

    def broken(invoice, data, started, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(reads, "apply_read", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        services.refresh_invoices(invoices, max_workers=2)
