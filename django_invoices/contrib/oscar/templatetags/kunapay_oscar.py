"""``{% load kunapay_oscar %}{% kunapay_invoices order %}``: an Oscar order's KUNA Pay
invoices and deposits, with links to this app's admin (the dashboard's order page has
them through this app's ``oscar/dashboard/orders/order_detail.html``; a shop with its
own version of that template adds the tag to it)."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from django_invoices import services
from django_invoices.returns import display_amount

from ..outcomes import cents

register = template.Library()


def _admin_url(name: str, pk: int) -> str:
    try:
        return reverse(f"admin:django_invoices_{name}_change", args=[pk])
    except NoReverseMatch:  # the admin is not mounted
        return ""


@register.inclusion_tag("django_invoices_oscar/dashboard_invoices.html")
def kunapay_invoices(oscar_order: Any) -> dict[str, Any]:
    order = services.linked_order(oscar_order)
    if order is None:
        return {"invoices": []}
    rows = []
    for invoice in order.invoices.order_by("-created_at", "-pk").prefetch_related("deposits"):
        rows.append(
            {
                "invoice": invoice,
                "admin_url": _admin_url("invoice", invoice.pk),
                "amount": f"{display_amount(invoice.invoice_amount)} {invoice.invoice_asset}",
                "payment_amount": f"{display_amount(invoice.payment_amount)} "
                f"{invoice.payment_asset}"
                if invoice.payment_amount is not None
                else "",
                "received": f"{display_amount(cents(services.invoice_received(invoice)))} "
                f"{invoice.invoice_asset}"
                if invoice.paid_amount
                else "",
                "deposits": [
                    {
                        "amount_text": f"{deposit.amount.normalize():f} {deposit.asset}"
                        if deposit.amount is not None
                        else deposit.asset,
                        "status": deposit.status,
                        "tx_id": deposit.tx_id,
                    }
                    for deposit in invoice.deposits.all()
                ],
            }
        )
    return {"invoices": rows, "order_admin_url": _admin_url("order", order.pk)}
