"""Handing work to where the shop wants it done: the request, or a task worker.

With a task system, callbacks that arrive while a task is queued and not started ride
along with it, so a busy shop sends the broker one message per task, not one per
callback. The first callback queues a task and marks its merchant account "queued" in
the shared cache; the ones after it only store themselves. The task, once started,
clears the mark (a callback stored from then on queues a task of its own) and takes
in hand every callback of the account still waiting (``hand_on_waiting``): those
about its own invoice it applies itself, after one read of the API
(``pending_events_with``); for each other invoice it queues one task. The mark
expires after ``QUEUED_MARK_SECONDS``: should a task be lost, a later callback queues
again, and the sweep (``invoices_process_callbacks``) applies what waited.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache
from django.db import transaction

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
            return event  # the account's task is queued and not started: it takes this one
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


def hand_on_waiting(event: CallbackEvent) -> int:
    """Clear the "queued" mark of ``event``'s account and take in hand the callbacks
    of that account that waited for its task: those about ``event``'s own subject are
    left to ``pending_events_with``; for each other subject one task is queued
    (``process_callback_events``). Returns how many tasks were queued.

    Each waiting callback is taken by one task only (``taken_by``), so two tasks
    started at once never queue the same one twice. Should a task not be queued, its
    callbacks go back to waiting for the next task, or the sweep.
    """
    _clear(queued_mark(event))
    about: dict[str, list[int]] = {}
    for pk, subject in _take_waiting(event):
        if subject != event.subject:
            about.setdefault(subject, []).append(pk)
    queued = 0
    for pks in about.values():
        try:
            background.enqueue("process_callback_events", pks, at_once=True)
        except Exception:
            logger.exception("Could not queue callback events %s; they wait", pks)
            CallbackEvent.objects.filter(pk__in=pks).update(taken_by=None)
        else:
            queued += 1
    return queued


def _take_waiting(event: CallbackEvent) -> list[tuple[int, str]]:
    """The account's pending callbacks no task has taken, now taken by ``event``'s, as
    ``(pk, subject)`` oldest first. Rows another task is taking are skipped."""
    waiting = CallbackEvent.objects.filter(
        account=event.account,
        state=CallbackEvent.State.PENDING,
        taken_by__isnull=True,
        verified=True,
    ).exclude(subject="")
    with transaction.atomic():
        taken = list(
            waiting.select_for_update(skip_locked=True)
            .order_by("received_at", "pk")
            .values_list("pk", "subject")
        )
        if taken:
            CallbackEvent.objects.filter(
                pk__in=[pk for pk, _ in taken], taken_by__isnull=True
            ).update(taken_by=event.pk)
    return taken


def pending_events_with(event: CallbackEvent) -> list[CallbackEvent]:
    """``event`` and the other pending callbacks about its invoice, oldest first.

    "About its invoice": the same ``subject`` (the invoice id the callback names, or
    its ``externalOrderId``), looked up through that column's index, never by searching
    the bodies of a backlog.
    """
    if not event.verified or not event.subject:
        return [event]
    others = CallbackEvent.objects.filter(
        account=event.account,
        subject=event.subject,
        verified=True,
        state=CallbackEvent.State.PENDING,
    ).exclude(pk=event.pk)
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
    """The cache key that says a task is queued for ``event``'s merchant account; ""
    for a callback no task gathers (unverified, or naming nothing)."""
    if not event.verified or not event.subject:
        return ""
    # A digest: any account name makes a key every cache backend takes.
    about = hashlib.sha256(event.account.encode()).hexdigest()
    return f"django_invoices:queued:{about[:32]}"


def _clear(mark: str) -> None:
    if not mark:
        return
    try:
        cache.delete(mark)
    except Exception:
        logger.warning("Cannot clear the queued mark %s", mark, exc_info=True)
