"""Handing work to where the shop wants it done: the request, or a task worker.

With a task system, a burst of callbacks about one invoice queues one task: the first
callback queues it and marks the invoice "queued" in the shared cache; the ones after
it, while the task has not started, only join the pending events that task applies
(``pending_events_with``). The task clears the mark before it looks for them, so a
callback stored after that queues a task of its own. The mark expires after
``QUEUED_MARK_SECONDS``: should a task be lost, later callbacks queue again, and the
sweep (``invoices_process_callbacks``) applies what waited.
"""

from __future__ import annotations

import logging
import uuid

from django.core.cache import cache
from django.db.models import Q

from .. import background, callbacks
from ..models import CallbackEvent
from .callback_events import find_named_invoice, parsed_event, process_callback_event

logger = logging.getLogger("django_invoices")

QUEUED_MARK_SECONDS = 60


def dispatch_callback_event(event: CallbackEvent) -> CallbackEvent:
    """Apply a stored, authentic callback now, or queue it for a worker.

    With a task system (``TASKS``) nothing here talks to the provider: the event stays
    pending and a task applies it. When the task cannot be queued (the broker is down),
    the event is applied here instead, as without a worker.
    """
    if not background.queued() or event.state != CallbackEvent.State.PENDING:
        return process_callback_event(event)
    mark = queued_mark(event)
    try:
        if mark and not cache.add(mark, event.pk, timeout=QUEUED_MARK_SECONDS):
            return event  # the invoice's task is queued and not started: it takes this one
    except Exception:  # the cache is down: queue a task of its own
        logger.warning("Cannot mark callback event %s as queued", event.pk, exc_info=True)
    try:
        # The event was committed when stored (``receive_callback``).
        background.enqueue("process_callback_event", event.pk, at_once=True)
    except Exception:
        logger.exception("Could not queue callback event %s; applying it now", event.pk)
        _clear(mark)
        return process_callback_event(event)
    return event


def pending_events_with(event: CallbackEvent) -> list[CallbackEvent]:
    """``event`` and the other pending callbacks about its invoice, oldest first, after
    clearing the invoice's "queued" mark (callbacks stored from now on queue anew)."""
    subject = _subject(event)
    _clear(queued_mark(event))
    if subject is None:
        return [event]
    account, reference = subject
    # Events placed on an invoice are found by it; those on none (every event a worker
    # backend acknowledged, until a task places it; a callback that overtook its
    # invoice's creation) are searched for by the text of their body.
    about = Q(object_id__iexact=reference) | Q(invoice__isnull=True, body__icontains=reference)
    if event.invoice_id is not None:
        about |= Q(invoice=event.invoice_id)
    candidates = (
        CallbackEvent.objects.filter(
            account=account, verified=True, state=CallbackEvent.State.PENDING
        )
        .filter(about)
        .exclude(pk=event.pk)
        .order_by("received_at", "pk")
    )
    together = [event, *(other for other in candidates if _subject(other) == subject)]
    _place(together)
    return sorted(together, key=lambda e: (e.received_at, e.pk))


def _place(events: list[CallbackEvent]) -> None:
    """Put the events a worker gathered (all naming one invoice) on that invoice, if we
    know it: a callback acknowledged by a worker backend was stored unplaced, and the
    first event's read covers only the events placed on its invoice."""
    unplaced = [event for event in events if event.invoice_id is None]
    if not unplaced:
        return
    invoice = find_named_invoice(parsed_event(unplaced[0]), unplaced[0].account)
    if invoice is None:
        return
    CallbackEvent.objects.filter(pk__in=[e.pk for e in unplaced], invoice__isnull=True).update(
        invoice=invoice
    )
    for event in unplaced:
        event.invoice = invoice


def queued_mark(event: CallbackEvent) -> str:
    subject = _subject(event)
    if subject is None:
        return ""
    return "django_invoices:queued:" + ":".join(subject)


def _subject(event: CallbackEvent) -> tuple[str, str] | None:
    """(account, invoice id or external order id): what a callback is about."""
    if not event.verified:
        return None
    try:
        parsed = parsed_event(event)
    except callbacks.MalformedCallback:
        return None
    if parsed.invoice_id:
        try:
            return event.account, str(uuid.UUID(parsed.invoice_id))
        except ValueError:
            return event.account, parsed.invoice_id
    if parsed.external_order_id:
        return event.account, parsed.external_order_id
    return None


def _clear(mark: str) -> None:
    if not mark:
        return
    try:
        cache.delete(mark)
    except Exception:
        logger.warning("Cannot clear the queued mark %s", mark, exc_info=True)
