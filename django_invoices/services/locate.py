"""Locate: which of our invoices a callback is about, decided once, from our own records.

Every later step (which events one read answers, which are settled, the admin's lists)
follows the answer recorded on the event (``CallbackEvent.invoice``), never a body field
this module did not use. What a body may name, in the order tried:

- an invoice event (``callbacks.INVOICE_EVENTS``) names its invoice by ``data.id`` and
  by nothing else;
- any other event names it by ``data.invoiceId``; one of a name we do not know may also
  carry the invoice's own id in ``data.id``;
- a deposit we recorded under ``data.id`` belongs to its invoice;
- failing an invoice id, ``data.externalOrderId`` names the order, whose newest invoice
  it is about.

Once a body names an invoice id, the event is about that invoice or about none we know:
a later rule never overrides an earlier one. Only invoices of the merchant account whose
key signed the callback count: one account's key never speaks for another's invoices.
An event this finds nothing for may still be placed by the provider's transaction API
(``resolve_through_api``); that is a read, done where reads are done.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from .. import callbacks
from ..models import CallbackEvent, Deposit, Invoice
from . import statements


@dataclass(frozen=True)
class Located:
    """The invoice an event is about (its key fields only), and whether the same news
    (the event's dedupe key) was applied to it already."""

    invoice: Invoice
    applied_already: bool = False


def locate(
    parsed: callbacks.ParsedCallback, account: str, *, dedupe_key: str = ""
) -> Located | None:
    """The invoice of ``account`` the callback is about, by the rules above; None when
    our records know none. With ``dedupe_key``, the same query says whether that news
    was applied to it already."""
    named = named_invoice_ids(parsed)
    if named:
        found = {
            invoice.provider_id: Located(invoice, applied and bool(dedupe_key))
            for invoice, applied in statements.invoices_named(account, named, dedupe_key)
        }
        for value in named:
            if value in found:
                return found[value]
        if parsed.kind != "unknown" or parsed.referenced_invoice_id:
            return None  # it names an invoice we do not know: not some other one
    other = _by_recorded_deposit(parsed, account) or _by_order(parsed, account)
    if other is None:
        return None
    applied = bool(dedupe_key) and applied_news(other.pk, dedupe_key).exists()
    return Located(other, applied)


def named_invoice_ids(parsed: callbacks.ParsedCallback) -> list[uuid.UUID]:
    """The invoice ids a body names, in the order ``locate`` tries them."""
    if parsed.kind == "invoice":
        candidates = [parsed.object_id]
    elif parsed.referenced_invoice_id:
        candidates = [parsed.referenced_invoice_id]
    elif parsed.kind == "unknown":
        candidates = [parsed.object_id]
    else:
        candidates = []
    return [value for value in map(callbacks.uuid_or_none, candidates) if value is not None]


def _by_recorded_deposit(parsed: callbacks.ParsedCallback, account: str) -> Invoice | None:
    if parsed.kind == "invoice" or not parsed.object_id:
        return None
    deposit = (
        Deposit.objects.filter(provider_id=parsed.object_id, invoice__account=account)
        .select_related("invoice")
        .only("invoice__id", "invoice__provider_id", "invoice__account")
        .first()
    )
    return deposit.invoice if deposit is not None else None


def _by_order(parsed: callbacks.ParsedCallback, account: str) -> Invoice | None:
    if not parsed.external_order_id:
        return None
    return (
        Invoice.objects.filter(account=account, order__external_order_id=parsed.external_order_id)
        .only("pk", "provider_id", "account")
        .order_by("-created_at", "-pk")
        .first()
    )


def applied_news(invoice: Any, dedupe_key: str) -> QuerySet[CallbackEvent]:
    """The events about ``invoice`` whose news (``dedupe_key``) was applied already."""
    return CallbackEvent.objects.filter(
        invoice=invoice, dedupe_key=dedupe_key, state=CallbackEvent.State.APPLIED
    )
