"""The callback pipeline, from the request to the applied read.

::

    view ─ parse ─ verify ─ store ─ locate ─┬─ read ─ apply ─ settle      (in the request)
                                            └─ wake ─ [worker] read ─ apply ─ settle

``handle_callback`` runs the first steps (``receipt.receive``: parse, verify, locate,
store) and then forks once, on ``TASKS``: without a task system the invoice is read and
applied in the request (``process_invoice``); with one, a worker is woken
(``queue.wake``) and drains the queue (``drain``). Either way the same function reads,
applies and settles (``reads.apply_read``), under the invoice's lease and lock. The
pending rows are the queue: ``drain`` (a worker, or ``invoices_process_callbacks``)
finds whatever waits, whoever was or was not woken.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, DataError
from django.utils import timezone as dj_timezone

from .. import background, callbacks, conf, signals, telemetry
from ..exceptions import KunaPayError, NotFound
from ..models import CallbackEvent, Invoice
from . import queue, reads, receipt, settle
from .customer import refresh_if_stale
from .locate import locate
from .provider import get_client

logger = logging.getLogger("django_invoices")

OUTCOME_UNKNOWN = receipt.OUTCOME_UNKNOWN

#: Seconds a callback request waits for another request's read of the same invoice
#: before it leaves its event to the next read: within the provider's 2 seconds.
WAIT_FOR_READER = 1.0

#: What one drain does before it hands the rest to the next one: other tasks get a turn.
DRAIN_SECONDS = 30.0


# -- in the request ---------------------------------------------------------------------


def handle_callback(
    account: str,
    body: bytes,
    headers: Mapping[str, str],
    remote_addr: str | None = None,
    *,
    body_size: int | None = None,
) -> receipt.Receipt:
    """Store a callback and act on it: read, apply and settle in the request, or wake a
    worker. Never raises for an authentic callback once it is stored: whatever goes
    wrong after that leaves it pending, for a worker or the sweep."""
    with telemetry.span("callback", account=account[:64]) as step:
        stored = _handle(account, body, headers, remote_addr, body_size, step)
        step.set(outcome=stored.event.state if not stored.rejection else stored.outcome)
    return stored


def _handle(
    account: str,
    body: bytes,
    headers: Mapping[str, str],
    remote_addr: str | None,
    body_size: int | None,
    step: telemetry.Step,
) -> receipt.Receipt:
    with telemetry.span("callback.receive", account=account[:64]) as receiving:
        stored = receipt.receive(account, body, headers, remote_addr, body_size=body_size)
        event = stored.event
        reason = stored.rejection if stored.outcome == "refused" else ""
        # Once: what names the event does not change before it is acted on.
        named = telemetry.ids(event=event)
        receiving.set(outcome=stored.outcome, reason=reason, **named)
    step.set(**named)
    _announce(stored, account, reason)
    if stored.rejection in (receipt.REJECT_NO_SIGNATURE, receipt.REJECT_BAD_SIGNATURE):
        _read_for_refused(account, body)
    if stored.rejection or event.state != CallbackEvent.State.PENDING:
        return stored
    try:
        if background.queued():
            try:
                with telemetry.span("callback.wake", **named):
                    queue.wake()
                return stored
            except Exception:
                logger.exception(
                    "Could not wake a worker for event %s; applying it now",
                    event.pk,
                    extra=telemetry.ids(event=event),
                )
        _act_in_request(event)
    except Exception:  # the event is stored; never answer an authentic callback with 500
        logger.exception(
            "Applying callback event %s failed; it stays pending",
            event.pk,
            extra=telemetry.ids(event=event),
        )
    return stored


def _announce(stored: receipt.Receipt, account: str, reason: str) -> None:
    """``signals.callback_received``, for metrics; a receiver's error is only logged."""
    for receiver, error in signals.callback_received.send_robust(
        sender=CallbackEvent,
        event=stored.event,
        account=account[:64],
        outcome=stored.outcome,
        reason=reason,
    ):
        if isinstance(error, Exception):
            logger.warning(
                "Receiver %r of callback_received failed",
                receiver,
                exc_info=(type(error), error, error.__traceback__),
            )


def _act_in_request(event: CallbackEvent) -> None:
    invoice = event.invoice if event.invoice_id else resolve(event, fast=True)
    if invoice is None:
        return
    deadline = time.monotonic() + WAIT_FOR_READER
    while True:
        done = process_invoice(invoice, fast=True)
        if done is not None:
            _note(event, done)
            return
        if not _read_by_another(invoice):
            return  # backed off: its next read is scheduled, this event waits for it
        # Another request is reading the invoice, and its read may answer this event
        # too: wait for it (within the provider's 2 seconds), then read if still needed.
        while time.monotonic() < deadline:
            time.sleep(0.05)
            state, outcome, lease = (
                CallbackEvent.objects.filter(pk=event.pk)
                .values_list("state", "outcome", "invoice__read_lease_until")
                .get()
            )
            if state != CallbackEvent.State.PENDING:
                event.state, event.outcome = state, outcome
                return
            if lease is None or lease <= dj_timezone.now():
                break
        else:
            return


def _read_by_another(invoice: Invoice) -> bool:
    """Whether another reader holds the invoice (rather than its backoff delaying it)."""
    now = dj_timezone.now()
    return Invoice.objects.filter(pk=invoice.pk, read_lease_until__gt=now).exists()


def _note(event: CallbackEvent, done: Processed) -> None:
    """What became of ``event`` in a read the request made, without reading it back."""
    if event.pk in done.states:
        event.state = done.states[event.pk]
        event.outcome = done.outcomes[event.pk]


def _read_for_refused(account: str, body: bytes) -> None:
    """A refused callback that names an open invoice (or one ended unpaid within
    ``LATE_PAYMENT_WINDOW``) has it read, at most once per ``REFRESH_MIN_INTERVAL``: a
    wrong guess about the signature recipe then delays nothing, and a forger gains
    only a rate-limited read."""
    try:
        parsed = callbacks.parse(body)
    except callbacks.MalformedCallback:
        return
    try:
        located = locate(parsed, account) if conf.has_account(account) else None
        if located is not None:
            invoice = Invoice.objects.select_related("order").get(pk=located.invoice.pk)
            refresh_if_stale(invoice, late_payments=True)
    except Exception:  # a refused callback is answered 401 whatever happens here
        logger.exception(
            "The read a refused callback asked for failed", extra=telemetry.ids(account=account)
        )


# -- one invoice ------------------------------------------------------------------------


@dataclass
class Processed:
    """What one read of an invoice did to the callbacks waiting on it: their states,
    and each one's outcome as written."""

    states: dict[int, str] = field(default_factory=dict)
    outcomes: dict[int, str] = field(default_factory=dict)

    def counts(self) -> Counter[str]:
        return Counter(self.states.values())


def process_invoice(invoice: Invoice, *, fast: bool, due_only: bool = True) -> Processed | None:
    """Read the invoice for the callbacks waiting on it, apply the read and settle them.

    None when another reader holds the invoice, when none of its callbacks waits any
    longer, or (``due_only``) when their next read is not due yet. A read that fails
    leaves them pending, the invoice backed off; one that cannot be stored fails them
    for staff.
    """
    try:
        if queue.claim(invoice, fast=fast, due_only=due_only, waiting=True) is None:
            return None
    except ImproperlyConfigured as exc:  # its merchant account is gone from the settings
        logger.warning(
            "Cannot read invoice %s for its callbacks: %s",
            invoice,
            exc,
            extra=telemetry.ids(invoice=invoice),
        )
        return Processed()
    started = dj_timezone.now()
    try:
        done = reads.apply_read(invoice, reads.read(invoice, fast=fast), started, leased=True)
    except DataError as exc:
        # The answer does not fit the database, and would not next time either.
        logger.exception(
            "The read of invoice %s cannot be stored", invoice, extra=telemetry.ids(invoice=invoice)
        )
        return _failed_read(invoice, started, f"cannot store: {exc}", give_up=True)
    except (KunaPayError, DatabaseError) as exc:  # InvalidResponse included
        logger.warning(
            "Reading invoice %s for its callbacks failed: %s",
            invoice,
            exc,
            extra=telemetry.ids(invoice=invoice),
        )
        return _failed_read(invoice, started, str(exc))
    except Exception:
        # Nobody foresaw it: back off, so no reader loops on it, and let it be seen.
        queue.release(invoice, confirmed=False)
        raise
    settlement = done.settlement
    settled = [*settlement.applied, *settlement.ahead, *settlement.failed]
    return Processed(
        {pk: str(settlement.state_of(pk)) for pk in settled},
        {pk: settlement.outcome_of(pk, done.outcome) for pk in settled},
    )


def _failed_read(
    invoice: Invoice, started: datetime, reason: str, *, give_up: bool = False
) -> Processed:
    waiting = list(
        queue.pending()
        .filter(invoice=invoice, received_at__lte=started)
        .values_list("pk", flat=True)
    )
    if give_up:
        settle.settle_as(waiting, CallbackEvent.State.FAILED, reason)
        settle.announce(invoice, dict.fromkeys(waiting, CallbackEvent.State.FAILED), [])
        queue.release(invoice, confirmed=None)
        return Processed(dict.fromkeys(waiting, "failed"), dict.fromkeys(waiting, reason))
    settle.record_failed_read(invoice, started, reason)
    queue.release(invoice, confirmed=False)
    rows = CallbackEvent.objects.filter(pk__in=waiting).values_list("pk", "state", "outcome")
    return Processed({pk: state for pk, state, _ in rows}, {pk: said for pk, _, said in rows})


# -- events no invoice of ours was found for ---------------------------------------------


def resolve(event: CallbackEvent, *, fast: bool) -> Invoice | None:
    """Place an authentic event our records could not: by our records again (the
    invoice may have been recorded since it arrived), then by asking the provider's
    transaction API which invoice its ``data.id`` belongs to. An event neither places
    is settled as ignored; one the provider could not answer for stays pending."""
    try:
        parsed = callbacks.parse(event.body.encode("utf-8"))
    except callbacks.MalformedCallback:
        settle.settle_as([event.pk], CallbackEvent.State.IGNORED, OUTCOME_UNKNOWN)
        event.state = CallbackEvent.State.IGNORED
        return None
    located = locate(parsed, event.account)
    invoice = located.invoice if located is not None else None
    if invoice is None and parsed.object_id and parsed.kind != "invoice":
        try:
            invoice = _by_transaction(parsed.object_id, event.account, fast=fast)
        except KunaPayError as exc:
            logger.warning(
                "Placing callback event %s failed: %s",
                event.pk,
                exc,
                extra=telemetry.ids(event=event),
            )
            _retry_placing(event, str(exc))
            return None
    if invoice is None:
        settle.settle_as([event.pk], CallbackEvent.State.IGNORED, OUTCOME_UNKNOWN)
        event.state, event.outcome = CallbackEvent.State.IGNORED, OUTCOME_UNKNOWN
        return None
    CallbackEvent.objects.filter(pk=event.pk, invoice__isnull=True).update(invoice=invoice)
    event.invoice = invoice
    return invoice


def _by_transaction(transaction_id: str, account: str, *, fast: bool) -> Invoice | None:
    # The provider's ids are UUIDs: anything else it could never know, so nothing is
    # asked (and nothing retried) for it.
    if not conf.has_account(account) or callbacks.uuid_or_none(transaction_id) is None:
        return None
    try:
        found = get_client(account, fast=fast).get_transaction(transaction_id)
    except (NotFound, ValueError):
        return None
    invoice_id = callbacks.uuid_or_none(found.invoice_id)
    if invoice_id is None:
        return None
    return (
        Invoice.objects.filter(account=account, provider_id=invoice_id)
        .only("pk", "provider_id", "account")
        .first()
    )


def _retry_placing(event: CallbackEvent, reason: str) -> None:
    if event.attempts + 1 >= settle.CONFIRM_ATTEMPTS:
        settle.settle_as([event.pk], CallbackEvent.State.FAILED, f"will retry: {reason}; gave up")
        event.state = CallbackEvent.State.FAILED
        return
    CallbackEvent.objects.filter(pk=event.pk).update(
        outcome=f"will retry: {reason}"[:2000],
        attempts=event.attempts + 1,
        processed_at=dj_timezone.now(),
    )


def _placing_due(event: CallbackEvent, now: datetime) -> bool:
    """An event the provider could not place is asked about again after the same
    backoff as a read."""
    if event.processed_at is None or not event.attempts:
        return True
    return (now - event.processed_at).total_seconds() >= queue.read_backoff(event.attempts)


# -- draining the queue -----------------------------------------------------------------


@dataclass
class Drained:
    """What a drain did, as counts of events per state reached."""

    counts: Counter[str] = field(default_factory=Counter)
    invoices_read: int = 0
    more: bool = False


def drain(
    *,
    fast: bool = False,
    limit: int = 500,
    seconds: float = DRAIN_SECONDS,
    due_only: bool = True,
) -> Drained:
    """Act on everything that waits and is due: place the events not placed yet, then
    read each invoice with callbacks waiting, least recently waiting first, once.

    A worker's task (``drain_callbacks``), ``invoices_process_callbacks`` and the sweep
    run this. Several drains may run at once: each invoice is read by the one that
    claims it. What is not due yet (backed off, or held by a reader) gets a deferred
    drain at the time it is due, with a task system. ``due_only=False`` (the commands
    run by hand or from cron) reads invoices still backing off too.
    """
    queue.drain_started()
    report = Drained()
    deadline = time.monotonic() + seconds
    now = dj_timezone.now()
    for pk in queue.unlocated_events(limit):
        event = CallbackEvent.objects.filter(pk=pk).first()
        if event is None or event.state != CallbackEvent.State.PENDING:
            continue
        if due_only and not _placing_due(event, now):
            continue
        try:
            placed = resolve(event, fast=fast)
        except Exception:
            logger.exception(
                "Placing callback event %s failed", event.pk, extra=telemetry.ids(event=event)
            )
            continue
        if placed is None and event.state != CallbackEvent.State.PENDING:
            report.counts[event.state] += 1
    seen: set[int] = set()
    while len(seen) < limit and time.monotonic() < deadline:
        due = [
            pk
            for pk in queue.due_invoices(limit=len(seen) + 2, due_only=due_only)
            if pk not in seen
        ]
        if not due:
            break
        if len(due) > 1 and not report.more and background.queued():
            report.more = True
            _wake_quietly()  # another drain takes the next invoice meanwhile
        seen.add(due[0])
        invoice = Invoice.objects.only("pk", "provider_id", "account", "callbacks_unconfirmed")
        found = invoice.filter(pk=due[0]).first()
        if found is None:
            continue
        try:
            done = process_invoice(found, fast=fast, due_only=due_only)
        except Exception:  # nobody foresaw it: the others must not wait for the fix
            logger.exception(
                "Acting on the callbacks of invoice %s failed",
                found,
                extra=telemetry.ids(invoice=found),
            )
            continue
        if done is not None:
            report.invoices_read += 1
            report.counts.update(done.counts())
    else:
        if background.queued() and queue.due_invoices(limit=1):
            _wake_quietly()  # out of time with work left: the next drain goes on
    if background.queued():
        later = queue.next_due()
        if later is not None:
            queue.schedule(later)
    return report


def _wake_quietly() -> None:
    try:
        queue.wake()
    except Exception:
        logger.warning("Could not queue another drain of the callbacks", exc_info=True)


def reapply(events: Iterable[CallbackEvent | int], *, fast: bool = False) -> Counter[str]:
    """Act again on chosen authentic events, pending or failed (staff's action): failed
    ones wait again, and each of their invoices is read now, backoff or not."""
    pks = [item if isinstance(item, int) else item.pk for item in events]
    chosen = CallbackEvent.objects.filter(
        pk__in=pks, verified=True, state__in=RETRYABLE_EVENT_STATES
    )
    chosen.filter(state=CallbackEvent.State.FAILED).update(state=CallbackEvent.State.PENDING)
    counts: Counter[str] = Counter()
    for event in chosen.filter(invoice__isnull=True).order_by("received_at", "pk"):
        if resolve(event, fast=fast) is None and event.state != CallbackEvent.State.PENDING:
            counts[event.state] += 1
    invoices = (
        Invoice.objects.filter(callback_events__pk__in=pks)
        .distinct()
        .only("pk", "provider_id", "account", "callbacks_unconfirmed")
    )
    for invoice in invoices:
        done = process_invoice(invoice, fast=fast, due_only=False)
        if done is not None:
            counts.update(done.counts())
    return counts


RETRYABLE_EVENT_STATES = (CallbackEvent.State.PENDING, CallbackEvent.State.FAILED)


def invoice_of_event(event: CallbackEvent) -> Invoice | None:
    """The invoice an authentic event is about, as far as our records tell now (for
    pages that show an event no read has placed): nothing is read or changed."""
    if event.invoice_id is not None:
        return event.invoice
    if not event.verified:
        return None
    try:
        parsed = callbacks.parse(event.body.encode("utf-8"))
    except ValueError:
        return None
    located = locate(parsed, event.account)
    return located.invoice if located is not None else None
