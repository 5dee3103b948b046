"""Small HTML pieces the admin shows: coloured statuses, links, pretty JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.db.models import Model
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from .. import safejson
from ..returns import display_amount

# Invoice, order and callback-event states share one palette.
COLOURS = {
    "new": "#6c757d",
    "created": "#6c757d",
    "awaiting_payment": "#0d6efd",
    "confirming": "#6610f2",
    "pending": "#0d6efd",
    "paid": "#198754",
    "applied": "#198754",
    "partially_paid": "#c25e00",
    "unknown": "#9a6700",
    "expired": "#6c757d",
    "cancelled": "#6c757d",
    "duplicate": "#6c757d",
    "ignored": "#6c757d",
    "failed": "#dc3545",
    "declined": "#dc3545",
    "limits_out_of_range": "#dc3545",
    "rejected": "#dc3545",
}

# Header names whose values are never shown (callback signatures, keys, session data).
SECRET_HEADER_WORDS = ("signature", "key", "secret", "token", "authorization", "cookie")
REDACTED = _("[hidden]")


def badge(value: str | None, label: Any) -> SafeString | str:
    """A status as a small coloured label."""
    if not value:
        return "-"
    return format_html(
        '<span style="display:inline-block;padding:1px 8px;border-radius:9px;'
        'background:{};color:#fff;font-size:11px;font-weight:600;white-space:nowrap">'
        "{}</span>",
        COLOURS.get(str(value), "#6c757d"),
        label,
    )


def change_url(site_name: str, model: type[Model], pk: Any) -> str:
    """The URL of an object's admin page, built from its pk alone (no query)."""
    opts = model._meta
    return reverse(f"{site_name}:{opts.app_label}_{opts.model_name}_change", args=[pk])


def change_link(site_name: str, model: type[Model], pk: Any, text: Any) -> SafeString | str:
    """A link to an object's admin page, built from its pk alone (no query)."""
    if pk is None:
        return "-"
    return format_html('<a href="{}">{}</a>', change_url(site_name, model, pk), text)


def amount(value: Decimal | None, asset: str = "") -> str:
    """An amount as the customer's pages show it: ``59.00 EUR``, ``0.00108167 BTC``.

    At least two decimals and every significant one, never the 18 trailing zeros the
    column stores, so one amount reads the same in every list, page and inline.
    """
    if value is None:
        return "-"
    return f"{display_amount(value)} {asset}".strip()


def shortened(text: str, keep: int = 10) -> SafeString | str:
    """A long id or hash cut in the middle, whole in its tooltip (tables stay narrow)."""
    if not text:
        return "-"
    if len(text) <= 2 * keep + 1:
        return text
    return format_html('<span title="{}">{}…{}</span>', text, text[:keep], text[-keep:])


def short_id(text: Any) -> SafeString | str:
    """A UUID-like id by its first block, whole in its tooltip: lists stay narrow, and
    the first block is enough to tell rows apart (and to search for)."""
    text = str(text or "")
    if len(text) <= 12:
        return text or "-"
    return format_html('<span title="{}">{}…</span>', text, text[:8])


def breakable(text: str) -> SafeString:
    """``CONFIRMATION_AWAITING`` allowed to wrap after its underscore, never mid-word."""
    parts = str(text).split("_")
    return format_html_join(
        "",
        "{}{}",
        (
            (part, format_html("_<wbr>{}", "") if i < len(parts) - 1 else "")
            for i, part in enumerate(parts)
        ),
    )


def pretty_json(data: Any) -> SafeString:
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html(
        '<pre style="white-space:pre-wrap;margin:0;max-height:32em;overflow:auto">{}</pre>',
        text,
    )


def pretty_body(body: str) -> SafeString:
    """A callback body: indented if it is JSON, as received otherwise."""
    try:
        # safejson refuses what cannot be shown: nesting deep enough for RecursionError,
        # and lone surrogates, which no UTF-8 page can carry.
        return pretty_json(safejson.loads(body))
    except ValueError:  # a forged body may be anything
        return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', body)


# What callbacks.safe_headers stores for the signature: whether one came, never its value.
PRESENCE = ("present", "absent")


def redact_headers(headers: Any) -> dict[str, Any]:
    """Headers with the values of anything secret-looking replaced.

    The signature's "present"/"absent" is shown as stored (the docs promise it); any
    other value under a secret-looking name (rows stored before that) stays hidden.
    """
    if not isinstance(headers, dict):
        return {}
    return {
        name: str(REDACTED)
        if any(word in str(name).lower() for word in SECRET_HEADER_WORDS) and value not in PRESENCE
        else value
        for name, value in headers.items()
    }
