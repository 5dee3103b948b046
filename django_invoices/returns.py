"""The customer's way back from KUNA Pay: where to send them and what to show them.

Used by ``views.payment_return`` and by ``checkout.start_payment``. Every URL that comes
from settings is checked against the site's own host and ``ALLOWED_REDIRECT_HOSTS``
before anyone is sent there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.module_loading import import_string

from . import conf, services, telemetry
from .amounts import format_amount
from .models import Invoice, Order

logger = logging.getLogger("django_invoices")


def display_amount(value: Decimal | None) -> str:
    """An amount for people: no exponent, no trailing zeros beyond two decimals."""
    if value is None:
        return ""
    whole, _, fraction = format_amount(value).partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def is_safe_url(request: HttpRequest, url: str) -> bool:
    """Same site, or a host in ``ALLOWED_REDIRECT_HOSTS``; https when the request is."""
    allowed = {request.get_host(), *(conf.get("ALLOWED_REDIRECT_HOSTS") or [])}
    return url_has_allowed_host_and_scheme(
        url, allowed_hosts=allowed, require_https=request.is_secure()
    )


class NotAURL(ValueError):
    """What a ``RETURN_URLS`` callable (or ``error_url``) gave is not a URL."""


def _url_looks_usable(text: str) -> bool:
    # A path from the site's root, a "./" or "../" path, or an absolute URL: a bare
    # word ("thanks") would be read relative to the current page, which is never meant.
    return text.startswith(("/", "./", "../")) or "://" in text


def _callable_result(value: Any) -> str | None:
    """What a callable's return value means: None (or "") for "no page", else a URL."""
    if value is None or value == "":
        return None
    text = str(value)
    if not _url_looks_usable(text):
        raise NotAURL(f"{text!r} is not a path or an absolute URL")
    return text


def resolve_target(target: Any, order: Order) -> str | None:
    """A URL from a setting value: a callable (or its dotted path) given the order, a
    URL name, a path or an absolute URL. None when a callable has no page for this
    order (it returned None or ""). Raises ``NoReverseMatch`` or ``ImportError`` when
    the value is none of these, ``NotAURL`` when a callable returned something that is
    not a URL."""
    if callable(target):
        return _callable_result(target(order))
    text = str(target)
    if text.startswith(("/", ".")) or "://" in text:
        return text
    try:
        return reverse(text)
    except NoReverseMatch:
        if "." not in text or ":" in text:
            raise
    function: Callable[[Order], Any] = import_string(text)
    return _callable_result(function(order))


def safe_target(request: HttpRequest, target: Any, order: Order) -> str | None:
    """The URL ``target`` names if it is safe to send the customer there, else None.

    A broken or unsafe setting is logged and answered with None: the customer gets the
    built-in page rather than an error or a trip to another site. A callable that
    returns None (or "") has no page for this order: None, quietly.
    """
    if not target:
        return None
    try:
        url = resolve_target(target, order)
    except (NoReverseMatch, ImportError, NotAURL) as exc:
        logger.error(
            "django-invoices cannot resolve the URL %r: %s",
            target,
            exc,
            extra=telemetry.ids(order=order),
        )
        return None
    if url is None:
        return None
    if not is_safe_url(request, url):
        logger.warning(
            "django-invoices refused to send a customer off-site to %r",
            url,
            extra=telemetry.ids(order=order),
        )
        return None
    return url


def forward_url(request: HttpRequest, invoice: Invoice, outcome: str) -> str | None:
    """Where ``RETURN_URLS`` sends a customer with this outcome, if anywhere."""
    targets = conf.get("RETURN_URLS") or {}
    return safe_target(request, targets.get(outcome), invoice.order)


def page_context(invoice: Invoice, outcome: str, *, provider_error: bool) -> dict[str, Any]:
    """What ``django_invoices/return.html`` is rendered with."""
    order = invoice.order
    pending = outcome == services.OUTCOME_PENDING
    over = services.overpayment(invoice) if outcome == services.OUTCOME_PAID else None
    return {
        "invoice": invoice,
        "order": order,
        "outcome": outcome,
        "is_paid": outcome == services.OUTCOME_PAID,
        "is_pending": pending,
        "is_failed": outcome == services.OUTCOME_FAILED,
        "status": invoice.status,
        "status_label": invoice.get_status_display(),
        "amount": display_amount(invoice.invoice_amount),
        "asset": invoice.invoice_asset,
        "paid_amount": display_amount(invoice.paid_amount) if invoice.paid_amount else "",
        "payment_url": invoice.payment_url if pending else "",
        "refresh_seconds": max(1, int(conf.get("PENDING_PAGE_REFRESH"))) if pending else None,
        "provider_error": provider_error,
        # More arrived than was due: the page says so, and what the customer can do.
        "overpaid": over is not None,
        "received_total": display_amount(over[0]) if over else "",
        "due_total": display_amount(over[1]) if over else "",
        "excess": display_amount(over[0] - over[1]) if over else "",
    }
