"""Store: a callback as it arrived, verified, parsed and located, in one ``INSERT``.

The first steps of the callback pipeline (``pipeline``): the body is parsed
(``callbacks.parse``) and its signature verified (``signing.match_callback``), then
``locate`` names the invoice it is about and whether its news was applied already, and
the event is stored, committed at once, whatever happens to it afterwards. A refused
callback is stored too, cut short, with why it was refused.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone as dj_timezone

from .. import callbacks, conf, telemetry
from ..models import CallbackEvent
from ..signing import match_callback, parse_recipes, verified_text
from . import limits, statements
from .locate import locate, named_invoice_ids

logger = logging.getLogger("django_invoices")

# Why a stored callback was refused; the view turns each into its HTTP answer.
REJECT_UNKNOWN_ACCOUNT = "unknown_account"
REJECT_NO_SIGNATURE = "missing_signature"
REJECT_BAD_SIGNATURE = "bad_signature"
REJECT_MALFORMED = "malformed"
REJECT_TOO_LARGE = "too_large"
REJECT_MISCONFIGURED = "misconfigured"
# Not stored: past the endpoint's budget for refused requests or replays (``limits``).
REJECT_RATE_LIMITED = "rate_limited"

#: Why a callback was refused, as the health page and the metrics name it.
REFUSAL_REASONS = (
    REJECT_BAD_SIGNATURE,
    REJECT_NO_SIGNATURE,
    REJECT_UNKNOWN_ACCOUNT,
    REJECT_MALFORMED,
    REJECT_TOO_LARGE,
    REJECT_MISCONFIGURED,
)
# The outcome a refused event stores begins with these for the reasons whose outcome
# says more than the reason's name (see ``_verify_and_parse``).
TOO_LARGE_OUTCOME = "body of "
MISCONFIGURED_OUTCOME = "account settings unusable: "


def refusal_reason(verified: bool, outcome: str) -> str:
    """Why a stored, refused event was refused (one of ``REFUSAL_REASONS``), from what
    it stores: an authentic one was malformed; the others say it in their outcome."""
    if verified:
        return REJECT_MALFORMED
    if outcome in (REJECT_BAD_SIGNATURE, REJECT_NO_SIGNATURE, REJECT_UNKNOWN_ACCOUNT):
        return outcome
    if outcome.startswith(TOO_LARGE_OUTCOME):
        return REJECT_TOO_LARGE
    return REJECT_MISCONFIGURED


OUTCOME_DUPLICATE = "same news already applied"
OUTCOME_UNKNOWN = "names no invoice we know; nothing changed"
OUTCOME_REPLAYED = "the same callback arrived before"


@dataclass
class Receipt:
    """A stored callback: the event, why it was refused ("" when authentic and well
    formed) and, for an authentic one, its parsed body."""

    event: CallbackEvent
    rejection: str = ""
    parsed: callbacks.ParsedCallback | None = None
    # The same request arrived before: counted on its first row, nothing else stored.
    replayed: bool = False
    # ...and that row was settled already, so this one is only a duplicate.
    settled_before: bool = False

    @property
    def outcome(self) -> str:
        """What became of it, as monitoring names it: ``refused`` (see ``rejection``),
        ``rate_limited``, ``replayed``, or the state it was stored in (``pending``,
        ``duplicate``, ``ignored``)."""
        if self.rejection == REJECT_RATE_LIMITED:
            return "rate_limited"
        if self.rejection:
            return "refused"
        if self.replayed:
            return "replayed"
        return str(self.event.state)

    @property
    def answer(self) -> dict[str, object]:
        """What the callback view answers an authentic callback: the event, its state
        ("duplicate" for a replay of one settled already) and what became of it."""
        if self.settled_before:
            return {"event": self.event.pk, "state": "duplicate", "detail": OUTCOME_REPLAYED}
        return {"event": self.event.pk, "state": self.event.state, "detail": self.event.outcome}


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
    event.replay_key = replay_key(event, rejection)
    sender = event.remote_addr or "unknown"
    if rejection and limits.exceeded(limits.REFUSED, sender):
        limits.note_refusal(limits.REFUSED, sender)
        return Receipt(event, REJECT_RATE_LIMITED)
    if rejection:
        event.outcome = event.outcome or rejection
        if rejection == REJECT_UNKNOWN_ACCOUNT:
            event.body = ""  # a name nobody configured: nothing of it is worth keeping
        elif not event.verified:
            keep = max(0, int(conf.get("REJECTED_BODY_KEEP")))
            event.body = _text(body[:keep])
    else:
        assert parsed is not None
        _place(event, parsed, account)
    replayed = statements.store_event(event)
    if rejection:
        logger.warning(
            "Refused a KUNA Pay callback for account %r: %s",
            account,
            event.outcome,
            extra=telemetry.ids(event=event, account=account[:64]),
        )
    settled = replayed and event.state != CallbackEvent.State.PENDING
    if rejection:
        limits.spend(limits.REFUSED, sender)
    elif replayed:
        if limits.exceeded(limits.REPLAYED, event.account):
            limits.note_refusal(limits.REPLAYED, event.account)
            return Receipt(event, REJECT_RATE_LIMITED, parsed, replayed, settled)
        limits.spend(limits.REPLAYED, event.account)
    return Receipt(event, rejection, parsed, replayed, settled)


def _place(event: CallbackEvent, parsed: callbacks.ParsedCallback, account: str) -> None:
    """The event's invoice (``locate``) and what that settles already."""
    located = locate(parsed, account, dedupe_key=event.dedupe_key)
    event.state = CallbackEvent.State.PENDING
    if located is not None:
        event.invoice = located.invoice
        if located.applied_already:
            # The same news was read and applied already: nothing to read again.
            _settled(event, CallbackEvent.State.DUPLICATE, OUTCOME_DUPLICATE)
    elif not placeable(parsed):
        # Nothing in it could ever name an invoice: no invoice id, no order, and no
        # transaction id the provider could know (its ids are UUIDs). Not asked about.
        _settled(event, CallbackEvent.State.IGNORED, OUTCOME_UNKNOWN)


def _settled(event: CallbackEvent, state: str, outcome: str) -> None:
    event.state, event.outcome = state, outcome
    event.attempts = 1
    event.processed_at = dj_timezone.now()


def placeable(parsed: callbacks.ParsedCallback) -> bool:
    """Whether anything in the body could still name one of our invoices: an invoice
    id, an order's id, or a transaction id the provider's transaction API could place
    (a UUID, as the provider's ids are)."""
    if named_invoice_ids(parsed) or parsed.external_order_id:
        return True
    return parsed.kind != "invoice" and callbacks.uuid_or_none(parsed.object_id) is not None


def replay_key(event: CallbackEvent, rejection: str) -> str | None:
    """What makes a request the same as one stored before (see ``CallbackEvent``): the
    body of an authentic callback; the body with its signature of a refused one; for one
    too large to read, its size. None for a callback refused for the shop's own
    settings: the next delivery must be verified anew, once they are fixed."""
    if rejection == REJECT_MISCONFIGURED:
        return None
    if event.verified:
        return event.body_sha256
    if rejection == REJECT_TOO_LARGE:
        material = f"{rejection}\x1f{event.body_size}"
    else:
        material = f"{rejection}\x1f{event.signature}\x1f{event.body_sha256}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


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
    try:
        keys = conf.get_account(account).private_keys
        recipes = parse_recipes(conf.get("CALLBACK_SIGNATURE_RECIPES"))
        unusable: Exception | None = None
    except conf.UnknownAccount:
        return REJECT_UNKNOWN_ACCOUNT, None
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        keys, recipes, unusable = (), (), exc
    signature = headers.get(callbacks.SIGNATURE_HEADER)
    if not signature:
        return REJECT_NO_SIGNATURE, None
    if unusable is not None:
        # The shop's settings are at fault, not the callback: the answer asks the
        # provider to send it again, by when the settings may be fixed.
        logger.error(
            "Cannot verify callbacks of account %r: %s",
            account,
            unusable,
            extra=telemetry.ids(account=account[:64]),
        )
        event.outcome = f"account settings unusable: {unusable}"
        return REJECT_MISCONFIGURED, None
    match = match_callback(keys, body, signature, recipes)
    if match is None:
        event.signature = signature[:256]
        return REJECT_BAD_SIGNATURE, None
    recipe = match.recipe
    event.key_fingerprint = conf.key_fingerprint(keys[match.key_index])
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
