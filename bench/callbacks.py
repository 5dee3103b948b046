"""The callback view (``django_invoices:callback``): one signed POST per request.

Every authentic callback reads the invoice it names from KUNA Pay (stubbed), so each
row's result says how many provider reads the request made.
"""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from django.urls import reverse

from django_invoices.signing import sign_callback

from .common import KEY, Case, Section, deposit_data, kunapay, make_invoice, measure, unique

URL = reverse("django_invoices:callback", kwargs={"account": "default"})


class Reads:
    """Counts the stubbed provider's requests made by one callback."""

    mock: Any = None

    @classmethod
    def around(cls, call: Any) -> str:
        before = len(cls.mock.calls)
        note = call()
        reads = len(cls.mock.calls) - before
        return f"{note}, {reads} read{'s' if reads != 1 else ''}"


def post(client: Client, payload: dict[str, Any], key: str | None = KEY) -> str:
    def send() -> str:
        body = json.dumps(payload).encode()
        headers = {"kun-signature": sign_callback(key, body)} if key else {}
        response = client.generic(
            "POST", URL, data=body, content_type="application/json", headers=headers
        )
        state = response.json().get("state") or response.json().get("error")
        return f"HTTP {response.status_code} {state}"

    return Reads.around(send)


def status_event(invoice: Any, status: str) -> dict[str, Any]:
    return {"event": "Invoice", "data": {"id": str(invoice.provider_id), "status": status}}


def deposit_event(invoice: Any) -> dict[str, Any]:
    return {"event": "InvoiceDeposit", "data": deposit_data(str(invoice.provider_id))}


def burst(n: int) -> list[list[int]]:
    """Per invoice, five verified callbacks stored while the provider was down."""
    from django_invoices.models import CallbackEvent

    groups = []
    for _ in range(n):
        invoice = make_invoice("PAYMENT_AWAITING")
        groups.append(
            [
                CallbackEvent.objects.create(
                    body=json.dumps(status_event(invoice, "PAID")),
                    body_sha256="bench",
                    verified=True,
                    invoice=invoice,
                    dedupe_key=f"burst-{unique()}",
                ).pk
                for _ in range(5)
            ]
        )
    return groups


def process(ids: list[int]) -> str:
    from django_invoices import services

    def run() -> str:
        counts = services.reapply_callbacks(ids)
        return ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))

    return Reads.around(run)


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
            "status callback, created (the read says PAID)",
            fresh("CREATED"),
            lambda invoice: post(client, status_event(invoice, "PAYMENT_AWAITING")),
        ),
        Case("same news again (duplicate)", applied_once, lambda p: post(client, p)),
        Case(
            "new deposit (transactional callback)",
            fresh("PAYMENT_AWAITING"),
            lambda invoice: post(client, deposit_event(invoice)),
        ),
        Case(
            "PAID (the read says PAID)",
            fresh("PAYMENT_AWAITING"),
            lambda invoice: post(client, status_event(invoice, "PAID")),
        ),
        Case(
            "unknown event, id asked of /v1/transaction",
            lambda n: [unknown] * n,
            lambda p: post(client, p),
        ),
        Case(
            "forged (wrong key), naming an open invoice",
            fresh("PAYMENT_AWAITING"),
            lambda invoice: post(client, status_event(invoice, "PAID"), key="not-the-key"),
        ),
        Case(
            "forged (wrong key), naming nothing known",
            lambda n: [unknown] * n,
            lambda p: post(client, p, key="not-the-key"),
        ),
        Case("forged (no signature)", lambda n: [unknown] * n, lambda p: post(client, p, None)),
    ]
    section = Section("callback view (django_invoices:callback), GET /v1/invoice/{id} stubbed")
    with kunapay(detail_status="PAID", deposits=True) as mock:
        Reads.mock = mock
        section.rows += [measure(case, count) for case in cases]
        section.rows.append(
            measure(
                Case("burst: 5 pending events of one invoice (worker)", burst, process),
                max(10, count // 5),
            )
        )
    return section
