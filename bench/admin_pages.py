"""The admin at a shop's real size: every changelist and change page, timed.

Run with ``make bench-admin`` (or ``python bench/admin_pages.py``) with ``DATABASE_URL``
naming a PostgreSQL server: it creates ``test_<name>``, seeds it with SQL
(``generate_series``, no Python loop) with 100,000 orders, about 110,000 invoices,
40,000 deposits and 1,000,000 callback events (1,000 of them about one invoice), 200,000
records of requests to KUNA Pay over 14 days and a sweep run every 5 minutes, then
times each admin page through Django's test client as a logged-in superuser, the
"Payments health" page among them. Prints a table; asserts nothing. ``--keep`` keeps
the seeded database for the next run (seeding is skipped when it is already there).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

ORDERS = 100_000
EVENTS = 1_000_000
# Requests to KUNA Pay over the 14 days monitoring keeps (one every 6 seconds).
REQUESTS = 200_000
# A sweep every 5 minutes over the same 14 days.
SWEEPS = 14 * 24 * 12
# The health page's label (timed on its first load too).
HEALTH = "payments health"
# Invoice 1 has this many events of its own (the busy invoice of the issue).
BUSY_EVENTS = 1_000

# Plain SQL so that a million rows take seconds, not the ORM's minutes. Times spread
# over the last 60 days; every tenth order also has an older, expired invoice.
SEED = [
    f"""
    INSERT INTO django_invoices_order
        (id, external_order_id, amount, asset, description, email, status,
         user_id, content_type_id, object_id, needs_reconciliation, reconciliation_issue,
         created_at, updated_at)
    SELECT g, 'S-' || g, 42.5 + g % 100, (ARRAY['USDT','EUR','BTC','UAH','TRX'])[1 + g % 5],
           '', 'buyer' || g || '@example.com',
           (ARRAY['awaiting_payment','paid','paid','expired','partially_paid'])[1 + g % 5],
           NULL, NULL, '', g % 5000 = 0,
           CASE WHEN g % 7000 = 0 THEN 'KUNA Pay has another amount' ELSE '' END,
           now() - (({ORDERS} - g) * interval '52 seconds'),
           now() - (({ORDERS} - g) * interval '52 seconds')
    FROM generate_series(1, {ORDERS}) AS g
    """,
    f"""
    INSERT INTO django_invoices_invoice
        (id, provider_id, order_id, account, provider_status, status, invoice_amount,
         invoice_asset, payment_amount, payment_asset, paid_amount, payment_url, address,
         expires_at, completed_at, provider_created_at, expired_once, overpaid, callback_url,
         transactional_callbacks, customization, questionnaire, raw_payload, synced_at,
         callbacks_unconfirmed, created_at, updated_at)
    SELECT g, md5('invoice' || g)::uuid, g, 'default',
           (ARRAY['PAYMENT_AWAITING','PAID','PAID','TIMEOUT','PARTIALLY_PAID'])[1 + g % 5],
           (ARRAY['awaiting_payment','paid','paid','expired','partially_paid'])[1 + g % 5],
           42.5 + g % 100, (ARRAY['USDT','EUR','BTC','UAH','TRX'])[1 + g % 5],
           42.5 + g % 100, 'USDT', CASE WHEN g % 5 IN (1, 2) THEN 42.5 + g % 100 ELSE 0 END,
           'https://pay.kunapay.io/invoice/' || md5('invoice' || g)::uuid,
           'T' || md5('address' || g), o.created_at + interval '1 hour', NULL, o.created_at,
           g % 5 = 3 OR g % 89 = 1, g % 97 = 1,
           'https://shop.example/invoices/callback/default/', true, '{{}}', '[]',
           json_build_object('id', md5('invoice' || g)::uuid, 'status', 'PAID',
                             'externalOrderId', 'S-' || g, 'invoiceAmount', '42.5',
                             'invoiceAssetCode', 'USDT', 'paymentAmount', '42.5',
                             'paymentAssetCode', 'USDT', 'transactions', '[]'::json,
                             'createdAt', o.created_at, 'expireAt', o.created_at),
           o.created_at, 0, o.created_at + interval '5 seconds', o.created_at
    FROM generate_series(1, {ORDERS}) AS g JOIN django_invoices_order o ON o.id = g
    """,
    f"""
    INSERT INTO django_invoices_invoice
        (id, provider_id, order_id, account, provider_status, status, invoice_amount,
         invoice_asset, payment_amount, payment_asset, paid_amount, payment_url, address,
         expires_at, completed_at, provider_created_at, expired_once, overpaid, callback_url,
         transactional_callbacks, customization, questionnaire, raw_payload, synced_at,
         callbacks_unconfirmed, created_at, updated_at)
    SELECT {ORDERS} + g, md5('old invoice' || g)::uuid, g * 10, 'default', 'TIMEOUT',
           'expired', 42.5, 'USDT', NULL, '', 0, '', '', NULL, NULL, NULL, true, false, '',
           true, '{{}}', '[]', '{{}}', NULL, 0,
           now() - (({ORDERS} - g * 10) * interval '52 seconds') - interval '1 hour',
           now() - (({ORDERS} - g * 10) * interval '52 seconds')
    FROM generate_series(1, {ORDERS // 10}) AS g
    """,
    f"""
    INSERT INTO django_invoices_deposit
        (id, provider_id, invoice_id, status, type, asset, payment_code, amount, fee,
         processed_amount, address, tx_id, raw_payload, provider_created_at, created_at,
         updated_at)
    SELECT g, 'tx-' || g, g, 'Processed', 'Deposit', 'USDT', 'USDT_TRC20', 42.5, 0, 42.5,
           'T' || md5('address' || g), '0x' || md5('tx' || g) || md5('tx2' || g),
           json_build_object('id', 'tx-' || g, 'status', 'Processed'),
           i.created_at, i.created_at + interval '3 minutes', i.created_at
    FROM generate_series(1, {ORDERS}) AS g JOIN django_invoices_invoice i ON i.id = g
    WHERE g % 5 IN (1, 2)
    """,
    # Event n is about invoice 1 for the first BUSY_EVENTS, else about invoice
    # n % invoices; one in 200 is forged (unverified, rejected, no invoice).
    f"""
    INSERT INTO django_invoices_callbackevent
        (id, account, received_at, body, body_sha256, headers, remote_addr, verified,
         signature_variant, key_fingerprint, signature, times_received, event_name,
         object_id, provider_status, dedupe_key, invoice_id, state, outcome, attempts,
         processed_at)
    SELECT g, 'default',
           now() - (({EVENTS} - g) * interval '5.2 seconds'),
           json_build_object('event', CASE WHEN g % 3 = 0 THEN 'InvoiceDeposit'
                                           ELSE 'Invoice' END,
                             'data', json_build_object('id', md5('invoice' || inv)::uuid,
                                                       'status', 'PAID',
                                                       'updatedAt', now()))::text,
           md5('body' || g) || md5('body2' || g),
           '{{"Content-Type": "application/json", "kun-signature": "present"}}',
           '203.0.113.7', g % 200 <> 0,
           CASE WHEN g % 200 <> 0 THEN 'sha384/hex/raw' ELSE '' END,
           CASE WHEN g % 200 <> 0 THEN 'a1b2c3d4e5f6a7b8' ELSE '' END,
           CASE WHEN g % 200 = 0 THEN repeat('0', 96) ELSE '' END, 1,
           CASE WHEN g % 3 = 0 THEN 'InvoiceDeposit' ELSE 'Invoice' END,
           md5('invoice' || inv)::uuid::text, 'PAID', md5('key' || g),
           CASE WHEN g % 200 <> 0 THEN inv END,
           CASE WHEN g % 200 = 0 THEN 'rejected' WHEN g % 7 = 0 THEN 'duplicate'
                WHEN g % 997 = 0 THEN 'pending' WHEN g % 1999 = 0 THEN 'failed'
                ELSE 'applied' END,
           CASE WHEN g % 200 = 0 THEN 'bad_signature' ELSE '' END, 1,
           now() - (({EVENTS} - g) * interval '5.2 seconds')
                 + (g % 97) * interval '0.35 seconds'
    FROM (
        SELECT g, CASE WHEN g <= {BUSY_EVENTS} THEN 1
                       ELSE 1 + g % ({ORDERS} + {ORDERS // 10}) END AS inv
        FROM generate_series(1, {EVENTS}) AS g
    ) AS numbered
    """,
    # One in 50 requests a 503, one in 200 a timeout; 80 to 480 ms each.
    f"""
    INSERT INTO django_invoices_providerrequest
        (id, started_at, account, method, endpoint, object_id, status_code, result,
         milliseconds, attempt)
    SELECT g, now() - (({REQUESTS} - g) * interval '6 seconds'), 'default', 'GET',
           '/v1/invoice/{{id}}', md5('invoice' || (1 + g % {ORDERS}))::uuid::text,
           CASE WHEN g % 200 = 0 THEN NULL WHEN g % 50 = 0 THEN 503 ELSE 200 END,
           CASE WHEN g % 200 = 0 THEN 'timeout' WHEN g % 50 = 0 THEN 'server_error'
                ELSE 'ok' END,
           80 + (g * 37) % 400, 1
    FROM generate_series(1, {REQUESTS}) AS g
    """,
    f"""
    INSERT INTO django_invoices_sweeprun
        (id, kind, started_at, finished_at, invoices_read, invoices_changed,
         events_settled, orders_reconciled, failures, errors)
    SELECT g, 'sweep', now() - (({SWEEPS} - g) * interval '5 minutes') - interval '4 seconds',
           now() - (({SWEEPS} - g) * interval '5 minutes'), 40 + g % 20, g % 3, g % 5, 0,
           CASE WHEN g % 100 = 0 THEN 1 ELSE 0 END,
           CASE WHEN g % 100 = 0 THEN 'invoice 1: no answer within the timeout' ELSE '' END
    FROM generate_series(1, {SWEEPS}) AS g
    """,
]
SEQUENCES = ("order", "invoice", "deposit", "callbackevent", "providerrequest", "sweeprun")


def seed() -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Rows written by hand, consistent by construction: no foreign-key triggers, and
        # indexes (other than the constraints') built once at the end, not row by row.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET maintenance_work_mem = '256MB'")
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE t.relname LIKE 'django_invoices_%%' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
        for statement in SEED:
            cursor.execute(statement)
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute("SET session_replication_role = DEFAULT")
        for table in SEQUENCES:
            name = f"django_invoices_{table}"
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT max(id) FROM {name}))"
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def pages() -> list[tuple[str, str]]:
    """(label, URL) of every page timed."""
    from django.urls import reverse

    from django_invoices.models import CallbackEvent, Deposit, Invoice, Order

    def changelist(model: str, query: str = "") -> str:
        url = reverse(f"admin:django_invoices_{model}_changelist")
        return f"{url}?{query}" if query else url

    def change(model: str, pk: Any) -> str:
        return reverse(f"admin:django_invoices_{model}_change", args=[pk])

    busy = Invoice.objects.get(pk=1)
    order = Order.objects.order_by("-pk").first()
    deposit = Deposit.objects.order_by("-pk").first()
    event = CallbackEvent.objects.order_by("-pk").first()
    assert order and deposit and event
    some = Invoice.objects.get(pk=ORDERS // 2)
    events = "callbackevent"
    today = _this_month("received_at", today=True)
    return [
        ("orders", changelist("order")),
        ("orders: search an order id", changelist("order", f"q={some.order}")),
        ("orders: search an email", changelist("order", "q=buyer4242%40example.com")),
        ("orders: search an invoice id", changelist("order", f"q={some}")),
        ("orders: status filter", changelist("order", "status__exact=partially_paid")),
        ("orders: asset filter", changelist("order", "asset=BTC")),
        ("orders: created this month", changelist("order", _this_month("created_at"))),
        ("order page", change("order", order.pk)),
        ("invoices", changelist("invoice")),
        ("invoices: search an invoice id", changelist("invoice", f"q={some}")),
        ("invoices: search an order id", changelist("invoice", f"q={some.order}")),
        ("invoices: status filter", changelist("invoice", "status__exact=expired")),
        ("invoices: asset filter", changelist("invoice", "invoice_asset=UAH")),
        ("invoices: account filter", changelist("invoice", "account=default")),
        ("invoice page (1,000 callback events)", change("invoice", busy.pk)),
        ("invoice page", change("invoice", some.pk)),
        ("deposits", changelist("deposit")),
        ("deposits: search a tx id", changelist("deposit", f"q={deposit.tx_id}")),
        ("deposits: search an invoice id", changelist("deposit", f"q={deposit.invoice}")),
        ("deposits: status filter", changelist("deposit", "status=Canceled")),
        ("deposit page", change("deposit", deposit.pk)),
        ("callback events", changelist(events)),
        ("callback events: search an invoice id", changelist(events, f"q={some}")),
        ("callback events: search the busy invoice", changelist(events, f"q={busy}")),
        ("callback events: search a body hash", changelist(events, f"q={event.body_sha256}")),
        ("callback events: of one invoice", changelist(events, f"invoice__id__exact={busy.pk}")),
        ("callback events: state pending", changelist(events, "state__exact=pending")),
        ("callback events: unverified", changelist(events, "verified__exact=0")),
        ("callback events: event filter", changelist(events, "event_name=InvoiceStatus")),
        ("callback events: account filter", changelist(events, "account=default")),
        ("callback events: received today", changelist(events, today)),
        ("callback event page", change("callbackevent", event.pk)),
        (HEALTH, changelist("paymentshealth")),
        ("provider requests", changelist("providerrequest")),
        ("provider requests: errors", changelist("providerrequest", "result=errors")),
        ("sweep runs", changelist("sweeprun")),
        ("invoices: needs a person (overpaid)", changelist("invoice", "attention=overpaid")),
        ("orders: reconciliation issue", changelist("order", "reconciliation=issue")),
    ]


def _this_month(field: str, *, today: bool = False) -> str:
    """The query string of Django's date filter for this month (or today)."""
    from django.utils import timezone

    now = timezone.localtime()
    start = now.replace(day=1) if not today else now
    since = start.strftime("%Y-%m-%d")
    return f"{field}__gte={since}+00%3A00%3A00%2B00%3A00"


@dataclass
class Timing:
    wall: float  # milliseconds, median of the loads
    cpu: float  # of this process (Django), median; what a busy machine does not inflate
    sql: float  # all queries of the last load together
    slowest: float
    queries: int
    size: int
    status: int


def _row(label: str, t: Timing) -> None:
    print(
        f"{label:<46}{t.wall:>6.0f}{t.cpu:>6.0f}{t.sql:>6.0f}{t.slowest:>8.0f}"
        f"{t.queries:>8}{t.size / 1024:>6.0f}  {t.status}"
    )


def time_page(client: Any, url: str, repeat: int, *, warm: bool = True) -> Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if warm:
        client.get(url)  # warm-up: templates, content types, the page cache
    walls, cpus = [], []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            wall, cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            cpus.append((time.process_time() - cpu) * 1000)
            walls.append((time.perf_counter() - wall) * 1000)
    times = [float(query["time"]) * 1000 for query in ctx.captured_queries]
    return Timing(
        statistics.median(walls),
        statistics.median(cpus),
        sum(times),
        max(times, default=0.0),
        len(times),
        len(response.content),
        response.status_code,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="timed loads of each page")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument("--only", default="", help="time only the pages whose label has this")
    args = parser.parse_args(argv)

    common.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from django_invoices.models import Order

    if connection.vendor != "postgresql":
        sys.exit("bench/admin_pages.py needs DATABASE_URL naming a PostgreSQL server")
    # No setup_test_environment(): its instrumented template rendering would be timed.
    settings.DEBUG = False
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(
        verbosity=0, autoclobber=True, keepdb=args.keep, serialize=False
    )
    try:
        if not Order.objects.exists():
            print(f"seeding: {seed():.0f} s")
        print(
            f"django-invoices admin bench: postgresql {common._server_version(connection)}, "
            f"{Order.objects.count():,} orders, "
            f"{_estimate('django_invoices_callbackevent'):,} callback events; "
            f"median of {args.n} loads, ms; load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} CPUs"
        )
        user_model = get_user_model()
        user = user_model.objects.filter(username="bench").first()
        if user is None:
            user = user_model.objects.create_superuser("bench", "bench@example.com", "x")
        client = Client()
        client.force_login(user)
        print()
        header = (
            f"{'page':<46}{'wall':>6}{'cpu':>6}{'sql':>6}{'slowest':>8}{'queries':>8}"
            f"{'KiB':>6}  status"
        )
        print(header)
        print("-" * len(header))
        chosen = [(label, url) for label, url in pages() if args.only in label]
        for label, url in chosen:
            if label == HEALTH:
                # Its first load sums the week's past hours once (HealthHour); timed
                # alone, then the loads after it, which read those sums.
                from django_invoices.models import HealthHour

                HealthHour.objects.all().delete()
                t = time_page(client, url, 1, warm=False)
                _row(f"{label} (first load)", t)
            _row(label, time_page(client, url, args.n))
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)


def _estimate(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
        return int(cursor.fetchone()[0])


if __name__ == "__main__":
    main()
