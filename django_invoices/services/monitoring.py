"""What the app records about itself for the health page and the health check.

- Every request to KUNA Pay made by a merchant account's client (``provider.get_client``)
  is one ``ProviderRequest`` row, written by ``record_provider_request`` when the client
  reports it (``signals.provider_request``): one ``INSERT`` and nothing else, so no two
  workers ever wait on one row for it. A read made in a worker thread of the sweep or of
  a bulk refresh (``borrowed_threads``) is kept in memory until the thread that started
  them writes them all at once: those threads never open a database connection.
- Every sweep, or chunk of one run by a task worker, is one ``SweepRun`` row
  (``record_sweep``), and is announced by ``signals.sweep_finished``.
- Both are pruned after ``MONITORING_MAX_AGE`` days (``prune``, run by
  ``invoices_prune_callbacks``), with the hours the health page summed from them
  (``HealthHour``, see ``health.hours``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connections, router
from django.utils import timezone as dj_timezone

from .. import conf, signals
from ..models import HealthHour, ProviderRequest, SweepRun
from . import statements

logger = logging.getLogger("django_invoices")

#: Failures of a sweep kept on its row, for staff (their number is always kept).
ERRORS_KEPT = 20

_local = threading.local()


def connect() -> None:
    """Record the provider requests from now on (the app's ``ready`` calls this)."""
    signals.provider_request.connect(
        record_provider_request, dispatch_uid="django_invoices.record_provider_request"
    )


def record_provider_request(
    sender: Any,
    *,
    account: str,
    method: str,
    endpoint: str,
    object_id: str,
    status_code: int | None,
    result: str,
    seconds: float,
    started_at: datetime,
    attempt: int,
    **kwargs: Any,
) -> None:
    """Store one request to KUNA Pay (a receiver of ``signals.provider_request``). Only
    the requests of a merchant account's client: a client a shop builds by hand, with no
    account, is its own business."""
    if not account:
        return
    row = ProviderRequest(
        started_at=started_at,
        account=account[:64],
        method=method[:8],
        endpoint=endpoint[:64],
        object_id=object_id[:64],
        status_code=status_code if status_code is not None and 0 <= status_code < 32768 else None,
        result=result,
        milliseconds=max(0, round(seconds * 1000)),
        attempt=attempt,
    )
    sink: BorrowedThreads | None = getattr(_local, "sink", None)
    if sink is not None:
        sink.keep(row)
        return
    _write([row])


def _write(rows: list[ProviderRequest]) -> None:
    connection = connections[router.db_for_write(ProviderRequest)]
    if connection.in_atomic_block:
        # Inside the caller's transaction (create_invoice's order lock): one INSERT,
        # and an error is the transaction's, as any of its statements' would be.
        statements.insert_many(rows)
        return
    try:
        statements.insert_many(rows)
    except DatabaseError:
        logger.warning("Could not record %d request(s) to KUNA Pay", len(rows), exc_info=True)


class BorrowedThreads:
    """The requests of a pool's threads, kept until the thread that started the pool
    writes them (``flush``)."""

    def __init__(self) -> None:
        self.rows: list[ProviderRequest] = []
        self.lock = threading.Lock()

    def attach(self) -> None:
        """A pool's ``initializer``: this thread's requests go to the sink."""
        _local.sink = self

    def keep(self, row: ProviderRequest) -> None:
        with self.lock:
            self.rows.append(row)

    def flush(self) -> None:
        with self.lock:
            rows, self.rows = self.rows, []
        if rows:
            _write(rows)


@contextmanager
def borrowed_threads() -> Iterator[BorrowedThreads]:
    """For a thread pool that reads from KUNA Pay and touches no database: pass the
    yielded object's ``attach`` as the pool's ``initializer``; the requests its threads
    make are written on leaving, in the calling thread, in one ``INSERT``."""
    sink = BorrowedThreads()
    try:
        yield sink
    finally:
        sink.flush()


# -- sweeps --------------------------------------------------------------------------------


def record_sweep(
    kind: str,
    started_at: datetime,
    *,
    invoices_read: int = 0,
    invoices_changed: int = 0,
    events_settled: int = 0,
    orders_reconciled: int = 0,
    failures: Iterable[str] = (),
) -> SweepRun:
    """Store what a sweep (or a chunk of one) did, and announce it
    (``signals.sweep_finished``)."""
    failed = list(failures)
    run = SweepRun.objects.create(
        kind=kind,
        started_at=started_at,
        finished_at=dj_timezone.now(),
        invoices_read=invoices_read,
        invoices_changed=invoices_changed,
        events_settled=events_settled,
        orders_reconciled=orders_reconciled,
        failures=len(failed),
        errors="\n".join(line[:500] for line in failed[:ERRORS_KEPT]),
    )
    for receiver, error in signals.sweep_finished.send_robust(sender=SweepRun, run=run):
        if isinstance(error, Exception):
            logger.warning(
                "Receiver %r of sweep_finished failed",
                receiver,
                exc_info=(type(error), error, error.__traceback__),
            )
    return run


# -- retention -----------------------------------------------------------------------------


def max_age() -> timedelta:
    return timedelta(days=float(conf.get("MONITORING_MAX_AGE")))


def prune(*, older_than: timedelta | None = None, dry_run: bool = False) -> dict[str, int]:
    """Delete (or with ``dry_run`` count) the provider requests and sweep runs older
    than ``MONITORING_MAX_AGE`` days (or ``older_than``); how many of each."""
    cutoff = dj_timezone.now() - (older_than if older_than is not None else max_age())
    requests = ProviderRequest.objects.filter(started_at__lt=cutoff)
    runs = SweepRun.objects.filter(finished_at__lt=cutoff)
    hours = HealthHour.objects.filter(hour__lt=cutoff)
    if dry_run:
        return {"provider requests": requests.count(), "sweep runs": runs.count()}
    # No relations and no signals: each is one DELETE. The hours summed for the charts
    # go with what they summed.
    hours.delete()
    return {"provider requests": requests.delete()[0], "sweep runs": runs.delete()[0]}
