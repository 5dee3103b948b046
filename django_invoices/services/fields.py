"""Reading the provider's invoice and deposit fields into what the models store."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, TypeGuard

from django.db import models
from django.utils import timezone as dj_timezone
from django.utils.dateparse import parse_datetime

from .. import conf
from ..client import parse_amount
from ..exceptions import (
    InvalidResponse,
)
from ..models import Invoice

logger = logging.getLogger("django_invoices")


def mirror_invoice(invoice: Invoice, data: dict[str, Any]) -> None:
    """Copy the provider's invoice fields onto ours (unknown fields stay in raw_payload).

    Everything is checked before anything is assigned: a field that cannot be stored
    raises ``InvalidResponse`` and leaves the invoice as it was.
    """
    values: dict[str, Any] = {}
    if data.get("invoiceAmount") not in (None, ""):
        values["invoice_amount"] = provider_amount(data["invoiceAmount"]) or invoice.invoice_amount
    if "paymentAmount" in data:
        values["payment_amount"] = provider_amount(data["paymentAmount"])
    for field, key in (
        ("invoice_asset", "invoiceAssetCode"),
        ("payment_asset", "paymentAssetCode"),
        ("address", "addressId"),
    ):
        if data.get(key):
            values[field] = provider_text(Invoice, field, data[key], key)
    for field, key in (
        ("expires_at", "expireAt"),
        ("completed_at", "completedAt"),
        ("provider_created_at", "createdAt"),
    ):
        if key in data:
            values[field] = _timestamp(data[key], getattr(invoice, field))
    values["payment_url"] = _payment_link(data, invoice) or invoice.payment_url
    for field, value in values.items():
        setattr(invoice, field, value)
    invoice.raw_payload = data


def _payment_link(data: dict[str, Any], invoice: Invoice) -> str:
    link = data.get("paymentLink")
    if isinstance(link, str) and link.startswith(("https://", "http://")):
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


def parse_provider_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from the provider's ISO 8601 text; None when unusable."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is not None:
        if dj_timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=timezone.utc)
        try:
            # In UTC, as databases store it: 0001-01-01T00:00+05:00 is before year 1.
            return parsed.astimezone(timezone.utc)
        except OverflowError:
            pass
    logger.warning("Ignored a malformed KUNA Pay timestamp %r", value[:100])
    return None


def _timestamp(value: Any, current: datetime | None) -> datetime | None:
    """A timestamp field's new value: null clears it, garbage keeps what we had."""
    if value is None or value == "":
        return None
    parsed = parse_provider_datetime(value)
    return current if parsed is None else parsed


def is_whole_number(value: Any) -> TypeGuard[int]:
    """An ``int`` that is not a ``bool`` (JSON's ``true`` is no position or precision)."""
    return isinstance(value, int) and not isinstance(value, bool)


def max_length(model: type[models.Model], name: str) -> int:
    field = model._meta.get_field(name)
    assert isinstance(field, models.CharField) and field.max_length is not None
    return field.max_length


def provider_text(model: type[models.Model], field: str, value: Any, name: str) -> str:
    """A provider string (status, asset, id, address) for a ``CharField``, whole or not at all.

    Cut short, a code or an address would name something else, so one that is not text
    or does not fit is an ``InvalidResponse``. None is the empty string.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidResponse(f"KUNA Pay sent {name} as {type(value).__name__}, not text")
    if len(value) > max_length(model, field):
        raise InvalidResponse(
            f"KUNA Pay sent a {name} of {len(value)} characters "
            f"(at most {max_length(model, field)} are stored)"
        )
    return value


def provider_amount(value: Any) -> Decimal | None:
    """A provider amount the models store exactly; ``InvalidResponse`` otherwise.

    Refused: anything ``parse_amount`` refuses, negative amounts, and amounts wider than
    ``models.amount_field`` (36 digits, 18 after the point): too large to store, or with
    digits that would be rounded away.
    """
    field = Invoice._meta.get_field("invoice_amount")
    assert isinstance(field, models.DecimalField)
    amount = parse_amount(value)
    if amount is None:
        return None
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # parse_amount returns finite amounts only
    if not any(digits):
        return Decimal(0)  # also 0E+999999, which no database would take as it is
    if amount < 0:
        raise InvalidResponse(f"KUNA Pay sent a negative amount {value!r}")
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    places = -(exponent + trailing_zeros)
    whole_digits = amount.adjusted() + 1
    if whole_digits > field.max_digits - field.decimal_places or places > field.decimal_places:
        raise InvalidResponse(f"KUNA Pay sent an amount that cannot be stored: {str(value)[:60]}")
    return amount
