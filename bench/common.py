"""What the bench sections share: Django set-up, stubbed KUNA Pay, measuring, printing.

Import ``setup()`` first; the other helpers need Django configured.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
API = "https://api.kunapay.test"
KEY = "test-private-key"


def setup() -> None:
    """Configure Django with the test settings (SQLite in memory, or DATABASE_URL)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()


@contextmanager
def test_database() -> Iterator[str]:
    """A migrated throw-away database (``test_<name>`` on PostgreSQL); yields its label."""
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield f"{connection.vendor} {_server_version(connection)}".strip()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
        teardown_test_environment()


def _server_version(connection: Any) -> str:
    if connection.vendor == "sqlite":
        import sqlite3

        return f"{sqlite3.sqlite_version} (in memory)"
    info = getattr(connection, "pg_version", None)
    if isinstance(info, int):
        return f"{info // 10000}.{info % 10000}"
    return ""


# -- one measured case -------------------------------------------------------------------


@dataclass
class Case:
    """One kind of request on a hot path.

    ``prepare(n)`` makes the data for ``n`` requests (outside any measurement) and
    returns one argument per request; ``call(arg)`` makes one request and returns a
    short note (an HTTP status, an outcome). Arguments may repeat (the same invoice
    asked about again) or be fresh objects (a new invoice per status change).
    """

    label: str
    prepare: Callable[[int], Sequence[Any]]
    call: Callable[[Any], object]


@dataclass
class Row:
    label: str
    queries: int
    rate: float
    note: str
    statements: list[str] = field(default_factory=list)


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)


def measure(case: Case, count: int) -> Row:
    """Queries of one request (after a warm-up request) and requests per second."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    args = list(case.prepare(count + 2))
    case.call(args[0])  # warm-up: first-use costs (URL resolver, templates, caches)
    with CaptureQueriesContext(connection) as ctx:
        note = case.call(args[1])
    # Read now: the next request's request_started signal empties the connection's log.
    statements = [query["sql"] for query in ctx.captured_queries]
    timed = args[2:]
    started = time.perf_counter()
    for arg in timed:
        case.call(arg)
    elapsed = time.perf_counter() - started
    return Row(
        case.label,
        len(statements),
        len(timed) / elapsed if elapsed else 0.0,
        str(note),
        statements,
    )


def print_table(
    sections: Sequence[Section], baseline: float, *, show_sql: bool, out: Any = sys.stdout
) -> None:
    width = max(len(row.label) for section in sections for row in section.rows) + 2
    width = max(width, 40)
    header = f"{'':<{width}}{'queries':>8}{'req/s':>10}{'x base':>9}  result"
    print(header, file=out)
    print("-" * len(header), file=out)
    print(
        f"{'baseline: a trivial 405 answer':<{width}}{'0':>8}{baseline:>10.0f}{1:>9.2f}", file=out
    )
    for section in sections:
        print(f"\n{section.title}", file=out)
        for row in section.rows:
            ratio = row.rate / baseline if baseline else 0.0
            print(
                f"  {row.label:<{width - 2}}{row.queries:>8}{row.rate:>10.0f}{ratio:>9.3f}"
                f"  {row.note}",
                file=out,
            )
            if show_sql:
                for number, sql in enumerate(row.statements, 1):
                    print(f"      {number:>2}. {_shorten(sql)}", file=out)


def _shorten(sql: str, limit: int = 160) -> str:
    return sql if len(sql) <= limit else sql[: limit - 3] + "..."


# -- the Django stack's floor -------------------------------------------------------------


def baseline_rate(count: int) -> float:
    """Requests per second of the same stack answering 405 (GET on the callback URL)."""
    from django.test import Client
    from django.urls import reverse

    client = Client()
    url = reverse("django_invoices:callback", kwargs={"account": "default"})
    client.get(url)
    started = time.perf_counter()
    for _ in range(count):
        client.get(url)
    return count / (time.perf_counter() - started)


# -- data and the stubbed provider --------------------------------------------------------

_counter = iter(range(1, 10**9))


def unique() -> int:
    return next(_counter)


def make_invoice(status: str = "CREATED", **fields: Any) -> Any:
    """A new order with one invoice in the provider's ``status``, the order in step."""
    import uuid
    from decimal import Decimal

    from django_invoices.models import Invoice, Order
    from django_invoices.statuses import ORDER_STATUS_FOR, normalize

    number = unique()
    order = Order.objects.create(
        external_order_id=f"B-{number}",
        amount=Decimal("42.50"),
        asset="EUR",
        status=ORDER_STATUS_FOR[normalize(status)],
    )
    return Invoice.objects.create(
        provider_id=uuid.uuid4(),
        order=order,
        status=normalize(status),
        provider_status=status,
        invoice_amount=order.amount,
        invoice_asset="EUR",
        payment_url="https://pay.example/i/1",
        **fields,
    )


def invoice_data(invoice_id: str, status: str, external_order_id: str = "") -> dict[str, Any]:
    """An invoice object as ``GET /v1/invoice/{id}`` answers it."""
    return {
        "id": invoice_id,
        "status": status,
        "externalOrderId": external_order_id,
        "invoiceAmount": "42.5",
        "invoiceAssetCode": "EUR",
        "paymentAmount": "42.5",
        "paymentAssetCode": "USDT",
        "createdAt": "2026-11-25T10:00:00.000Z",
        "expireAt": "2026-11-25T11:00:00.000Z",
        "completedAt": None,
        "transactions": [],
    }


def deposit_data(invoice_id: str) -> dict[str, Any]:
    """The one deposit the stubbed provider lists for an invoice."""
    return {
        "id": f"tx-{invoice_id}",
        "type": "Deposit",
        "invoiceId": invoice_id,
        "amount": "42.5",
        "processedAmount": "42.5",
        "asset": "USDT",
        "status": "Processed",
    }


@contextmanager
def kunapay(detail_status: str = "PAYMENT_AWAITING", *, deposits: bool = False) -> Iterator[Any]:
    """KUNA Pay stubbed by ``responses``: invoice detail answers ``detail_status`` for
    any id (listing one deposit of its own with ``deposits``), a transaction names no
    invoice, invoice creation answers a new id; any other request fails loudly."""
    import json
    import re
    import uuid

    import responses

    def detail(request: Any) -> tuple[int, dict[str, str], str]:
        invoice_id = request.path_url.rsplit("/", 1)[-1]
        data = invoice_data(invoice_id, detail_status)
        if deposits:  # one deposit of its own (bench/callbacks.py names it)
            data["transactions"] = [deposit_data(invoice_id)]
        return 200, {}, json.dumps({"data": data})

    def transaction(request: Any) -> tuple[int, dict[str, str], str]:
        # A transaction that paid into no invoice (a withdrawal, say).
        tx_id = request.path_url.rsplit("/", 1)[-1]
        return 200, {}, json.dumps({"data": {"id": tx_id, "type": "Withdraw"}})

    def create(request: Any) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body)
        data = invoice_data(str(uuid.uuid4()), "CREATED", sent.get("externalOrderId", ""))
        data["paymentLink"] = f"https://pay.example/i/{data['id']}"
        return 200, {}, json.dumps({"data": data})

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(
            responses.GET, re.compile(re.escape(API) + r"/v1/invoice/[0-9a-f-]{36}$"), detail
        )
        mock.add_callback(responses.POST, f"{API}/v1/invoice", create)
        mock.add_callback(
            responses.GET, re.compile(re.escape(API) + r"/v1/transaction/[^/?]+$"), transaction
        )
        yield mock
