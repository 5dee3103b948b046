"""Reading a callback from KUNA Pay: what it is about, how to recognise it again.

Pure functions over the raw body and headers; storing and applying is in ``services``.
Payload shapes follow ``docs/explanation/provider-api.rst`` ("Callbacks"):
``{"event": name, "data": {...}}``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import safejson

SIGNATURE_HEADER = "kun-signature"

#: The longest ``externalOrderId`` read from a body: what ``Order.external_order_id``
#: holds, so a callback names every order the shop can have.
EXTERNAL_ORDER_ID_LENGTH = 128

EVENT_INVOICE = "Invoice"
EVENT_DEPOSIT = "InvoiceDeposit"
# Event names that carry an invoice object. Only "InvoiceDeposit" is confirmed; the
# invoice event's name is inferred. Names decide nothing that is applied (every event
# naming a known invoice sets off a read of it); they only spare a transaction lookup
# for an invoice event and mark a deposit whose id the read should list.
INVOICE_EVENTS = frozenset({EVENT_INVOICE, "InvoiceStatus", "InvoiceStatusChanged"})
DEPOSIT_EVENTS = frozenset({EVENT_DEPOSIT})

# Headers worth keeping with an event; the signature is recorded as present/absent only.
KEPT_HEADERS = ("Content-Type", "Content-Length", "User-Agent", "X-Forwarded-For", "X-Real-Ip")


class MalformedCallback(ValueError):
    """The body is not a JSON object."""


@dataclass(frozen=True)
class ParsedCallback:
    """What a callback's body says, as short text (a field that is an object, a list or
    absent reads as ""). Built from ``event`` and ``data``; the rest is derived."""

    event: str
    data: dict[str, Any]
    #: "invoice", "deposit" or "unknown", by the event's name.
    kind: str = field(init=False)
    #: ``data.id``: the invoice's own id in an invoice event, else the transaction's.
    object_id: str = field(init=False)
    status: str = field(init=False)
    #: The invoice id the body names besides its own ``id`` (``invoiceId``).
    referenced_invoice_id: str = field(init=False)
    #: As long as the longest the models store (``Order.external_order_id``).
    external_order_id: str = field(init=False)
    #: The same news twice has the same key, whatever the bytes or the delivery.
    #: ``updatedAt`` is part of the news: a deposit updated again with the same status
    #: (its fee or credited amount filled in, say) is not a duplicate.
    dedupe_key: str = field(init=False)

    def __post_init__(self) -> None:
        data = self.data
        derived = {
            "kind": _kind(self.event),
            "object_id": _text(data.get("id")),
            "status": _text(data.get("status")),
            "referenced_invoice_id": _text(data.get("invoiceId") or data.get("invoice_id")),
            "external_order_id": _text(data.get("externalOrderId"), EXTERNAL_ORDER_ID_LENGTH),
        }
        updated = _text(data.get("updatedAt"))
        material = (self.event, _canonical_id(derived["object_id"]), derived["status"], updated)
        derived["dedupe_key"] = hashlib.sha256("\x1f".join(material).encode("utf-8")).hexdigest()
        for name, value in derived.items():
            object.__setattr__(self, name, value)


def _kind(event: str) -> str:
    if event in INVOICE_EVENTS:
        return "invoice"
    if event in DEPOSIT_EVENTS:
        return "deposit"
    return "unknown"


def uuid_or_none(value: str) -> uuid.UUID | None:
    """A UUID in any spelling (case, braces, ``urn:uuid:``); None for anything else."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _canonical_id(value: str) -> str:
    """A UUID in one spelling; other ids as they are."""
    found = uuid_or_none(value)
    return str(found) if found is not None else value


def parse(body: bytes) -> ParsedCallback:
    if safejson.contains_nul(body):
        raise MalformedCallback("body contains NUL characters")
    try:
        payload = safejson.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedCallback("body is not valid JSON") from exc
    except ValueError as exc:  # valid JSON, but nested too deeply or not storable
        raise MalformedCallback(f"body is not usable JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedCallback("body is not a JSON object")
    data = payload.get("data")
    return ParsedCallback(
        event=_text(payload.get("event")),
        data=data if isinstance(data, dict) else {},
    )


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {name: headers[name][:256] for name in KEPT_HEADERS if name in headers}
    kept[SIGNATURE_HEADER] = "present" if headers.get(SIGNATURE_HEADER) else "absent"
    return kept


def text_of(value: Any, limit: int = 64) -> str:
    """A scalar of a hostile body as text, cut to ``limit``; "" for objects and lists."""
    return _text(value, limit)


def _text(value: Any, limit: int = 64) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)[:limit]
