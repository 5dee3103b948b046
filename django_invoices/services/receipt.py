"""Store: a callback as it arrived, verified, parsed and located, in one ``INSERT``.

The first steps of the callback pipeline (``pipeline``): the body is parsed
(``callbacks.parse``) and its signature verified (``signing.verify_callback``), then
``locate`` names the invoice it is about and whether its news was applied already, and
the event is stored, committed at once, whatever happens to it afterwards. A refused
callback is stored too, cut short, with why it was refused.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone as dj_timezone

from .. import callbacks, conf
from ..models import CallbackEvent
from ..signing import parse_recipes, verified_text, verify_callback
from . import statements
from .locate import locate

logger = logging.getLogger("django_invoices")

# Why a stored callback was refused; the view turns each into its HTTP answer.
REJECT_UNKNOWN_ACCOUNT = "unknown_account"
REJECT_NO_SIGNATURE = "missing_signature"
REJECT_BAD_SIGNATURE = "bad_signature"
REJECT_MALFORMED = "malformed"
REJECT_TOO_LARGE = "too_large"
REJECT_MISCONFIGURED = "misconfigured"

OUTCOME_DUPLICATE = "same news already applied"


@dataclass
class Receipt:
    """A stored callback: the event, why it was refused ("" when authentic and well
    formed) and, for an authentic one, its parsed body."""

    event: CallbackEvent
    rejection: str = ""
    parsed: callbacks.ParsedCallback | None = None


def receive(
    account: str,
    body: bytes,
    headers: Mapping[str, str],
    remote_addr: str | None = None,
    *,
    body_size: int | None = None,
) -> Receipt:
    """Store a callback with its verification result and the invoice it is about.

    Called outside any transaction, so the row is committed at once. ``body_size`` set
    means the body was too large to read. A refused callback keeps only the first
    ``REJECTED_BODY_KEEP`` bytes of its body (with the whole body's size and SHA-256).
    """
    event = CallbackEvent(
        account=account[:64],
        body=_text(body),
        body_sha256=callbacks.body_sha256(body),
        body_size=body_size if body_size is not None else len(body),
        headers=callbacks.safe_headers(headers),
        remote_addr=_ip_or_none(remote_addr),
        state=CallbackEvent.State.REJECTED,
    )
    rejection, parsed = _verify_and_parse(event, account, body, headers, body_size)
    if rejection:
        event.outcome = event.outcome or rejection
        if not event.verified:
            keep = max(0, int(conf.get("REJECTED_BODY_KEEP")))
            event.body = _text(body[:keep])
        logger.warning("Refused a KUNA Pay callback for account %r: %s", account, event.outcome)
    else:
        assert parsed is not None
        located = locate(parsed, account, dedupe_key=event.dedupe_key)
        event.state = CallbackEvent.State.PENDING
        if located is not None:
            event.invoice = located.invoice
            if located.applied_already:
                # The same news was read and applied already: nothing to read again.
                event.state = CallbackEvent.State.DUPLICATE
                event.outcome = OUTCOME_DUPLICATE
                event.attempts = 1
                event.processed_at = dj_timezone.now()
    statements.insert(event)
    return Receipt(event, rejection, parsed)


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace").replace("\x00", "\ufffd")


def _verify_and_parse(
    event: CallbackEvent,
    account: str,
    body: bytes,
    headers: Mapping[str, str],
    body_size: int | None,
) -> tuple[str, callbacks.ParsedCallback | None]:
    if body_size is not None:
        event.outcome = f"body of {body_size} bytes is over the limit"
        return REJECT_TOO_LARGE, None
    if account not in conf.account_names():
        return REJECT_UNKNOWN_ACCOUNT, None
    signature = headers.get(callbacks.SIGNATURE_HEADER)
    if not signature:
        return REJECT_NO_SIGNATURE, None
    try:
        private_key = conf.get_account(account).private_key
        recipes = parse_recipes(conf.get("CALLBACK_SIGNATURE_RECIPES"))
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        # The shop's settings are at fault, not the callback: the answer asks the
        # provider to send it again, by when the settings may be fixed.
        logger.error("Cannot verify callbacks of account %r: %s", account, exc)
        event.outcome = f"account settings unusable: {exc}"
        return REJECT_MISCONFIGURED, None
    recipe = verify_callback(private_key, body, signature, recipes)
    if recipe is None:
        event.signature = signature[:256]
        return REJECT_BAD_SIGNATURE, None
    event.verified = True
    event.signature_variant = str(recipe)
    try:
        body.decode("utf-8")  # stored as text and parsed again from it later
        parsed = callbacks.parse(body)
        # What the signature covers, so the log means what was signed.
        event.body = verified_text(body, recipe)
    except UnicodeDecodeError:
        event.outcome = "body is not UTF-8"
        return REJECT_MALFORMED, None
    except callbacks.MalformedCallback as exc:
        event.outcome = str(exc)
        return REJECT_MALFORMED, None
    event.event_name = parsed.event[:64]
    event.object_id = parsed.object_id
    event.provider_status = parsed.status
    event.dedupe_key = parsed.dedupe_key
    return "", parsed


def _ip_or_none(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None
