"""The jobs as Celery tasks (``shared_task``), run by the shop's own Celery app.

Task names are ``django_invoices.<job>``, so a shop routes them all with one pattern,
e.g. ``task_routes = {"django_invoices.*": {"queue": "payments"}}``. Every task is
acknowledged late and rejected (so redelivered) when its worker dies: the database
decides what was done already, so a second delivery changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import DatabaseError

from .. import background, conf
from . import jobs

logger = logging.getLogger("django_invoices")

OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    # Retries are counted against TASKS_MAX_RETRIES in run(), which reads the setting.
    "max_retries": None,
}


def run(task: Any, job: str, args: tuple[Any, ...]) -> Any:
    work: Any = jobs.JOBS[job]
    try:
        return work(*args)
    except (jobs.RetryLater, DatabaseError) as exc:
        retries = task.request.retries
        if retries >= int(conf.get("TASKS_MAX_RETRIES")):
            # What is left stays pending in the database, for the sweep or staff.
            logger.error("Task %s gave up after %s retries: %s", task.name, retries, exc)
            return {"gave_up": str(exc)}
        again = getattr(exc, "retry_args", None) or list(args)
        raise task.retry(args=again, exc=exc, countdown=background.retry_delay(retries)) from exc


@shared_task(name="django_invoices.process_callback_event", **OPTIONS)
def process_callback_event(self: Any, event_id: int) -> Any:
    return run(self, "process_callback_event", (event_id,))


@shared_task(name="django_invoices.process_callback_events", **OPTIONS)
def process_callback_events(self: Any, event_ids: list[int]) -> Any:
    return run(self, "process_callback_events", (event_ids,))


@shared_task(name="django_invoices.process_pending_callbacks", **OPTIONS)
def process_pending_callbacks(self: Any, limit: int = 500) -> Any:
    return run(self, "process_pending_callbacks", (limit,))


@shared_task(name="django_invoices.refresh_invoices", **OPTIONS)
def refresh_invoices(self: Any, invoice_ids: list[int]) -> Any:
    return run(self, "refresh_invoices", (invoice_ids,))


@shared_task(name="django_invoices.sync_invoices", **OPTIONS)
def sync_invoices(self: Any, invoice_ids: list[int]) -> Any:
    return run(self, "sync_invoices", (invoice_ids,))


@shared_task(name="django_invoices.sync_orders", **OPTIONS)
def sync_orders(self: Any, order_ids: list[int]) -> Any:
    return run(self, "sync_orders", (order_ids,))


@shared_task(name="django_invoices.create_invoices", **OPTIONS)
def create_invoices(self: Any, order_ids: list[int], account: str = "default") -> Any:
    return run(self, "create_invoices", (order_ids, account))


TASKS: dict[str, Any] = {
    "process_callback_event": process_callback_event,
    "process_callback_events": process_callback_events,
    "process_pending_callbacks": process_pending_callbacks,
    "refresh_invoices": refresh_invoices,
    "sync_invoices": sync_invoices,
    "sync_orders": sync_orders,
    "create_invoices": create_invoices,
}


def send(job: str, args: list[Any]) -> None:
    queue = conf.get("TASKS_QUEUE") or None
    # No queue named: the shop's task_routes (or its default queue) decide.
    TASKS[job].apply_async(args=args, **({"queue": queue} if queue else {}))
