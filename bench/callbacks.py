"""The callback view (``django_invoices:callback``): one signed POST per request."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from django.urls import reverse

from django_invoices.signing import sign_callback

from .common import KEY, Case, Section, kunapay, make_invoice, measure, unique

URL = reverse("django_invoices:callback", kwargs={"account": "default"})


def post(client: Client, payload: dict[str, Any], key: str | None = KEY) -> str:
    body = json.dumps(payload).encode()
    headers = {"kun-signature": sign_callback(key, body)} if key else {}
    response = client.generic(
        "POST", URL, data=body, content_type="application/json", headers=headers
    )
    state = response.json().get("state") or response.json().get("error")
    return f"HTTP {response.status_code} {state}"


def status_event(invoice: Any, status: str) -> dict[str, Any]:
    return {"event": "Invoice", "data": {"id": str(invoice.provider_id), "status": status}}


def deposit_event(invoice: Any) -> dict[str, Any]:
    return {
        "event": "InvoiceDeposit",
        "data": {
            "id": f"tx-{unique()}",
            "invoiceId": str(invoice.provider_id),
            "amount": "42.5",
            "processedAmount": "42.5",
            "asset": "USDT",
            "status": "Processed",
        },
    }


def run(count: int) -> Section:
    client = Client()

    def fresh(status: str) -> Any:
        return lambda n: [make_invoice(status) for _ in range(n)]

    def applied_once(n: int) -> list[dict[str, Any]]:
        payload = status_event(make_invoice("CREATED"), "PAYMENT_AWAITING")
        post(client, payload)
        return [payload] * n

    unknown = {"event": "Withdraw", "data": {"id": "w-1", "status": "Done"}}
    cases = [
        Case(
            "status change (created -> awaiting payment)",
            fresh("CREATED"),
            lambda invoice: post(client, status_event(invoice, "PAYMENT_AWAITING")),
        ),
        Case("same news again (duplicate)", applied_once, lambda p: post(client, p)),
        Case(
            "new deposit (transactional callback)",
            fresh("PAYMENT_AWAITING"),
            lambda invoice: post(client, deposit_event(invoice)),
        ),
        Case("unknown event", lambda n: [unknown] * n, lambda p: post(client, p)),
        Case(
            "forged (wrong key)",
            lambda n: [unknown] * n,
            lambda p: post(client, p, key="not-the-key"),
        ),
        Case("forged (no signature)", lambda n: [unknown] * n, lambda p: post(client, p, None)),
    ]
    section = Section("callback view (django_invoices:callback), KUNA Pay not called")
    with kunapay():  # any request to the provider would fail loudly
        section.rows += [measure(case, count) for case in cases]
    paid = Case(
        "PAID, confirmed by GET /v1/invoice/{id} (stubbed)",
        fresh("PAYMENT_AWAITING"),
        lambda invoice: post(client, status_event(invoice, "PAID")),
    )
    with kunapay(detail_status="PAID"):
        section.rows.append(measure(paid, count))
    return section
