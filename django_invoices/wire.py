"""KUNA Pay's invoice and transaction objects, read into typed values at the client's edge.

The client turns every invoice and transaction it receives into these objects, so the
rest of the app reads attributes, never the provider's camelCase keys: a new field or a
renamed one is one change here. Field names and shapes are our reading of the provider
(``docs/explanation/provider-api.rst``, "Invoices" and "Transactions").

Types are checked here; whether a value fits what the models store (a code's length,
an amount's digits) is for ``services.fields``. A field the answer does not carry is
``MISSING`` where "absent" and "null" mean different things to the mirror (absent:
keep what is stored; null: clear it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Final

from django.utils import timezone as dj_timezone
from django.utils.dateparse import parse_datetime

from .amounts import parse_amount
from .exceptions import InvalidResponse

logger = logging.getLogger("django_invoices")


class _Missing:
    """A field the provider's answer did not carry."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


def text(data: dict[str, Any], key: str, name: str | None = None) -> str:
    """A text field: "" when absent or null; ``InvalidResponse`` when it is not text."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidResponse(f"KUNA Pay sent {name or key} as {type(value).__name__}, not text")
    return value


def identifier(data: dict[str, Any], key: str = "id") -> str:
    """An id as text: the provider's UUIDs are strings; a number is taken as its digits;
    anything else (an object, a list) is no id at all ("")."""
    value = data.get(key)
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def timestamp(value: Any) -> datetime | _Missing | None:
    """An aware UTC datetime from the provider's ISO 8601 text; None for null or "";
    ``MISSING`` for anything unusable (logged), so what is stored stays."""
    if value is None or value == "":
        return None
    parsed = parse_timestamp(value)
    return MISSING if parsed is None else parsed


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime, or None when ``value`` is no usable ISO 8601 text."""
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


@dataclass(frozen=True)
class Transaction:
    """One transaction: a deposit into an invoice (``GET /v1/invoice/{id}``'s
    ``transactions``, or ``GET /v1/transaction/{id}``)."""

    id: str
    status: str
    type: str
    asset: str
    payment_code: str
    amount: Decimal | None
    fee: Decimal | None
    processed_amount: Decimal | None
    address: str
    tx_id: str
    created_at: datetime | None
    updated_at: datetime | None
    # The invoice it belongs to, when the answer says (the transaction endpoint does).
    invoice_id: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @staticmethod
    def updated_at_of(raw: Any) -> datetime | None:
        """When a transaction stored as it arrived (``raw``) was last updated, if it says."""
        return parse_timestamp(raw.get("updatedAt")) if isinstance(raw, dict) else None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Transaction:
        if not isinstance(data, dict):
            raise InvalidResponse("KUNA Pay sent a transaction that is not an object")
        return cls(
            id=text(data, "id", "deposit id").strip(),
            status=text(data, "status", "deposit status"),
            type=text(data, "type", "transaction type"),
            asset=text(data, "asset", "deposit asset"),
            payment_code=text(data, "paymentCode"),
            amount=parse_amount(data.get("amount")),
            fee=parse_amount(data.get("fee")),
            processed_amount=parse_amount(data.get("processedAmount")),
            address=text(data, "address", "deposit address"),
            tx_id=text(data, "txId"),
            created_at=parse_timestamp(data.get("createdAt")),
            updated_at=parse_timestamp(data.get("updatedAt")),
            invoice_id=identifier(data, "invoiceId"),
            raw=data,
        )


@dataclass(frozen=True)
class Invoice:
    """An invoice as the provider answers for it (create, detail, or list item)."""

    id: str
    status: str
    external_order_id: str
    invoice_amount: Decimal | _Missing | None
    invoice_asset: str
    payment_amount: Decimal | _Missing | None
    payment_asset: str
    address: str
    payment_link: str
    expires_at: datetime | _Missing | None
    completed_at: datetime | _Missing | None
    created_at: datetime | _Missing | None
    # None: the answer lists no transactions (a create, a list item), not "none at all".
    transactions: tuple[Transaction, ...] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Invoice:
        if not isinstance(data, dict):
            raise InvalidResponse("KUNA Pay sent an invoice that is not an object")
        listed = data.get("transactions")
        transactions = (
            tuple(Transaction.from_wire(item) for item in listed if isinstance(item, dict))
            if isinstance(listed, list)
            else None
        )
        link = data.get("paymentLink")
        return cls(
            id=identifier(data),
            status=text(data, "status"),
            external_order_id=identifier(data, "externalOrderId"),
            invoice_amount=(
                parse_amount(data["invoiceAmount"])
                if data.get("invoiceAmount") not in (None, "")
                else MISSING
            ),
            invoice_asset=text(data, "invoiceAssetCode"),
            payment_amount=(
                parse_amount(data["paymentAmount"]) if "paymentAmount" in data else MISSING
            ),
            payment_asset=text(data, "paymentAssetCode"),
            address=text(data, "addressId"),
            payment_link=link if isinstance(link, str) else "",
            expires_at=timestamp(data["expireAt"]) if "expireAt" in data else MISSING,
            completed_at=timestamp(data["completedAt"]) if "completedAt" in data else MISSING,
            created_at=timestamp(data["createdAt"]) if "createdAt" in data else MISSING,
            transactions=transactions,
            raw=data,
        )
