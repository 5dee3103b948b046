"""What the sandbox says on the wire: catalogues, invoice and deposit objects, dates."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_UP, Decimal
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from ..amounts import format_amount
from . import conf
from .models import SandboxInvoice, SandboxTransaction

# GET /v1/invoice/assets. "rate" is the sandbox's own: US dollars per unit, for
# turning an invoice amount into the amount the buyer pays; it is not sent.
ASSETS: list[dict[str, Any]] = [
    {"code": "USDT", "name": "Tether", "type": "Crypto", "precision": 6, "rate": "1"},
    {"code": "BTC", "name": "Bitcoin", "type": "Crypto", "precision": 8, "rate": "60000"},
    {"code": "ETH", "name": "Ethereum", "type": "Crypto", "precision": 8, "rate": "3000"},
    {"code": "USD", "name": "US Dollar", "type": "Fiat", "precision": 2, "rate": "1"},
    {"code": "EUR", "name": "Euro", "type": "Fiat", "precision": 2, "rate": "1.1"},
    {"code": "UAH", "name": "Ukrainian Hryvnia", "type": "Fiat", "precision": 2, "rate": "0.025"},
]
ASSETS_BY_CODE = {asset["code"]: asset for asset in ASSETS}
PAYMENT_ASSETS = [asset["code"] for asset in ASSETS if asset["type"] == "Crypto"]

# GET /v1/invoice/questionnaire.
QUESTIONNAIRE: list[dict[str, Any]] = [
    {"name": "email", "type": "email", "title": "Email"},
    {"name": "firstName", "type": "text", "title": "First name"},
    {"name": "lastName", "type": "text", "title": "Last name"},
    {"name": "phone", "type": "tel", "title": "Phone"},
    {"name": "country", "type": "text", "title": "Country"},
]
QUESTIONNAIRE_NAMES = [field["name"] for field in QUESTIONNAIRE]


def asset_list() -> list[dict[str, Any]]:
    return [
        {
            "code": asset["code"],
            "name": asset["name"],
            "description": asset["name"],
            "position": position,
            "precision": asset["precision"],
            "type": asset["type"],
            "icons": {"svg": None, "png": None},
        }
        for position, asset in enumerate(ASSETS, start=1)
    ]


def timestamp(value: datetime | None) -> str | None:
    """``2023-07-31T00:00:00.000Z``: UTC with milliseconds, as the provider writes it."""
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def amount(value: Decimal | None) -> str | None:
    return None if value is None else format_amount(value)


def amount_text(value: Decimal | None, asset: str) -> str:
    """An amount for people, in the asset's precision: ``24.90 EUR``, ``0.00108167 BTC``.

    Digits beyond the precision are kept (an amount is never shown rounded); an asset
    the sandbox does not know is shown as the wire writes it.
    """
    if value is None:
        return ""
    text = format_amount(value)
    precision = ASSETS_BY_CODE.get(asset, {}).get("precision")
    whole, _, fraction = text.partition(".")
    if precision and len(fraction) < precision:
        text = f"{whole}.{fraction.ljust(precision, '0')}"
    return f"{text} {asset}".strip()


def convert(value: Decimal, from_asset: str, to_asset: str) -> Decimal:
    """``value`` of ``from_asset`` in ``to_asset``, rounded up to its precision."""
    if from_asset == to_asset:
        return value
    source, target = ASSETS_BY_CODE[from_asset], ASSETS_BY_CODE[to_asset]
    converted = value * Decimal(source["rate"]) / Decimal(target["rate"])
    return converted.quantize(Decimal(1).scaleb(-target["precision"]), rounding=ROUND_UP)


def fee_of(value: Decimal, asset: str) -> Decimal:
    percent = Decimal(str(conf.get("FEE_PERCENT") or "0"))
    precision = ASSETS_BY_CODE.get(asset, {}).get("precision", 8)
    return (value * percent / 100).quantize(Decimal(1).scaleb(-precision), rounding=ROUND_UP)


def invoice_summary(invoice: SandboxInvoice) -> dict[str, Any]:
    """An item of ``GET /v1/invoice``."""
    return {
        "id": str(invoice.id),
        "status": invoice.status,
        "addressId": invoice.address or None,
        "externalOrderId": invoice.external_order_id or None,
        "invoiceAmount": amount(invoice.amount),
        "invoiceAssetCode": invoice.asset,
        "paymentAmount": amount(invoice.payment_amount),
        "paymentAssetCode": invoice.payment_asset or None,
        "expireAt": timestamp(invoice.expire_at),
        "completedAt": timestamp(invoice.completed_at),
        "createdAt": timestamp(invoice.created_at),
    }


def invoice_detail(invoice: SandboxInvoice) -> dict[str, Any]:
    """``GET /v1/invoice/{id}``, and the data of an ``Invoice`` callback."""
    creds = conf.by_merchant(invoice.merchant)
    data = invoice_summary(invoice)
    data.update(
        {
            "creatorId": creds.creator_id if creds else None,
            "productCategory": invoice.product_category or None,
            "productDescription": invoice.product_description or None,
            "isCreatedByApi": True,
            "updatedAt": timestamp(invoice.updated_at),
            "transactions": [transaction(tx) for tx in invoice.transactions.all()],
        }
    )
    return data


def transaction(tx: SandboxTransaction) -> dict[str, Any]:
    """An item of an invoice's ``transactions``."""
    return {
        "id": str(tx.id),
        "type": tx.type,
        "status": tx.status,
        "asset": tx.asset,
        "paymentCode": tx.payment_code,
        "amount": amount(tx.amount),
        "fee": amount(tx.fee),
        "processedAmount": amount(tx.processed_amount),
        "address": tx.address,
        "txId": tx.tx_id or None,
        "creatorComment": "",
        "reason": [] if tx.status != SandboxTransaction.CANCELED else ["AML_CHECK_FAILED"],
        "createdAt": timestamp(tx.created_at),
        "updatedAt": timestamp(tx.updated_at),
    }


def invoice_event(invoice: SandboxInvoice) -> dict[str, Any]:
    return {"event": str(conf.get("INVOICE_EVENT_NAME")), "data": invoice_detail(invoice)}


def deposit_event(tx: SandboxTransaction) -> dict[str, Any]:
    invoice = tx.invoice
    creds = conf.by_merchant(invoice.merchant)
    data: dict[str, Any] = {
        "id": str(tx.id),
        "type": "InvoiceDeposit",
        "companyId": creds.creator_id if creds else None,
        "invoiceId": str(invoice.id),
        "externalOrderId": invoice.external_order_id or None,
        "paymentCode": tx.payment_code,
        "asset": tx.asset,
        "amount": amount(tx.amount),
        "fee": amount(tx.fee),
        "processedAmount": amount(tx.processed_amount),
        "status": tx.status,
        "address": tx.address or None,
        "memo": None,
        "txId": tx.tx_id or None,
        "createdAt": timestamp(tx.created_at),
        "updatedAt": timestamp(tx.updated_at),
    }
    if not conf.get("DEPOSIT_REFERENCES"):
        del data["invoiceId"], data["externalOrderId"]
    return {"event": str(conf.get("DEPOSIT_EVENT_NAME")), "data": data}


def transaction_detail(tx: SandboxTransaction) -> dict[str, Any]:
    """``GET /v1/transaction/{id}``: a transaction with the invoice it paid into."""
    return {**transaction(tx), "invoiceId": str(tx.invoice_id)}


def return_url(invoice: SandboxInvoice) -> str:
    """``redirectUrl`` with ``invoiceId`` (always) and ``orderId`` (when set) added.

    Other query parameters of the shop's URL are kept; old values of those two names are
    replaced rather than repeated.
    """
    if not invoice.redirect_url:
        return ""
    parts = urlsplit(invoice.redirect_url)
    # The shop's own parameters stay byte for byte (decoding and encoding them again
    # would change "?flag" or a value that is not UTF-8).
    kept = [
        piece
        for piece in parts.query.split("&")
        if piece and unquote_plus(piece.partition("=")[0]) not in ("invoiceId", "orderId")
    ]
    added = [("invoiceId", str(invoice.id))]
    if invoice.external_order_id:
        added.append(("orderId", invoice.external_order_id))
    return urlunsplit(parts._replace(query="&".join([*kept, urlencode(added)])))
