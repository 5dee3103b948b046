"""What a returning customer asks: the return view and the REST status endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from .common import Case, Section, kunapay, make_invoice, measure, unique

RETURN = reverse("django_invoices:return")
STATUS = reverse("django_invoices:api-invoice-status")


def ask(client: Client, url: str) -> Callable[[Any], str]:
    def call(invoice: Any) -> str:
        params = {"invoiceId": str(invoice.provider_id), "orderId": invoice.order.external_order_id}
        # One customer per request: DRF's throttle (keyed by address) is consulted as
        # for real traffic, but never refuses.
        number = unique()
        address = f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
        response = client.get(url, params, REMOTE_ADDR=address)
        return f"HTTP {response.status_code}"

    return call


def cases(call: Callable[[Any], str]) -> list[Case]:
    def same(status: str, **fields: Any) -> Callable[[int], list[Any]]:
        return lambda n: [make_invoice(status, **fields)] * n

    return [
        Case("paid invoice (no API call)", same("PAID"), call),
        Case(
            "pending, synced within REFRESH_MIN_INTERVAL",
            same("PAYMENT_AWAITING", synced_at=timezone.now() + timezone.timedelta(days=1)),
            call,
        ),
        Case(
            "pending, re-read from GET /v1/invoice/{id} (stubbed)",
            lambda n: [make_invoice("PAYMENT_AWAITING") for _ in range(n)],
            call,
        ),
    ]


def run(count: int) -> list[Section]:
    client = Client()
    views = [
        ("return view (django_invoices:return)", RETURN),
        ("status API (django_invoices:api-invoice-status)", STATUS),
    ]
    sections = []
    # The provider still says "awaiting payment": the re-read changes nothing but
    # synced_at, which is what a customer reloading the page mostly causes.
    with kunapay(detail_status="PAYMENT_AWAITING"):
        for title, url in views:
            section = Section(title)
            section.rows += [measure(case, count) for case in cases(ask(client, url))]
            sections.append(section)
    return sections
