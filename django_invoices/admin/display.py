"""Small HTML pieces the admin shows: coloured statuses, links, pretty JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.db.models import Model
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
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


# Bounds of the JSON the admin indents: a forged body of 64 KB nested 800 deep once made
# a 51 MB page. Past either bound the text is shown as stored, cut to RAW_MAX_CHARS.
PRETTY_MAX_DEPTH = 20
PRETTY_MAX_CHARS = 32 * 1024
RAW_MAX_CHARS = 32 * 1024

PRE_STYLE = "white-space:pre-wrap;margin:0;max-height:32em;overflow:auto"


class _Text(str):
    """Text to write out as it is (punctuation, keys), unlike a value still to encode."""


def encode(
    data: Any, *, indent: int | None, max_depth: int | None, max_chars: int
) -> tuple[str, bool]:
    """JSON text of ``data`` as ``json.dumps`` writes it (keys sorted), and whether it is
    whole: without recursion, it stops once the text passes ``max_chars`` or a container
    lies deeper than ``max_depth``, so the work is bounded by the limits, not the data."""
    out: list[str] = []
    size = 0
    stack: list[tuple[Any, int]] = [(data, 0)]  # (value or _Text, depth), next on top
    while stack:
        item, depth = stack.pop()
        if isinstance(item, _Text):
            piece = str(item)
        elif isinstance(item, (dict, list, tuple)) and item:
            if max_depth is not None and depth >= max_depth:
                return "".join(out), False
            entries: list[tuple[str | None, Any]]
            if isinstance(item, dict):
                piece, closer = "{", "}"
                entries = [(_scalar(str(key)), item[key]) for key in sorted(item, key=str)]
            else:
                piece, closer = "[", "]"
                entries = [(None, value) for value in item]
            inner = "" if indent is None else "\n" + " " * (indent * (depth + 1))
            outer = "" if indent is None else "\n" + " " * (indent * depth)
            colon = ":" if indent is None else ": "
            stack.append((_Text(outer + closer), depth))
            for position in range(len(entries) - 1, -1, -1):
                key, value = entries[position]
                stack.append((value, depth + 1))
                lead = ("," if position else "") + inner
                stack.append((_Text(lead if key is None else f"{lead}{key}{colon}"), depth))
        elif isinstance(item, dict):
            piece = "{}"
        elif isinstance(item, (list, tuple)):
            piece = "[]"
        else:
            piece = _scalar(item)
        out.append(piece)
        size += len(piece)
        if size > max_chars:
            return "".join(out)[:max_chars], False
    return "".join(out), True


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _pre(text: str) -> SafeString:
    return format_html('<pre style="{}">{}</pre>', PRE_STYLE, text)


def _as_stored(text: str, *, cut: bool) -> SafeString:
    """Text that is not indented, with a line that says so (and that it is cut)."""
    if cut:
        note = gettext(
            "Too large or too deeply nested to indent: the first %(count)s characters, as stored."
        ) % {"count": len(text)}
    else:
        note = gettext("Too large or too deeply nested to indent: shown as stored.")
    return format_html('<p class="help">{}</p>{}', note, _pre(text))


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
    """Stored JSON, indented while that stays small; else compact, cut to a length."""
    text, whole = encode(data, indent=2, max_depth=PRETTY_MAX_DEPTH, max_chars=PRETTY_MAX_CHARS)
    if whole:
        return _pre(text)
    compact, whole = encode(data, indent=None, max_depth=None, max_chars=RAW_MAX_CHARS)
    return _as_stored(compact, cut=not whole)


def pretty_body(body: str) -> SafeString:
    """A callback body: indented if it is JSON and that stays small, as received otherwise."""
    if len(body) <= PRETTY_MAX_CHARS:
        try:
            # safejson refuses what cannot be shown: nesting deep enough for
            # RecursionError, and lone surrogates, which no UTF-8 page can carry.
            data = safejson.loads(body)
        except ValueError:  # a forged body may be anything
            return _pre(body)
        text, whole = encode(data, indent=2, max_depth=PRETTY_MAX_DEPTH, max_chars=PRETTY_MAX_CHARS)
        if whole:
            return _pre(text)
    return _as_stored(body[:RAW_MAX_CHARS], cut=len(body) > RAW_MAX_CHARS)


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
