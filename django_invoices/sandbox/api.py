"""The provider's REST API as the sandbox serves it.

As ``docs/explanation/provider-api.rst`` describes it ("Requests", "Answers and errors",
"Invoices" and "Transactions"). Authentication, the ``{"data": ...}`` envelope and the
``{"errors": [...]}`` error shape are handled by the ``endpoint`` decorator; the views
only build data.
"""

from __future__ import annotations

import functools
import hmac
import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from .. import safejson
from ..signing import sign_request
from . import conf, wire
from .models import SandboxInvoice, SandboxTransaction

AMOUNT_RE = re.compile(r"^[0-9]{1,18}(\.[0-9]{1,18})?$")
# Invoice amounts stay below this, so that converted (x60000 from BTC to USDT) and
# overpaid amounts still fit the 36-digit columns, and SQLite's floats read them back.
MAX_AMOUNT = Decimal(10) ** 12
MAX_TAKE = 100
DEFAULT_TAKE = 20


def stall(seconds: float) -> None:
    """The "api_timeout" failure mode: answer only after the client gave up."""
    time.sleep(seconds)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def invalid(message: str) -> ApiError:
    return ApiError(400, "BAD_REQUEST", message)


def error_response(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"errors": [{"code": code, "message": message}]}, status=status)


def data_response(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse({"data": data}, status=status, json_dumps_params={"ensure_ascii": False})


# -- authentication --------------------------------------------------------------------


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def authenticate(request: HttpRequest) -> conf.Credentials | None:
    """The merchant a request comes from, by ``api-key`` or by a valid signature."""
    accepted = conf.credentials()
    api_key = request.headers.get("api-key")
    if api_key is not None:
        return next((c for c in accepted if c.api_key and _same(c.api_key, api_key)), None)
    public_key = request.headers.get("public-key")
    nonce = request.headers.get("nonce") or ""
    signature = (request.headers.get("signature") or "").strip().lower()
    if public_key is None or not (nonce.isascii() and nonce.isdigit()) or not signature:
        return None
    body = request.body.decode("utf-8", errors="replace")
    for creds in accepted:
        if creds.public_key and creds.private_key and _same(creds.public_key, public_key):
            expected = sign_request(creds.private_key, request.get_full_path(), nonce, body)
            if _same(expected, signature):
                return creds
    return None


def endpoint(*methods: str) -> Callable[[Callable[..., Any]], Callable[..., HttpResponse]]:
    """Method check, authentication, global failure modes, envelope and error shape."""

    def decorate(view: Callable[..., Any]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = error_response(
                    405, "METHOD_NOT_ALLOWED", _("Use %(methods)s.") % {"methods": methods}
                )
                response["Allow"] = ", ".join(methods)
                return response
            creds = authenticate(request)
            if creds is None:
                return error_response(
                    401, "UNAUTHORIZED", _("The API key or the request signature is not valid.")
                )
            modes = conf.global_failures()
            if conf.API_ERROR in modes:
                return _unavailable()
            try:
                response = view(request, creds, *args, **kwargs)
            except ApiError as exc:
                response = error_response(exc.status, exc.code, exc.message)
            if conf.API_TIMEOUT in modes:
                stall(conf.api_timeout_delay())
            return response

        return wrapped

    return decorate


def _unavailable() -> JsonResponse:
    return error_response(
        503, "SERVICE_UNAVAILABLE", _("The sandbox plays an outage (failure mode api_error).")
    )


def _invoice_failures(invoices: list[SandboxInvoice]) -> JsonResponse | None:
    """Per-invoice failure modes of the API: an error now, or a stall before answering."""
    modes: set[str] = set()
    for invoice in invoices:
        modes |= set(invoice.failures or [])
    if conf.API_ERROR in modes:
        return _unavailable()
    if conf.API_TIMEOUT in modes:
        stall(conf.api_timeout_delay())
    return None


# -- views -----------------------------------------------------------------------------


@endpoint("GET")
def assets(request: HttpRequest, creds: conf.Credentials) -> HttpResponse:
    take, skip = _paging(request, default_take=MAX_TAKE)
    return data_response(wire.asset_list()[skip : skip + take])


@endpoint("GET")
def questionnaire(request: HttpRequest, creds: conf.Credentials) -> HttpResponse:
    return data_response([dict(field) for field in wire.QUESTIONNAIRE])


@endpoint("GET", "POST")
def invoices(request: HttpRequest, creds: conf.Credentials) -> HttpResponse:
    if request.method == "POST":
        return _create(request, creds)
    take, skip = _paging(request, default_take=DEFAULT_TAKE)
    found = SandboxInvoice.objects.filter(merchant=creds.merchant)
    for param, field in (
        ("externalOrderId", "external_order_id"),
        ("invoiceAssetCode", "asset"),
        ("paymentAssetCode", "payment_asset"),
    ):
        value = request.GET.get(param)
        if value is not None:
            found = found.filter(**{field: _query_text(value, param)})
    page = list(found.order_by("-created_at", "id")[skip : skip + take])
    return _invoice_failures(page) or data_response([wire.invoice_summary(i) for i in page])


@endpoint("GET")
def invoice(request: HttpRequest, creds: conf.Credentials, invoice_id: str) -> HttpResponse:
    try:
        pk = uuid.UUID(invoice_id)
    except ValueError:
        pk = None
    found = SandboxInvoice.objects.filter(pk=pk, merchant=creds.merchant).first() if pk else None
    if found is None:
        raise ApiError(404, "NOT_FOUND", _("Invoice %(id)s was not found.") % {"id": invoice_id})
    return _invoice_failures([found]) or data_response(wire.invoice_detail(found))


@endpoint("GET")
def transaction(request: HttpRequest, creds: conf.Credentials, transaction_id: str) -> HttpResponse:
    try:
        pk = uuid.UUID(transaction_id)
    except ValueError:
        pk = None
    found = (
        SandboxTransaction.objects.select_related("invoice")
        .filter(pk=pk, invoice__merchant=creds.merchant)
        .first()
        if pk
        else None
    )
    if found is None:
        raise ApiError(
            404, "NOT_FOUND", _("Transaction %(id)s was not found.") % {"id": transaction_id[:60]}
        )
    return _invoice_failures([found.invoice]) or data_response(wire.transaction_detail(found))


def _create(request: HttpRequest, creds: conf.Credentials) -> HttpResponse:
    try:
        payload = safejson.loads(request.body)
    except ValueError as exc:  # not UTF-8, not JSON, nested too deeply, lone surrogates
        raise invalid(_("The body is not valid JSON.")) from exc
    # In the "api_timeout" mode the invoice exists before the late answer, as when a
    # real provider is slow: the shop must look it up rather than create another.
    created = SandboxInvoice.objects.create(
        merchant=creds.merchant,
        expire_at=timezone.now() + timedelta(seconds=int(conf.get("INVOICE_LIFETIME"))),
        **invoice_fields(payload),
    )
    root = request.path[: request.path.rfind("/v1/invoice")]
    link = request.build_absolute_uri(f"{root}/pay/{created.pk}/")
    return data_response({"id": str(created.pk), "paymentLink": link})


# -- input -----------------------------------------------------------------------------


def _paging(request: HttpRequest, *, default_take: int) -> tuple[int, int]:
    values = []
    for name, default in (("take", default_take), ("skip", 0)):
        raw = request.GET.get(name)
        if raw is None or raw == "":
            values.append(default)
            continue
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
            raise invalid(_("%(name)s must be a whole number.") % {"name": name})
        values.append(int(raw))
    take, skip = values
    if not 1 <= take <= MAX_TAKE:
        raise invalid(_("take must be between 1 and %(max)s.") % {"max": MAX_TAKE})
    return take, skip


def _query_text(value: str, name: str) -> str:
    if "\x00" in value:  # PostgreSQL refuses such a query outright
        raise invalid(_("%(name)s must not contain NUL characters.") % {"name": name})
    return value


def _text(payload: dict[str, Any], name: str, *, max_length: int = 255) -> str:
    value = payload.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(_("%(name)s must be a string.") % {"name": name})
    if "\x00" in value:
        raise invalid(_("%(name)s must not contain NUL characters.") % {"name": name})
    if len(value) > max_length:
        raise invalid(
            _("%(name)s is longer than %(max)s characters.") % {"name": name, "max": max_length}
        )
    return value


def _url(payload: dict[str, Any], name: str) -> str:
    value = _text(payload, name, max_length=2000)
    if not value:
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "http://[::1/": an IPv6 host without its bracket
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(c.isspace() for c in value)
    ):
        raise invalid(_("%(name)s must be an absolute http(s) URL.") % {"name": name})
    return value


def _object(payload: dict[str, Any], name: str) -> dict[str, Any]:
    value = payload.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(_("%(name)s must be an object.") % {"name": name})
    return value


def parse_amount(value: Any, asset: str) -> Decimal:
    """An invoice amount: a decimal string, above zero, within the asset's precision."""
    if not isinstance(value, str) or not AMOUNT_RE.match(value):
        raise invalid(_('amount must be a decimal string such as "100.50".'))
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern rules it out
        raise invalid(_('amount must be a decimal string such as "100.50".')) from exc
    if amount <= 0:
        raise invalid(_("amount must be more than zero."))
    if amount >= MAX_AMOUNT:
        raise invalid(_("amount must be less than %(max)s.") % {"max": MAX_AMOUNT})
    precision = wire.ASSETS_BY_CODE[asset]["precision"]
    if -int(amount.normalize().as_tuple().exponent) > precision:
        raise invalid(
            _("%(asset)s amounts have at most %(precision)s decimal places.")
            % {"asset": asset, "precision": precision}
        )
    return amount


def invoice_fields(payload: Any) -> dict[str, Any]:
    """The model fields of ``POST /v1/invoice``'s body; ``ApiError`` (400) if it is wrong."""
    if not isinstance(payload, dict):
        raise invalid(_("The body must be a JSON object."))
    asset = payload.get("asset")
    if not isinstance(asset, str) or not asset:
        raise invalid(_("asset is required."))
    if asset not in wire.ASSETS_BY_CODE:
        raise invalid(_("Unknown asset %(asset)s; see /v1/invoice/assets.") % {"asset": asset[:20]})
    if payload.get("amount") is None:
        raise invalid(_("amount is required."))
    amount = parse_amount(payload.get("amount"), asset)
    transactional = payload.get("shouldSendTransactionalCallback", False)
    if not isinstance(transactional, bool):
        raise invalid(_("shouldSendTransactionalCallback must be true or false."))
    customization = _object(payload, "customization")
    schema = _object(payload, "questionnaire").get("schemaFields") or []
    if not isinstance(schema, list):
        raise invalid(_("questionnaire.schemaFields must be a list."))
    names: list[str] = []
    for field in schema:
        name = field.get("name") if isinstance(field, dict) else None
        if not isinstance(name, str) or name not in wire.QUESTIONNAIRE_NAMES:
            raise invalid(
                _("Unknown questionnaire field %(name)s; see /v1/invoice/questionnaire.")
                % {"name": str(name)[:40]}
            )
        if name not in names:
            names.append(name)
    return {
        "amount": amount,
        "asset": asset,
        "external_order_id": _text(payload, "externalOrderId"),
        "product_description": _text(payload, "productDescription", max_length=2000),
        "product_category": _text(payload, "productCategory"),
        "callback_url": _url(payload, "callbackUrl"),
        "transactional_callbacks": transactional,
        "redirect_url": _url(customization, "redirectUrl"),
        "redirect_button_title": _text(customization, "redirectButtonTitle"),
        "questionnaire": names,
    }
