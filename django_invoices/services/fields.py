"""Reading the provider's invoice and deposit fields into what the models store."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any, TypeGuard

from django.db import models

from .. import conf, wire
from ..exceptions import (
    InvalidResponse,
)
from ..models import Invoice

logger = logging.getLogger("django_invoices")


def mirror_invoice(invoice: Invoice, data: wire.Invoice) -> None:
    """Copy the provider's invoice fields onto ours (unknown fields stay in raw_payload).

    Everything is checked before anything is assigned: a field that cannot be stored
    raises ``InvalidResponse`` and leaves the invoice as it was. A field the answer did
    not carry keeps what is stored; a timestamp sent as null clears it.
    """
    values: dict[str, Any] = {}
    if not isinstance(data.invoice_amount, wire._Missing):
        values["invoice_amount"] = stored_amount(data.invoice_amount) or invoice.invoice_amount
    if not isinstance(data.payment_amount, wire._Missing):
        values["payment_amount"] = stored_amount(data.payment_amount)
    for name, value, label in (
        ("invoice_asset", data.invoice_asset, "invoiceAssetCode"),
        ("payment_asset", data.payment_asset, "paymentAssetCode"),
        ("address", data.address, "addressId"),
    ):
        if value:
            values[name] = stored_text(Invoice, name, value, label)
    for name, stamp in (
        ("expires_at", data.expires_at),
        ("completed_at", data.completed_at),
        ("provider_created_at", data.created_at),
    ):
        if not isinstance(stamp, wire._Missing):
            values[name] = stamp
    values["payment_url"] = _payment_link(data, invoice) or invoice.payment_url
    for name, value in values.items():
        setattr(invoice, name, value)
    invoice.raw_payload = data.raw


def _payment_link(data: wire.Invoice, invoice: Invoice) -> str:
    link = data.payment_link
    if link.startswith(("https://", "http://")):
        if len(link) <= max_length(Invoice, "payment_url"):
            return link
        # Cut short it would lead nowhere; the page we know (or the template) stays.
        logger.warning("Ignored a KUNA Pay payment link of %d characters", len(link))
    template = str(conf.get("PAYMENT_URL_TEMPLATE") or "")
    if template and not invoice.payment_url:
        return template.replace("{id}", str(invoice.provider_id))
    return ""


def parse_provider_uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidResponse(f"KUNA Pay answered with an invoice id {value!r}") from exc


def is_whole_number(value: Any) -> TypeGuard[int]:
    """An ``int`` that is not a ``bool`` (JSON's ``true`` is no position or precision)."""
    return isinstance(value, int) and not isinstance(value, bool)


def max_length(model: type[models.Model], name: str) -> int:
    field = model._meta.get_field(name)
    assert isinstance(field, models.CharField) and field.max_length is not None
    return field.max_length


def stored_text(model: type[models.Model], field: str, value: str, name: str) -> str:
    """Provider text (a status, an asset, an id, an address) for a ``CharField``, whole
    or not at all: cut short, a code or an address would name something else, so text
    that does not fit is an ``InvalidResponse``."""
    if len(value) > max_length(model, field):
        raise InvalidResponse(
            f"KUNA Pay sent a {name} of {len(value)} characters "
            f"(at most {max_length(model, field)} are stored)"
        )
    return value


def stored_amount(amount: Decimal | None) -> Decimal | None:
    """An amount the models store exactly; ``InvalidResponse`` otherwise.

    Refused: negative amounts, and amounts wider than ``models.amount_field`` (36
    digits, 18 after the point): too large to store, or with digits that would be
    rounded away.
    """
    field = Invoice._meta.get_field("invoice_amount")
    assert isinstance(field, models.DecimalField)
    if amount is None:
        return None
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # parse_amount returns finite amounts only
    if not any(digits):
        return Decimal(0)  # also 0E+999999, which no database would take as it is
    if amount < 0:
        raise InvalidResponse(f"KUNA Pay sent a negative amount {str(amount)!r}")
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    places = -(exponent + trailing_zeros)
    whole_digits = amount.adjusted() + 1
    if whole_digits > field.max_digits - field.decimal_places or places > field.decimal_places:
        raise InvalidResponse(f"KUNA Pay sent an amount that cannot be stored: {str(amount)[:60]}")
    return amount
