"""Storing the provider's callbacks as they arrive, and applying them exactly once."""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, DataError, transaction
from django.utils import timezone as dj_timezone

from .. import callbacks, conf
from ..exceptions import (
    InvalidResponse,
    KunaPayError,
)
from ..models import CallbackEvent, Invoice
from ..signing import verify_callback
from ..statuses import (
    InvoiceStatus,
    normalize,
)
from .fields import provider_text
from .provider import get_client
from .transitions import (
    apply_data_locked,
    check_same_invoice,
    lock_invoice,
    transition,
    write_deposits,
)

logger = logging.getLogger("django_invoices")

# Why a stored callback was refused; the view turns each into its HTTP answer.
REJECT_UNKNOWN_ACCOUNT = "unknown_account"
REJECT_NO_SIGNATURE = "missing_signature"
REJECT_BAD_SIGNATURE = "bad_signature"
REJECT_MALFORMED = "malformed"
REJECT_TOO_LARGE = "too_large"
REJECT_MISCONFIGURED = "misconfigured"


def receive_callback(
    account: str,
    body: bytes,
    headers: Mapping[str, str],
    remote_addr: str | None = None,
    *,
    body_size: int | None = None,
) -> tuple[CallbackEvent, str]:
    """Store a callback as it arrived, with its verification result.

    Returns the event and why it was refused ("" when it is authentic and well formed).
    Called outside any transaction, so the row is committed at once, whatever happens
    to its processing. ``body_size`` set means the body was too large to read.
    """
    event = CallbackEvent(
        account=account[:64],
        body=body.decode("utf-8", "replace").replace("\x00", "\ufffd"),
        body_sha256=callbacks.body_sha256(body),
        headers=callbacks.safe_headers(headers),
        remote_addr=_ip_or_none(remote_addr),
        state=CallbackEvent.State.REJECTED,
    )
    rejection = _verify_and_parse(event, account, body, headers, body_size)
    if not rejection:
        event.state = CallbackEvent.State.PENDING
    else:
        event.outcome = event.outcome or rejection
        logger.warning("Refused a KUNA Pay callback for account %r: %s", account, event.outcome)
    event.save()
    return event, rejection


def _verify_and_parse(
    event: CallbackEvent,
    account: str,
    body: bytes,
    headers: Mapping[str, str],
    body_size: int | None,
) -> str:
    if body_size is not None:
        event.outcome = f"body of {body_size} bytes is over the limit"
        return REJECT_TOO_LARGE
    if account not in conf.account_names():
        return REJECT_UNKNOWN_ACCOUNT
    signature = headers.get(callbacks.SIGNATURE_HEADER)
    if not signature:
        return REJECT_NO_SIGNATURE
    try:
        private_key = conf.get_account(account).private_key
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        # The shop's settings are at fault, not the callback: the answer asks the
        # provider to send it again, by when the settings may be fixed.
        logger.error("Cannot verify callbacks of account %r: %s", account, exc)
        event.outcome = f"account settings unusable: {exc}"
        return REJECT_MISCONFIGURED
    variant = verify_callback(private_key, body, signature)
    if variant is None:
        return REJECT_BAD_SIGNATURE
    event.verified = True
    event.signature_variant = variant
    try:
        body.decode("utf-8")  # stored as text and parsed again from it later
        parsed = callbacks.parse(body)
    except UnicodeDecodeError:
        event.outcome = "body is not UTF-8"
        return REJECT_MALFORMED
    except callbacks.MalformedCallback as exc:
        event.outcome = str(exc)
        return REJECT_MALFORMED
    event.event_name = parsed.event[:64]
    event.object_id = parsed.object_id
    event.provider_status = parsed.status
    event.dedupe_key = parsed.dedupe_key
    return ""


def process_callback_event(event: CallbackEvent) -> CallbackEvent:
    """Apply a stored, authentic callback exactly once; safe to call again.

    The callback is a signed hint: a status that would settle the order as paid is
    confirmed by reading the invoice from the API first (``CONFIRM_PAID_CALLBACKS``).
    When the provider or the database fails, the event stays pending for
    ``invoices_process_callbacks`` or the admin to apply later.
    """
    if not event.verified or event.state not in RETRYABLE_EVENT_STATES:
        return event
    parsed = callbacks.parse(event.body.encode("utf-8"))
    try:
        if parsed.kind == "unknown":
            return _finish(event, CallbackEvent.State.IGNORED, f"event {parsed.event!r} not used")
        confirmed = None
        if (
            parsed.kind == "invoice"
            and normalize(parsed.status) == InvoiceStatus.PAID
            and conf.get("CONFIRM_PAID_CALLBACKS")
        ):
            # Read without a lock first: no row stays locked while the provider answers.
            invoice = _invoice_of(parsed, event.account)
            if invoice is None:
                return _ignore_unknown_invoice(event)
            # Linked now, so an event left pending by the provider still names its invoice.
            event.invoice = invoice
            if invoice.status != InvoiceStatus.PAID:  # already settled: nothing to confirm
                try:
                    confirmed = get_client(invoice.account, fast=True).get_invoice(
                        str(invoice.provider_id)
                    )
                    check_same_invoice(invoice, confirmed)
                except InvalidResponse as exc:
                    # The provider's answer, not the callback, is at fault: ask again later.
                    logger.warning("Callback event %s stays pending: %s", event.pk, exc)
                    return _finish(event, CallbackEvent.State.PENDING, f"will retry: {exc}")
            with transaction.atomic():
                return _apply_callback(event, parsed, lock_invoice(invoice), confirmed)
        # Nothing to ask the provider: one query finds and locks the invoice.
        with transaction.atomic():
            locked = _invoice_of(parsed, event.account, lock=True)
            if locked is not None:
                return _apply_callback(event, parsed, locked, None)
        return _ignore_unknown_invoice(event)
    except InvalidResponse as exc:
        return _finish(event, CallbackEvent.State.FAILED, f"cannot apply: {exc}")
    except DataError as exc:
        # The data does not fit the database, and would not on the next attempt either.
        logger.exception("Callback event %s cannot be stored", event.pk)
        return _finish(event, CallbackEvent.State.FAILED, f"cannot store: {exc}")
    except (KunaPayError, DatabaseError) as exc:
        logger.warning("Callback event %s stays pending: %s", event.pk, exc)
        return _finish(event, CallbackEvent.State.PENDING, f"will retry: {exc}")


RETRYABLE_EVENT_STATES = (CallbackEvent.State.PENDING, CallbackEvent.State.FAILED)


def invoice_of_event(event: CallbackEvent) -> Invoice | None:
    """The invoice an authentic event names, found as applying it would find it.

    For pages that show an event not applied (yet): nothing is locked or changed.
    """
    if event.invoice_id is not None:
        return event.invoice
    if not event.verified:
        return None
    try:
        parsed = callbacks.parse(event.body.encode("utf-8"))
    except ValueError:
        return None
    return _invoice_of(parsed, event.account)


#: Attempts at confirming a PAID callback through the API before its event fails.
CONFIRM_ATTEMPTS = 12


def _ignore_unknown_invoice(event: CallbackEvent) -> CallbackEvent:
    return _finish(event, CallbackEvent.State.IGNORED, "unknown invoice; nothing changed")


def _invoice_of(
    parsed: callbacks.ParsedCallback, account: str, *, lock: bool = False
) -> Invoice | None:
    """The invoice a callback is about; with ``lock``, locked with its order as
    ``lock_invoice`` does (inside a transaction).

    Only invoices of the account whose key signed the callback: one merchant account's
    key must not speak for another account's invoices.
    """
    invoices = Invoice.objects.filter(account=account)
    if lock:
        invoices = invoices.select_for_update().select_related("order")
    invoice_id = parsed.invoice_id
    if invoice_id:
        try:
            return invoices.get(provider_id=uuid.UUID(invoice_id))
        except (ValueError, Invoice.DoesNotExist):
            return None
    if parsed.external_order_id:
        return (
            invoices.filter(order__external_order_id=parsed.external_order_id)
            .order_by("-created_at", "-pk")
            .first()
        )
    return None


def _apply_callback(
    event: CallbackEvent,
    parsed: callbacks.ParsedCallback,
    invoice: Invoice,
    confirmed: dict[str, Any] | None,
) -> CallbackEvent:
    """Apply under the invoice's row lock; the event's new state commits with it."""
    applied = set(
        CallbackEvent.objects.filter(
            invoice=invoice, dedupe_key=event.dedupe_key, state=CallbackEvent.State.APPLIED
        ).values_list("pk", flat=True)[:2]
    )
    if event.pk in applied:
        return event  # applied meanwhile by another worker
    event.invoice = invoice
    if applied:
        return _finish(event, CallbackEvent.State.DUPLICATE, "same news already applied")
    if parsed.kind == "deposit":
        # A callback naming this invoice is the provider's word; one found by
        # externalOrderId only is a guess (see write_deposit).
        [(deposit, done)] = write_deposits(
            invoice, [parsed.data], authoritative=bool(parsed.invoice_id)
        )
        invoice.save(update_fields=["paid_amount", "updated_at"])
        outcome = f"deposit {deposit.provider_id} {done}"
    else:
        if confirmed is not None:
            result = apply_data_locked(invoice, confirmed)
        else:
            # The whole status as sent; ``parsed.status`` is cut to fit the event's log.
            status = provider_text(Invoice, "provider_status", parsed.data.get("status"), "status")
            result = transition(invoice, status, payload=parsed.data or None)
            invoice.save()
        outcome = (
            f"{result.old_status} -> {result.new_status}"
            if result.changed
            else f"no change (stays {result.old_status})"
        )
        if confirmed is not None:
            said = confirmed.get("status")
            if invoice.status != InvoiceStatus.PAID:
                return _not_confirmed(event, f"{outcome}; the API says {said!r}, not paid")
            outcome += f"; confirmed by API as {said!r}"
    return _finish(event, CallbackEvent.State.APPLIED, outcome)


def _not_confirmed(event: CallbackEvent, outcome: str) -> CallbackEvent:
    """A PAID the API does not confirm (yet) stays pending, so a later run applies it
    once the API agrees; after ``CONFIRM_ATTEMPTS`` it fails, for staff to look at."""
    if event.attempts + 1 >= CONFIRM_ATTEMPTS:
        logger.error("KUNA Pay never confirmed the PAID of callback event %s", event.pk)
        return _finish(event, CallbackEvent.State.FAILED, f"{outcome}; gave up")
    return _finish(event, CallbackEvent.State.PENDING, f"{outcome}; will ask again")


def _finish(event: CallbackEvent, state: str, outcome: str) -> CallbackEvent:
    event.state = state
    event.outcome = outcome
    event.attempts += 1
    event.processed_at = dj_timezone.now()
    event.save(update_fields=["state", "outcome", "attempts", "processed_at", "invoice"])
    return event


def process_pending_callbacks(*, limit: int = 500, include_failed: bool = False) -> dict[str, int]:
    """Apply stored callbacks still pending (oldest first); returns counts per state."""
    states = list(RETRYABLE_EVENT_STATES) if include_failed else [CallbackEvent.State.PENDING]
    ids = list(
        CallbackEvent.objects.filter(verified=True, state__in=states)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return process_callback_events(
        CallbackEvent.objects.filter(pk__in=ids).order_by("received_at", "pk")
    )


def process_callback_events(events: Iterable[CallbackEvent]) -> dict[str, int]:
    """``process_callback_event`` for each event in turn; returns counts per state.

    An event that breaks in a way nobody foresaw is logged and keeps its state: it must
    not stop the events after it (taken oldest first, it would be first in line on every
    run of the command).
    """
    counts: dict[str, int] = {}
    for event in events:
        try:
            state = process_callback_event(event).state
        except Exception:
            logger.exception(
                "Applying callback event %s failed; it stays %s", event.pk, event.state
            )
            state = CallbackEvent.objects.values_list("state", flat=True).get(pk=event.pk)
        counts[state] = counts.get(state, 0) + 1
    return counts


def _ip_or_none(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None
