"""Handing work to where the shop wants it done: the request, or a task worker."""

from __future__ import annotations

import logging

from .. import background
from ..models import CallbackEvent
from .callback_events import process_callback_event

logger = logging.getLogger("django_invoices")


def dispatch_callback_event(event: CallbackEvent) -> CallbackEvent:
    """Apply a stored, authentic callback now, or queue it for a worker.

    With a task system (``TASKS``) nothing here talks to the provider: the event stays
    pending and a task applies it. When the task cannot be queued (the broker is down),
    the event is applied here instead, as without a worker.
    """
    if not background.queued() or event.state != CallbackEvent.State.PENDING:
        return process_callback_event(event)
    try:
        # The event was committed when stored (``receive_callback``).
        background.enqueue("process_callback_event", event.pk, at_once=True)
    except Exception:
        logger.exception("Could not queue callback event %s; applying it now", event.pk)
        return process_callback_event(event)
    return event
