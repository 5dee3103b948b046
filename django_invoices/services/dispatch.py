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

import hashlib
import logging

from django.core.cache import cache

from .. import background
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
    clearing the invoice's "queued" mark (callbacks stored from now on queue anew).

    "About its invoice": the same ``subject`` (the invoice id the callback names, or
    its ``externalOrderId``), looked up through that column's index, never by searching
    the bodies of a backlog.
    """
    _clear(queued_mark(event))
    if not event.verified or not event.subject:
        return [event]
    others = (
        CallbackEvent.objects.filter(
            account=event.account,
            subject=event.subject,
            verified=True,
            state=CallbackEvent.State.PENDING,
        )
        .exclude(pk=event.pk)
        .order_by("received_at", "pk")
    )
    together = [event, *others]
    _place(together)
    return sorted(together, key=lambda e: (e.received_at, e.pk))


def _place(events: list[CallbackEvent]) -> None:
    """Put the events a worker gathered (all about one invoice) on that invoice, if we
    know it: a callback acknowledged by a worker backend was stored on none, and placed
    it is listed under its invoice and asked about by it (was its news applied?)."""
    unplaced = [event for event in events if event.invoice_id is None]
    if not unplaced:
        return
    invoice = find_named_invoice(parsed_event(unplaced[0]), unplaced[0].account, light=True)
    if invoice is None:
        return
    CallbackEvent.objects.filter(pk__in=[e.pk for e in unplaced], invoice__isnull=True).update(
        invoice=invoice
    )
    for event in unplaced:
        event.invoice = invoice


def queued_mark(event: CallbackEvent) -> str:
    if not event.verified or not event.subject:
        return ""
    # A digest: an externalOrderId may hold spaces or other characters memcached
    # refuses in a key.
    about = hashlib.sha256(f"{event.account}\x1f{event.subject}".encode()).hexdigest()
    return f"django_invoices:queued:{about[:32]}"


def _clear(mark: str) -> None:
    if not mark:
        return
    try:
        cache.delete(mark)
    except Exception:
        logger.warning("Cannot clear the queued mark %s", mark, exc_info=True)
