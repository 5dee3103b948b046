"""Checkout: ``services.create_invoice`` called directly (no view around it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django_invoices import services
from django_invoices.models import Order

from .common import Case, Section, kunapay, make_invoice, measure, unique


def new_orders(n: int) -> list[Order]:
    return [
        Order.objects.create(
            external_order_id=f"C-{unique()}", amount=Decimal("42.50"), asset="EUR"
        )
        for _ in range(n)
    ]


def create(order: Order) -> str:
    return services.create_invoice(order).status


def run(count: int) -> Section:
    def with_open_invoice(n: int) -> list[Any]:
        return [make_invoice("PAYMENT_AWAITING").order] * n

    section = Section("checkout (services.create_invoice), calls per second")
    with kunapay():
        section.rows.append(
            measure(Case("new order, POST /v1/invoice (stubbed)", new_orders, create), count)
        )
        section.rows.append(
            measure(Case("order with an open invoice (no HTTP)", with_open_invoice, create), count)
        )
    return section
