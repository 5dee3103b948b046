"""Figures for the hot paths: SQL queries per callback and callbacks per second.

Run with ``make bench``. Prints numbers; asserts nothing. The throughput figure comes
with a baseline measured in the same run (the same Django stack answering a trivial
405), so the ratio is comparable across machines.
"""

from __future__ import annotations

import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

import responses  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from django_invoices.models import Invoice, Order  # noqa: E402
from django_invoices.signing import sign_callback  # noqa: E402

KEY = "test-private-key"
URL = "/invoices/callback/default/"


def signed(client: Client, payload: dict) -> int:
    body = json.dumps(payload).encode()
    response = client.generic(
        "POST",
        URL,
        data=body,
        content_type="application/json",
        headers={"kun-signature": sign_callback(KEY, body)},
    )
    return response.status_code


def make_invoice(index: int) -> Invoice:
    order = Order.objects.create(external_order_id=f"B-{index}", amount=Decimal("10"), asset="EUR")
    return Invoice.objects.create(
        provider_id=f"00000000-0000-0000-0000-{index:012d}",
        order=order,
        invoice_amount=order.amount,
        invoice_asset="EUR",
    )


def queries(label: str, payload: dict, client: Client) -> None:
    with CaptureQueriesContext(connection) as ctx:
        status = signed(client, payload)
    print(f"  {label:<44} {len(ctx):>3} queries  (HTTP {status})")


def main() -> None:
    setup_test_environment()
    call_command("migrate", verbosity=0)
    client = Client()
    print("SQL queries per callback")
    invoice = make_invoice(0)
    pid = str(invoice.provider_id)
    status = {"event": "Invoice", "data": {"id": pid, "status": "PAYMENT_AWAITING"}}
    queries("status change (awaiting payment)", status, client)
    queries("same callback again (duplicate)", status, client)
    deposit = {
        "event": "InvoiceDeposit",
        "data": {"id": "tx-1", "invoiceId": pid, "amount": "1", "status": "Processed"},
    }
    queries("new deposit", deposit, client)
    queries("unknown event", {"event": "Withdraw", "data": {"id": "w"}}, client)
    with CaptureQueriesContext(connection) as ctx:
        client.generic("POST", URL, data=b"{}", content_type="application/json")
    print(f"  {'forged (no signature)':<44} {len(ctx):>3} queries")

    count = 300
    invoices = [make_invoice(i + 1) for i in range(count)]
    started = time.perf_counter()
    for _ in range(count):
        client.get(URL)
    baseline = count / (time.perf_counter() - started)
    with responses.RequestsMock():  # any HTTP call would fail loudly
        started = time.perf_counter()
        for inv in invoices:
            signed(
                client,
                {
                    "event": "Invoice",
                    "data": {"id": str(inv.provider_id), "status": "PAYMENT_AWAITING"},
                },
            )
        rate = count / (time.perf_counter() - started)
    print("Throughput (Django test client, SQLite in memory, one process)")
    print(f"  baseline: trivial 405 answer          {baseline:9.0f} req/s")
    print(f"  authentic status callbacks applied    {rate:9.0f} req/s")
    print(f"  ratio callback / baseline             {rate / baseline:9.2f}")


if __name__ == "__main__":
    main()
