"""Storing the provider's callbacks as they arrive, and acting on them exactly once.

A callback is a hint: its body says *which* invoice to read, never what the invoice
becomes. What changes an invoice, its deposits or its order is only what
``GET /v1/invoice/{id}`` answers to our own authenticated read, applied through the one
locked transition (``transitions.apply_data_locked``). A guess about event names, body
shapes or signature recipes can then delay a payment (until ``invoices_sync``), never
lose or fake one.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, DataError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone as dj_timezone

from .. import background, callbacks, conf
from ..exceptions import (
    InvalidResponse,
    KunaPayError,
    NotFound,
)
from ..models import CallbackEvent, Deposit, Invoice
from ..signing import parse_recipes, verified_text, verify_callback
from ..statuses import PROVIDER_STATUS_MAP, may_move
from .provider import get_client
from .transitions import Transition, apply_data_locked, check_same_invoice, lock_invoice

logger = logging.getLogger("django_invoices")

# Why a stored callback was refused; the view turns each into its HTTP answer.
REJECT_UNKNOWN_ACCOUNT = "unknown_account"
REJECT_NO_SIGNATURE = "missing_signature"
REJECT_BAD_SIGNATURE = "bad_signature"
REJECT_MALFORMED = "malformed"
REJECT_TOO_LARGE = "too_large"
REJECT_MISCONFIGURED = "misconfigured"

RETRYABLE_EVENT_STATES = (CallbackEvent.State.PENDING, CallbackEvent.State.FAILED)

#: Attempts at an event (a read the provider could not answer, or news the API does not
#: show yet) before it fails for staff to look at. The invoice itself is still read by
#: ``invoices_sync`` while it can change, so a failed event loses nothing.
CONFIRM_ATTEMPTS = 12

OUTCOME_UNKNOWN = "names no invoice we know; nothing changed"

# What receiving a callback learnt, kept on the event instance for acting on it in the
# same request: the parsed body, and whether its news was applied already. An instance
# loaded afresh (a task, a sweep) has neither and works them out again.
_PARSED = "_django_invoices_parsed"
_APPLIED_TWIN = "_django_invoices_applied_twin"


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

    A refused callback keeps only the first ``REJECTED_BODY_KEEP`` bytes of its body
    (with the whole body's size and SHA-256); when it names a known invoice that can
    still change, that invoice is read from the provider, at most once per
    ``REFRESH_MIN_INTERVAL`` (``refresh_if_stale``): a wrong guess about the signature
    recipe then delays nothing, and a forger gains only a rate-limited read.
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
    rejection = _verify_and_parse(event, account, body, headers, body_size)
    if not rejection:
        event.state = CallbackEvent.State.PENDING
    else:
        event.outcome = event.outcome or rejection
        if not event.verified:
            keep = max(0, int(conf.get("REJECTED_BODY_KEEP")))
            event.body = _text(body[:keep])
        logger.warning("Refused a KUNA Pay callback for account %r: %s", account, event.outcome)
    event.save()
    if rejection in (REJECT_NO_SIGNATURE, REJECT_BAD_SIGNATURE):
        _read_for_refused(account, body)
    return event, rejection


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace").replace("\x00", "\ufffd")


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
        recipes = parse_recipes(conf.get("CALLBACK_SIGNATURE_RECIPES"))
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        # The shop's settings are at fault, not the callback: the answer asks the
        # provider to send it again, by when the settings may be fixed.
        logger.error("Cannot verify callbacks of account %r: %s", account, exc)
        event.outcome = f"account settings unusable: {exc}"
        return REJECT_MISCONFIGURED
    recipe = verify_callback(private_key, body, signature, recipes)
    if recipe is None:
        event.signature = signature[:256]
        return REJECT_BAD_SIGNATURE
    event.verified = True
    event.signature_variant = str(recipe)
    try:
        body.decode("utf-8")  # stored as text and parsed again from it later
        parsed = callbacks.parse(body)
        # What the signature covers, so the log means what was signed.
        event.body = verified_text(body, recipe)
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
    event.subject = parsed.subject
    setattr(event, _PARSED, parsed)
    if background.queued():
        # Acknowledged without looking anything up: the worker places the event on its
        # invoice (``pending_events_with``) and asks whether the news was applied.
        return ""
    invoice = find_named_invoice(parsed, account, twin_key=event.dedupe_key, light=True)
    event.invoice = invoice
    if invoice is not None and hasattr(invoice, "applied_twin"):
        setattr(event, _APPLIED_TWIN, invoice.applied_twin)
    return ""


def parsed_event(event: CallbackEvent) -> callbacks.ParsedCallback:
    """The stored body of an authentic event, parsed (once per instance)."""
    parsed = getattr(event, _PARSED, None)
    if parsed is None:
        parsed = callbacks.parse(event.body.encode("utf-8"))
        setattr(event, _PARSED, parsed)
    return parsed


def find_named_invoice(
    parsed: callbacks.ParsedCallback, account: str, *, twin_key: str = "", light: bool = False
) -> Invoice | None:
    """The invoice of ``account`` a callback names, as far as our own records tell.

    By ``invoiceId``, then ``data.id`` (an invoice event's own id, whatever the event is
    called), then ``externalOrderId`` (the order's newest invoice), then ``data.id`` as
    the id of a deposit we recorded. Only invoices of the account whose key signed the
    callback: one merchant account's key must not speak for another's invoices.

    With ``twin_key`` (a dedupe key), an invoice found by its id comes with
    ``applied_twin``: whether an event with that key was applied to it already, asked
    in the same query. ``light``: an invoice found by its id has only its key fields
    loaded (what a callback's receipt needs; the rest is read under its lock).
    """
    invoices = Invoice.objects.filter(account=account).select_related("order")
    ids = [
        value
        for value in (_uuid(parsed.referenced_invoice_id), _uuid(parsed.object_id))
        if value is not None
    ]
    if ids:
        named = invoices.filter(provider_id__in=ids).order_by()
        if light:
            named = named.select_related(None).only("pk", "provider_id", "account")
        if twin_key:
            named = named.annotate(applied_twin=Exists(_applied_twins(OuterRef("pk"), twin_key)))
        found = {invoice.provider_id: invoice for invoice in named}
        for value in ids:
            if value in found:
                return found[value]
    if parsed.external_order_id:
        newest = (
            invoices.filter(order__external_order_id=parsed.external_order_id)
            .order_by("-created_at", "-pk")
            .first()
        )
        if newest is not None:
            return newest
    if parsed.object_id:
        deposit = (
            Deposit.objects.filter(provider_id=parsed.object_id, invoice__account=account)
            .select_related("invoice__order")
            .first()
        )
        if deposit is not None:
            return deposit.invoice
    return None


def _applied_twins(invoice: Any, dedupe_key: str) -> Any:
    return CallbackEvent.objects.filter(
        invoice=invoice, dedupe_key=dedupe_key, state=CallbackEvent.State.APPLIED
    )


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _read_for_refused(account: str, body: bytes) -> None:
    """The throttled read a refused callback may set off (see ``receive_callback``)."""
    from .customer import refresh_if_stale  # customer imports this module's neighbours

    try:
        parsed = callbacks.parse(body)
    except callbacks.MalformedCallback:
        return
    try:
        invoice = find_named_invoice(parsed, account)
        if invoice is not None:
            refresh_if_stale(invoice, late_payments=True)
    except Exception:  # a refused callback is answered 401 whatever happens here
        logger.exception("The read a refused callback asked for failed")


# -- acting on a stored event -----------------------------------------------------------


def process_callback_event(event: CallbackEvent, *, fast: bool = True) -> CallbackEvent:
    """Act on a stored, authentic callback: read the invoice it names and apply that.

    Safe to call again and concurrently: the event's row is locked under the invoice's
    and checked again before anything is applied. Other pending events naming the same
    invoice that arrived before the read started are settled by the same read
    ("covered"), so a burst of callbacks about one invoice costs one API read. When the
    provider or the database fails, the event stays pending for ``invoices_sync`` or
    the admin, at most ``CONFIRM_ATTEMPTS`` times. ``fast`` reads with the short
    timeout a callback request needs.
    """
    if not event.verified or event.state not in RETRYABLE_EVENT_STATES:
        return event
    try:
        parsed = parsed_event(event)
        invoice = event.invoice if event.invoice_id else None
        twin = getattr(event, _APPLIED_TWIN, None) if invoice is not None else None
        if invoice is None:
            invoice = _resolve_through_api(parsed, event.account, fast=fast)
            if invoice is None:
                return _finish(event, CallbackEvent.State.IGNORED, OUTCOME_UNKNOWN)
            event.invoice = invoice
        if twin is None and event.dedupe_key:
            twin = _applied_twins(invoice, event.dedupe_key).exclude(pk=event.pk).exists()
        if twin:
            # The same news was read already; the read that applied it came after it.
            return _finish(event, CallbackEvent.State.DUPLICATE, "same news already applied")
        started = dj_timezone.now()
        # No row is locked while the provider answers.
        data = get_client(invoice.account, fast=fast).get_invoice(str(invoice.provider_id))
        check_same_invoice(invoice, data)
        with transaction.atomic():
            locked = lock_invoice(invoice)
            state, others = _lock_event_and_others(event, locked, started)
            if state not in RETRYABLE_EVENT_STATES:
                event.refresh_from_db()  # settled meanwhile by another worker or a sweep
                return event
            result = apply_data_locked(locked, data)
            outcome = f"read {data.get('status')!r}: {describe(result)}"
            covered = settle_covered_events(locked, data, started, by=event.pk, candidates=others)
            if covered:
                outcome += f"; covered {covered} other event(s)"
            ahead = news_ahead_of_read(parsed, data, locked)
            if ahead:
                return _retry_later(event, f"{outcome}; {ahead}")
            return _finish(event, CallbackEvent.State.APPLIED, outcome)
    except InvalidResponse as exc:
        # The provider's answer, not the callback, is at fault: ask again later.
        return _retry_later(event, f"will retry: {exc}")
    except DataError as exc:
        # The data does not fit the database, and would not on the next attempt either.
        logger.exception("Callback event %s cannot be stored", event.pk)
        return _finish(event, CallbackEvent.State.FAILED, f"cannot store: {exc}")
    except (KunaPayError, DatabaseError) as exc:
        logger.warning("Callback event %s stays pending: %s", event.pk, exc)
        return _retry_later(event, f"will retry: {exc}")


def _lock_event_and_others(
    event: CallbackEvent, invoice: Invoice, started: datetime
) -> tuple[str | None, list[CallbackEvent]]:
    """Lock the event, and the other pending events a read of its (locked) invoice may
    cover (see ``settle_covered_events``), in one query; returns the event's state now
    and the others."""
    rows = list(
        CallbackEvent.objects.select_for_update(skip_locked=True)
        .filter(Q(pk=event.pk) | _may_be_covered(invoice, started))
        .only("pk", "body", "state")
    )
    own = [row.state for row in rows if row.pk == event.pk]
    if own:
        return own[0], [row for row in rows if row.pk != event.pk]
    # Held by someone else for the moment (not under this invoice's lock): wait for it.
    state = (
        CallbackEvent.objects.select_for_update()
        .filter(pk=event.pk)
        .values_list("state", flat=True)
        .first()
    )
    return state, [row for row in rows if row.pk != event.pk]


def describe(result: Transition) -> str:
    if result.changed:
        return f"{result.old_status} -> {result.new_status}"
    return f"no change (stays {result.old_status})"


def invoice_of_event(event: CallbackEvent) -> Invoice | None:
    """The invoice an authentic event names, as far as our own records tell.

    For pages that show an event not applied (yet): nothing is locked, read from the
    provider or changed.
    """
    if event.invoice_id is not None:
        return event.invoice
    if not event.verified:
        return None
    try:
        parsed = callbacks.parse(event.body.encode("utf-8"))
    except ValueError:
        return None
    return find_named_invoice(parsed, event.account)


def _resolve_through_api(
    parsed: callbacks.ParsedCallback, account: str, *, fast: bool
) -> Invoice | None:
    """An event our records could not place: its ``data.id`` may be a transaction the
    API can name the invoice of (``GET /v1/transaction/{id}``: ``invoiceId``)."""
    invoice = find_named_invoice(parsed, account)  # recorded since it arrived?
    if invoice is not None or not parsed.object_id or parsed.kind == "invoice":
        return invoice
    if account not in conf.account_names():
        return None
    try:
        found = get_client(account, fast=fast).get_transaction(parsed.object_id)
    except (NotFound, ValueError):
        return None
    invoice_id = _uuid(callbacks.text_of(found.get("invoiceId")))
    if invoice_id is None:
        return None
    return (
        Invoice.objects.filter(account=account, provider_id=invoice_id)
        .select_related("order")
        .first()
    )


def news_ahead_of_read(
    parsed: callbacks.ParsedCallback, data: dict[str, Any], invoice: Invoice
) -> str:
    """What the callback tells that the read does not show (yet), in words; "" if
    nothing. The read was applied all the same: this only decides whether to ask again
    (the provider's API may lag behind its own callbacks)."""
    if _uuid(parsed.object_id) == invoice.provider_id:
        claimed = PROVIDER_STATUS_MAP.get(parsed.status.strip().upper())
        read = PROVIDER_STATUS_MAP.get(str(data.get("status") or "").strip().upper())
        if claimed is not None and read is not None and claimed != read and may_move(read, claimed):
            return f"the API says {data.get('status')!r}, not {parsed.status!r}; will ask again"
        return ""
    if parsed.kind == "deposit" or parsed.data.get("type") in ("Deposit", "InvoiceDeposit"):
        listed = data.get("transactions")
        ids = {
            str(item.get("id"))
            for item in (listed if isinstance(listed, list) else [])
            if isinstance(item, dict)
        }
        if parsed.object_id and parsed.object_id not in ids:
            return f"the API lists no transaction {parsed.object_id!r}; will ask again"
    return ""


def settle_covered_events(
    invoice: Invoice,
    data: dict[str, Any],
    started: datetime,
    *,
    by: int | None = None,
    candidates: list[CallbackEvent] | None = None,
) -> int:
    """Mark the pending events of a locked invoice that a read answered as applied.

    Covered: verified, pending, naming this invoice, received before the read started
    (a later one may carry news the read did not see) and telling nothing the read
    does not show. Rows another worker holds are skipped; it settles them itself.
    ``candidates``: those events, locked already by the caller. Returns how many were
    settled.
    """
    if candidates is None:
        pending = CallbackEvent.objects.select_for_update(skip_locked=True).filter(
            _may_be_covered(invoice, started)
        )
        if by is not None:
            pending = pending.exclude(pk=by)
        candidates = list(pending.only("pk", "body"))
    covered = []
    for candidate in candidates:
        try:
            parsed = parsed_event(candidate)
        except callbacks.MalformedCallback:
            continue
        if not news_ahead_of_read(parsed, data, invoice):
            covered.append(candidate.pk)
    if not covered:
        return 0
    source = f"event {by}" if by is not None else "invoices_sync"
    return CallbackEvent.objects.filter(pk__in=covered).update(
        invoice=invoice,
        state=CallbackEvent.State.APPLIED,
        outcome=f"covered by the read for {source} (provider said {data.get('status')!r})",
        attempts=F("attempts") + 1,
        processed_at=dj_timezone.now(),
    )


def _may_be_covered(invoice: Invoice, started: datetime) -> Q:
    """The events a read of ``invoice`` that started at ``started`` may settle."""
    # Also the events about the invoice not placed on it yet (acknowledged by a worker
    # backend), found by the invoice id they name.
    unplaced = Q(invoice__isnull=True, account=invoice.account, subject=str(invoice.provider_id))
    return (Q(invoice=invoice) | unplaced) & Q(
        verified=True,
        state=CallbackEvent.State.PENDING,
        received_at__lte=started,
    )


def _retry_later(event: CallbackEvent, outcome: str) -> CallbackEvent:
    """Pending, for a later attempt; after ``CONFIRM_ATTEMPTS`` failed, for staff."""
    if event.attempts + 1 >= CONFIRM_ATTEMPTS:
        logger.error("Gave up on callback event %s: %s", event.pk, outcome)
        return _finish(event, CallbackEvent.State.FAILED, f"{outcome}; gave up")
    return _finish(event, CallbackEvent.State.PENDING, outcome)


def _finish(event: CallbackEvent, state: str, outcome: str) -> CallbackEvent:
    event.state = state
    event.outcome = outcome
    event.attempts += 1
    event.processed_at = dj_timezone.now()
    event.save(update_fields=["state", "outcome", "attempts", "processed_at", "invoice"])
    return event


def process_pending_callbacks(
    *, limit: int = 500, include_failed: bool = False, fast: bool = False
) -> dict[str, int]:
    """Act on stored callbacks still pending (oldest first); returns counts per state."""
    return process_callback_events(
        pending_event_ids(limit=limit, include_failed=include_failed), fast=fast
    )


def pending_event_ids(*, limit: int = 500, include_failed: bool = False) -> list[int]:
    """Ids of the verified events still to act on, oldest first."""
    states = list(RETRYABLE_EVENT_STATES) if include_failed else [CallbackEvent.State.PENDING]
    return list(
        CallbackEvent.objects.filter(verified=True, state__in=states)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def process_event_by_id(pk: int, *, fast: bool = False) -> CallbackEvent | None:
    """``process_callback_event`` for the event with this id, loaded afresh (a task's
    argument, or one id of a list made earlier: another read may have settled it)."""
    # The invoice without its order: what is applied is read again under its lock.
    event = CallbackEvent.objects.select_related("invoice").filter(pk=pk).first()
    if event is None:
        return None
    return process_callback_event(event, fast=fast)


def process_callback_events(
    events: Iterable[CallbackEvent | int], *, fast: bool = False
) -> dict[str, int]:
    """``process_callback_event`` for each event (or id) in turn; counts per state.

    Each is loaded afresh before it is acted on, so one settled by an earlier event's
    read costs nothing. An event that breaks in a way nobody foresaw is logged and keeps
    its state: it must not stop the events after it.
    """
    counts: dict[str, int] = {}
    for item in events:
        pk = item if isinstance(item, int) else item.pk
        try:
            event = process_event_by_id(pk, fast=fast)
            if event is None:
                continue
            state = event.state
        except Exception:
            logger.exception("Applying callback event %s failed; it stays as it was", pk)
            state = CallbackEvent.objects.values_list("state", flat=True).get(pk=pk)
        counts[state] = counts.get(state, 0) + 1
    return counts


def _ip_or_none(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def prune_rejected_events(*, older_than: timedelta, dry_run: bool = False) -> int:
    """Delete refused callbacks received ``older_than`` ago or earlier; how many.

    Only refused ones (unverified, malformed, oversized): authentic events are the
    audit log of what changed invoices and are kept.
    """
    old = CallbackEvent.objects.filter(
        state=CallbackEvent.State.REJECTED, received_at__lte=dj_timezone.now() - older_than
    )
    if dry_run:
        return old.count()
    deleted, _by_model = old.delete()
    return deleted
