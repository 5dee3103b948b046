"""Where work that talks to KUNA Pay runs: in the request, or queued for a worker.

``DJANGO_INVOICES["TASKS"]`` chooses: None (the default) runs everything where it is
asked for, "django.tasks" sends it through Django's Tasks framework, "celery" through
the shop's Celery app. Callers name a job of ``django_invoices.tasks.jobs`` and pass
ids; this module finds the task system's own module by name (``SENDERS``) and knows
nothing else of it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from importlib import import_module
from typing import Any

from django.db import transaction

from . import conf

logger = logging.getLogger("django_invoices")

IN_REQUEST = None
DJANGO_TASKS = "django.tasks"
CELERY = "celery"
MODES = (IN_REQUEST, DJANGO_TASKS, CELERY)


def mode() -> str | None:
    """The configured task system, or None when work runs in the request."""
    return conf.get("TASKS") or None


def queued() -> bool:
    """True when work goes to a worker rather than running in the caller."""
    return mode() is not None


def retry_delay(retries_so_far: int) -> float:
    """Seconds before the next attempt: the backoff doubled per retry, capped."""
    first = float(conf.get("TASKS_RETRY_BACKOFF"))
    cap = float(conf.get("TASKS_RETRY_BACKOFF_MAX"))
    return float(min(cap, first * 2 ** max(0, retries_so_far)))


#: The module that knows how each task system is asked to run a job: its ``send(job,
#: args, run_after=None)`` queues one and its ``can_defer()`` says whether it can wait.
#: Named, not imported, so this module depends on no task system.
SENDERS = {
    DJANGO_TASKS: "django_invoices.tasks.with_django",
    CELERY: "django_invoices.tasks.with_celery",
}


def _sender() -> Any:
    chosen = mode()
    if chosen not in SENDERS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"DJANGO_INVOICES['TASKS'] is {chosen!r}: nothing to queue.")
    return import_module(SENDERS[chosen])


def can_defer() -> bool:
    """Whether the task system can run a task later than now (``run_after``)."""
    return queued() and bool(_sender().can_defer())


def enqueue(job: str, *args: Any, at_once: bool = False, run_after: datetime | None = None) -> None:
    """Queue ``jobs.<job>(*args)`` once the current transaction commits; with
    ``run_after``, not to run before then (where the task system can defer).

    After the commit, so a worker never looks for rows it cannot see yet; outside a
    transaction, or ``at_once`` (the caller's rows are committed already), it is sent
    at once. Raises ``ImproperlyConfigured`` when no task system is chosen, and whatever
    the task system raises when it cannot take the task (the callers keep their rows
    pending, so a drain or the sweep still finds them).
    """
    sender = _sender()

    def send() -> None:
        sender.send(job, list(args), run_after=run_after)

    if not at_once and transaction.get_connection().in_atomic_block:
        transaction.on_commit(send)
    else:
        send()


def chunks(ids: Iterable[int], size: int | None = None) -> list[list[int]]:
    """``ids`` cut into lists of at most ``size`` (``TASKS_CHUNK_SIZE``), in order."""
    size = max(1, int(size or conf.get("TASKS_CHUNK_SIZE")))
    listed = list(ids)
    return [listed[start : start + size] for start in range(0, len(listed), size)]


def enqueue_chunks(job: str, ids: Sequence[int] | Iterable[int], size: int | None = None) -> int:
    """Queue ``jobs.<job>(chunk)`` for each chunk of ``ids``; returns how many tasks."""
    parts = chunks(ids, size)
    for part in parts:
        enqueue(job, part)
    return len(parts)
