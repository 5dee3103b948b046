"""The jobs as Celery tasks (``shared_task``), run by the shop's own Celery app.

Task names are ``django_invoices.<job>``, so a shop routes them all with one pattern,
e.g. ``task_routes = {"django_invoices.*": {"queue": "payments"}}``. Every task is
acknowledged late and rejected (so redelivered) when its worker dies: the database
decides what was done already, so a second delivery changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
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


def _define(job: str) -> Any:
    """The Celery task of ``jobs.JOBS[job]``, named ``django_invoices.<job>``."""

    def run_job(self: Any, *args: Any) -> Any:
        return run(self, job, args)

    run_job.__name__ = run_job.__qualname__ = job
    return shared_task(name=f"django_invoices.{job}", **OPTIONS)(run_job)


#: One task per job of ``jobs.JOBS``, by the job's name; each is also this module's
#: attribute of that name.
TASKS: dict[str, Any] = {job: _define(job) for job in jobs.JOBS}
globals().update(TASKS)


def can_defer() -> bool:
    return True


def send(job: str, args: list[Any], run_after: datetime | None = None) -> None:
    queue = conf.get("TASKS_QUEUE") or None
    # No queue named: the shop's task_routes (or its default queue) decide.
    options: dict[str, Any] = {"queue": queue} if queue else {}
    if run_after is not None:
        options["eta"] = run_after
    # The arguments are short lists of ids: their repr is cheap; Celery's safe repr is
    # a quarter of what publishing a task costs.
    TASKS[job].apply_async(args=args, argsrepr=repr(args), kwargsrepr="{}", **options)
