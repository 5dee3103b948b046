"""The jobs as tasks of Django's Tasks framework (``django.tasks``, or the
``django-tasks`` package that brings it to Django 5.2).

The framework has no retries of its own: a job that should be tried again is enqueued
anew with ``run_after`` (when the backend can defer) and an attempt counter. A worker
killed in the middle of a task leaves nothing to redeliver on some backends (the
database backend keeps the result RUNNING): the rows stay pending, and the periodic
sweep (``invoices_process_callbacks``) applies them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from .. import background, conf
from . import jobs
from .framework import task, task_backends

logger = logging.getLogger("django_invoices")


def run(job: str, args: tuple[Any, ...], attempt: int) -> Any:
    work: Any = jobs.JOBS[job]
    try:
        return work(*args)
    except (jobs.RetryLater, DatabaseError) as exc:
        if attempt >= int(conf.get("TASKS_MAX_RETRIES")):
            logger.error("Task %s gave up after %s retries: %s", job, attempt, exc)
            return {"gave_up": str(exc)}
        again = getattr(exc, "retry_args", None) or list(args)
        backend = task_backends[str(conf.get("TASKS_BACKEND"))]
        if not backend.supports_defer:
            # Retrying at once would meet the same failure: leave it to the sweep.
            logger.warning("Task %s left for the sweep (no deferred tasks): %s", job, exc)
            return {"left_for_sweep": str(exc)}
        delay = timedelta(seconds=background.retry_delay(attempt))
        _send(job, again, attempt + 1, run_after=timezone.now() + delay)
        logger.warning("Task %s retried in %s: %s", job, delay, exc)
        return {"retry": attempt + 1}


def _defaults() -> dict[str, Any]:
    """The backend and queue as configured: a task is checked against its backend when
    it is defined, and the shop's backends need not have a "default" one."""
    options: dict[str, Any] = {"backend": str(conf.get("TASKS_BACKEND"))}
    if conf.get("TASKS_QUEUE"):
        options["queue_name"] = str(conf.get("TASKS_QUEUE"))
    return options


def _define(job: str) -> Any:
    """The task of ``jobs.JOBS[job]``. The framework finds a task by its function's
    module and name, so the function is named for the job and the task is this
    module's attribute of that name."""

    def run_job(*args: Any, attempt: int = 0) -> Any:
        return run(job, args, attempt)

    run_job.__name__ = run_job.__qualname__ = job
    return task(**_defaults())(run_job)


#: One task per job of ``jobs.JOBS``, by the job's name.
TASKS: dict[str, Any] = {job: _define(job) for job in jobs.JOBS}
globals().update(TASKS)


def _send(job: str, args: list[Any], attempt: int = 0, **using: Any) -> None:
    queue = conf.get("TASKS_QUEUE")
    if queue:
        using["queue_name"] = queue
    chosen = TASKS[job].using(backend=str(conf.get("TASKS_BACKEND")), **using)
    chosen.enqueue(*args, attempt=attempt)


def can_defer() -> bool:
    return bool(task_backends[str(conf.get("TASKS_BACKEND"))].supports_defer)


def send(job: str, args: list[Any], run_after: datetime | None = None) -> None:
    if run_after is not None and can_defer():
        _send(job, args, run_after=run_after)
    else:
        _send(job, args)
