"""The sweep's services (``services.sync``) pinned number by number: what ``plan_sync``
picks and in which order, what ``sync_invoices`` answers for each invoice (read, busy,
unreadable, unknown), how it reads (lease, retries, threads), and what ``run_sync``
counts and records in its ``SweepRun``."""

import json
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone

from django_invoices import telemetry
from django_invoices.models import CallbackEvent, Invoice, Order, SweepRun
from django_invoices.services import sync
from django_invoices.services.sync import InvoiceSync, SyncPlan

from .conftest import API, INVOICE_ID, invoice_payload

State = CallbackEvent.State
DETAIL = f"{API}/v1/invoice/{INVOICE_ID}"
ERRORS_503 = {"errors": [{"code": "X", "message": "down"}]}


def make_invoice(ref, *, account="default", created_ago=None, provider_id=None):
    """An open invoice of a new order ``ref`` (42.50 EUR); its KUNA Pay id as a str."""
    order = Order.objects.create(external_order_id=ref, amount=Decimal("42.50"), asset="EUR")
    invoice = Invoice.objects.create(
        provider_id=provider_id or str(uuid.uuid4()),
        order=order,
        invoice_amount=order.amount,
        invoice_asset="EUR",
        account=account,
    )
    if created_ago is not None:
        Invoice.objects.filter(pk=invoice.pk).update(created_at=timezone.now() - created_ago)
    return Invoice.objects.select_related("order").get(pk=invoice.pk)


def answer_paid(api, invoice, **kwargs):
    """KUNA Pay says ``invoice`` is paid."""
    payload = invoice_payload("PAID", str(invoice.provider_id), externalOrderId=str(invoice.order))
    api.get(f"{API}/v1/invoice/{invoice.provider_id}", json={"data": payload}, **kwargs)


def pending_event(invoice, *, body=None, received_ago=timedelta(minutes=1), **fields):
    """A verified callback event about ``invoice`` waiting to be settled."""
    if body is None:
        body = json.dumps(
            {"event": "Invoice", "data": {"id": str(invoice.provider_id), "status": "PAID"}}
        )
    fields.setdefault("verified", True)
    fields.setdefault("state", State.PENDING)
    event = CallbackEvent.objects.create(invoice=invoice, body=body, **fields)
    CallbackEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - received_ago)
    return event


def lease(invoice):
    """Another reader (a callback's) holds ``invoice`` for the next hour."""
    Invoice.objects.filter(pk=invoice.pk).update(
        read_lease_until=timezone.now() + timedelta(hours=1)
    )


def owed(*refs):
    """Orders whose invoice create got no clear answer an hour ago."""
    orders = [
        Order.objects.create(external_order_id=ref, amount=Decimal("42.50"), asset="EUR")
        for ref in refs
    ]
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(
        needs_reconciliation=True, updated_at=timezone.now() - timedelta(hours=1)
    )
    return orders


# -- plan_sync -------------------------------------------------------------------------------


def test_a_sweep_plans_at_most_500_orders_by_default(db):
    Order.objects.bulk_create(
        Order(external_order_id=f"R-{n}", amount=1, asset="EUR", needs_reconciliation=True)
        for n in range(501)
    )
    Order.objects.update(updated_at=timezone.now() - timedelta(hours=1))
    assert len(sync.plan_sync(older_than=timedelta(minutes=15)).orders) == 500


def test_the_events_waiting_longest_are_planned_first(db):
    invoice = make_invoice("E-1")
    newer = pending_event(invoice, received_ago=timedelta(minutes=1))
    older = pending_event(invoice, received_ago=timedelta(minutes=2))
    assert sync.plan_sync(older_than=timedelta(0), limit=1).events == [older.pk]
    assert sync.plan_sync(older_than=timedelta(0)).events == [older.pk, newer.pk]


def test_only_verified_pending_events_are_planned(db):
    invoice = make_invoice("E-1")
    waiting = pending_event(invoice)
    pending_event(invoice, verified=False)
    pending_event(invoice, state=State.APPLIED)
    pending_event(invoice, state=State.FAILED)
    assert sync.plan_sync(older_than=timedelta(0)).events == [waiting.pk]


def test_the_invoice_of_a_pending_event_is_read_however_recently_it_was_read(db):
    stale = make_invoice("S-1", created_ago=timedelta(hours=3))
    fresh = make_invoice("F-1")  # created just now: not due for a read by itself
    pending_event(fresh)
    plan = sync.plan_sync(older_than=timedelta(hours=1))
    assert plan.invoices == [fresh.pk, stale.pk]


def test_an_event_about_an_invoice_of_a_removed_account_does_not_plan_its_read(db):
    gone = make_invoice("G-1", account="gone", created_ago=timedelta(hours=3))
    event = pending_event(gone)
    plan = sync.plan_sync(older_than=timedelta(hours=1))
    assert (plan.invoices, plan.events) == ([], [event.pk])


def test_invoices_named_by_events_count_against_the_limit(db):
    stale = [make_invoice(f"S-{n}", created_ago=timedelta(hours=3 + n)) for n in range(3)]
    named = make_invoice("N-1")
    pending_event(named)
    assert sync.plan_sync(older_than=timedelta(hours=1), limit=1).invoices == [named.pk]
    # The others: the least recently read first.
    assert sync.plan_sync(older_than=timedelta(hours=1), limit=2).invoices == [
        named.pk,
        stale[2].pk,
    ]


def test_the_least_recently_read_invoice_is_read_first_never_read_ones_by_creation(db):
    never_read = make_invoice("A-1", created_ago=timedelta(hours=1))
    read_before = make_invoice("B-1", created_ago=timedelta(hours=3))
    Invoice.objects.filter(pk=read_before.pk).update(synced_at=timezone.now() - timedelta(hours=2))
    assert sync.plan_sync(older_than=timedelta(minutes=15)).invoices == [
        read_before.pk,
        never_read.pk,
    ]
    assert sync.plan_sync(older_than=timedelta(minutes=15), limit=1).invoices == [read_before.pk]


def test_the_late_payment_window_is_counted_from_the_moment_planned_for(db):
    now = timezone.now() - timedelta(days=5)
    invoice = make_invoice("W-1")
    # Expired 10 days before the clock: 5 days before ``now``, inside its 7-day window.
    Invoice.objects.filter(pk=invoice.pk).update(
        status="expired",
        expires_at=timezone.now() - timedelta(days=10),
        created_at=timezone.now() - timedelta(days=11),
    )
    assert sync.plan_sync(older_than=timedelta(0), now=now).invoices == [invoice.pk]
    assert sync.plan_sync(older_than=timedelta(0)).invoices == []


def test_orders_untouched_longest_are_reconciled_first_and_recent_ones_wait(db):
    first, second = owed("O-1", "O-2")
    Order.objects.filter(pk=second.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    (recent,) = owed("O-3")
    Order.objects.filter(pk=recent.pk).update(updated_at=timezone.now())
    assert sync.plan_sync(older_than=timedelta(minutes=15), limit=1).orders == [second.pk]
    assert sync.plan_sync(older_than=timedelta(minutes=15)).orders == [second.pk, first.pk]


# -- sync_invoices ---------------------------------------------------------------------------


def test_an_invoice_that_no_longer_exists_is_answered_by_its_id(db):
    assert sync.sync_invoices([987654]) == [InvoiceSync(987654, error="no such invoice")]


def test_a_failed_read_reports_the_invoice_unchanged_with_the_providers_error(
    api, invoice, settings
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "RETRIES": 0}
    api.get(DETAIL, status=503, json=ERRORS_503)
    assert sync.sync_invoices([invoice.pk]) == [
        InvoiceSync(invoice.pk, "created", "created", 0, "HTTP 503: X: down", INVOICE_ID)
    ]


def test_a_read_counts_the_events_it_applied_and_those_it_gave_up_on(api, invoice):
    applied = pending_event(invoice)
    broken = pending_event(invoice, body="not json")
    answer_paid(api, invoice)
    assert sync.sync_invoices([invoice.pk]) == [
        InvoiceSync(invoice.pk, "created", "paid", 2, "", INVOICE_ID)
    ]
    assert CallbackEvent.objects.get(pk=applied.pk).state == State.APPLIED
    assert CallbackEvent.objects.get(pk=broken.pk).state == State.FAILED


def test_an_invoice_of_a_removed_account_is_reported_and_the_others_are_read(api, db):
    readable = make_invoice("R-1", created_ago=timedelta(hours=1))
    gone = make_invoice("G-1", account="gone")  # the newer: met first
    answer_paid(api, readable)
    got = sync.sync_invoices([gone.pk, readable.pk], max_workers=1)
    assert got[0] == InvoiceSync(
        gone.pk,
        error="DJANGO_INVOICES has no account named 'gone'.",
        provider_id=str(gone.provider_id),
    )
    assert got[1] == InvoiceSync(readable.pk, "created", "paid", 0, "", str(readable.provider_id))


def test_an_invoice_another_reader_holds_is_left_to_it_and_the_others_are_read(api, db):
    readable = make_invoice("R-1", created_ago=timedelta(hours=1))
    held = make_invoice("H-1")  # the newer: met first
    lease(held)
    answer_paid(api, readable)
    got = sync.sync_invoices([held.pk, readable.pk], max_workers=1)
    assert got == [
        InvoiceSync(held.pk, "created", "created", provider_id=str(held.provider_id), busy=True),
        InvoiceSync(readable.pk, "created", "paid", 0, "", str(readable.provider_id)),
    ]
    assert len(api.calls) == 1


def test_the_sweep_holds_an_invoice_for_the_longest_its_read_can_take(api, invoice):
    held_for = []

    def answer(request):
        until = Invoice.objects.get(pk=invoice.pk).read_lease_until
        held_for.append((until - timezone.now()).total_seconds())
        return 200, {}, json.dumps({"data": invoice_payload("PAID")})

    api.add_callback("GET", DETAIL, callback=answer)
    sync.sync_invoices([invoice.pk])
    # 3 tries of 5 s connect + 10 s read (RETRIES 2, backoff 0), plus the margin:
    # far longer than a callback's fast read (under 7 s).
    assert len(held_for) == 1 and 30 < held_for[0] <= 60


def test_concurrent_reads_retry_as_a_sweep_does(api, db):
    first = make_invoice("A-1")
    second = make_invoice("B-1")
    url = f"{API}/v1/invoice/{first.provider_id}"
    api.get(url, status=503, json=ERRORS_503)  # the first try fails, the retry answers
    answer_paid(api, first)
    answer_paid(api, second)
    got = sync.sync_invoices([first.pk, second.pk], max_workers=2)
    assert [(r.new_status, r.error) for r in got] == [("paid", ""), ("paid", "")]


def test_reads_run_in_named_threads_no_more_at_once_than_refresh_workers(api, db, settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "REFRESH_WORKERS": 2}
    invoices = [make_invoice(f"T-{n}") for n in range(3)]
    lock = threading.Lock()
    names, running, most = set(), [0], [0]

    def answer(request):
        with lock:
            names.add(threading.current_thread().name)
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        invoice_id = request.url.rsplit("/", 1)[1]
        return 200, {}, json.dumps({"data": invoice_payload("PAID", invoice_id)})

    for invoice in invoices:
        api.add_callback("GET", f"{API}/v1/invoice/{invoice.provider_id}", callback=answer)
    got = sync.sync_invoices([i.pk for i in invoices])
    assert [r.new_status for r in got] == ["paid", "paid", "paid"]
    assert most[0] == 2
    assert names == {"django-invoices-sync_0", "django-invoices-sync_1"}


# -- run_sync --------------------------------------------------------------------------------


def test_a_sweep_counts_what_it_read_settled_and_reconciled_and_records_it(api, db):
    invoices = [make_invoice(f"A-{n}") for n in range(2)]
    for invoice in invoices:
        pending_event(invoice)
        answer_paid(api, invoice)
    orders = owed("O-1")
    api.get(f"{API}/v1/invoice", json={"data": []})
    report = sync.run_sync(SyncPlan(invoices=[i.pk for i in invoices], orders=[orders[0].pk]))
    assert (report.invoices_read, report.invoices_changed, report.events_settled) == (2, 2, 2)
    assert (report.orders_adopted, report.orders_flagged, report.orders_cleared) == (0, 0, 1)
    run = SweepRun.objects.get()
    assert (
        run.kind,
        run.invoices_read,
        run.invoices_changed,
        run.events_settled,
        run.orders_reconciled,
        run.failures,
    ) == ("sweep", 2, 2, 2, 1, 0)


def test_a_sweep_skips_invoices_held_by_another_reader_and_reads_the_rest(api, db):
    held = [make_invoice(f"H-{n}") for n in range(2)]
    for invoice in held:
        lease(invoice)
    free = make_invoice("F-1")
    answer_paid(api, free)
    report = sync.run_sync(SyncPlan(invoices=[held[0].pk, held[1].pk, free.pk]))
    assert (report.invoices_busy, report.invoices_read, report.invoices_changed) == (2, 1, 1)
    assert report.failures == []


def test_a_sweep_reads_the_invoices_after_one_it_could_not_read(api, db, settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "RETRIES": 0}
    failing = make_invoice("X-1", provider_id=INVOICE_ID)
    fine = make_invoice("F-1")
    api.get(DETAIL, status=503, json=ERRORS_503)
    answer_paid(api, fine)
    report = sync.run_sync(SyncPlan(invoices=[failing.pk, fine.pk]))
    assert report.failures == [f"invoice {INVOICE_ID}: HTTP 503: X: down"]
    assert (report.invoices_read, report.invoices_changed) == (1, 1)


def test_a_sweep_settles_only_as_many_events_as_planned_waiting_longest_first(api, db):
    first = make_invoice("A-1")
    second = make_invoice("B-1")
    planned = pending_event(first, received_ago=timedelta(minutes=2))
    later = pending_event(second, received_ago=timedelta(minutes=1))
    answer_paid(api, first)  # the second invoice is not read: no answer for it
    report = sync.run_sync(SyncPlan(events=[planned.pk]))
    assert (report.events_settled, report.events_pending, report.failures) == (1, 0, [])
    assert CallbackEvent.objects.get(pk=planned.pk).state == State.APPLIED
    assert CallbackEvent.objects.get(pk=later.pk).state == State.PENDING
    assert [call.request.url for call in api.calls] == [f"{API}/v1/invoice/{first.provider_id}"]
    assert SweepRun.objects.get().events_settled == 1


def test_events_of_an_invoice_another_reader_holds_are_counted_as_pending(db):
    invoice = make_invoice("H-1")
    lease(invoice)
    events = [pending_event(invoice), pending_event(invoice)]
    report = sync.run_sync(SyncPlan(events=[e.pk for e in events]))
    assert (report.events_settled, report.events_pending, report.failures) == (0, 2, [])


def list_answer(asset):
    """KUNA Pay's invoice list: one invoice in ``asset`` for the order asked about, or
    none when ``asset`` is None."""

    def answer(request):
        ref = parse_qs(urlparse(request.url).query)["externalOrderId"][0]
        items = []
        if asset:
            items.append(
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, ref)),
                    "externalOrderId": ref,
                    "status": "CREATED",
                    "invoiceAmount": "42.50",
                    "invoiceAssetCode": asset,
                    "createdAt": "2026-12-01T10:00:00Z",
                }
            )
        return 200, {}, json.dumps({"data": items})

    return answer


@pytest.mark.parametrize(
    ("asset", "counts"),
    [("EUR", (2, 0, 0)), ("USD", (0, 2, 0)), (None, (0, 0, 2))],
    ids=["adopted", "flagged", "nothing-found"],
)
def test_a_sweep_counts_each_order_it_reconciled(api, db, asset, counts):
    orders = owed("O-1", "O-2")
    api.add_callback("GET", f"{API}/v1/invoice", callback=list_answer(asset))
    report = sync.run_sync(SyncPlan(orders=[o.pk for o in orders]))
    assert (report.orders_adopted, report.orders_flagged, report.orders_cleared) == counts
    assert report.failures == []
    assert SweepRun.objects.get().orders_reconciled == 2


def test_the_sweeps_read_is_traced_with_the_orders_reference(api, invoice):
    spans = []

    def tracer(name, attributes):
        spans.append((name, attributes))
        return telemetry.NO_STEP

    previous = telemetry.use_tracer(tracer)
    try:
        answer_paid(api, invoice)
        sync.sync_invoices([invoice.pk])
    finally:
        telemetry.use_tracer(previous)
    reads = [attributes for name, attributes in spans if name == "invoice.read"]
    assert reads == [
        {
            "invoice_id": invoice.pk,
            "provider_invoice_id": INVOICE_ID,
            "account": "default",
            "order_id": invoice.order_id,
            "external_order_id": "A-1",
        }
    ]


def test_an_unexpected_error_cancels_the_reads_not_started_and_waits_for_the_others(api, db):
    # The newest first: the order the sweep meets (and submits) them in.
    invoices = [make_invoice(f"U-{n}", created_ago=timedelta(hours=n + 1)) for n in range(5)]
    lock = threading.Lock()
    read, in_flight = [], [0]

    def answer(request):
        invoice_id = request.url.rsplit("/", 1)[1]
        with lock:
            read.append(invoice_id)
            if len(read) == 1:
                raise RuntimeError("a bug")
            in_flight[0] += 1
        time.sleep(1)
        with lock:
            in_flight[0] -= 1
        return 200, {}, json.dumps({"data": invoice_payload("PAID", invoice_id)})

    for invoice in invoices:
        api.add_callback("GET", f"{API}/v1/invoice/{invoice.provider_id}", callback=answer)
    with pytest.raises(RuntimeError, match="a bug"):
        sync.sync_invoices([i.pk for i in invoices], max_workers=2)
    # The reads under way were finished before the error reached the caller ...
    assert in_flight[0] == 0
    # ... and those still queued behind two busy threads never began.
    assert str(invoices[3].provider_id) not in read
    assert str(invoices[4].provider_id) not in read
