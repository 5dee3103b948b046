"""The reconciliation sweep (``invoices_sync``): read back everything that can change.

Built to be distributed: ``plan_sync`` lists what to read as ids (cut it into chunks
with ``chunks``), and ``sync_invoices`` / ``sync_order`` act on ids,
each idempotent and safe to run twice or at the same time (the row locks and the event
states decide, so nothing is applied twice). ``run_sync`` does it all in-process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone as dj_timezone

from .. import conf, telemetry, wire
from ..exceptions import KunaPayError
from ..models import CallbackEvent, Invoice, Order, SweepRun
from . import monitoring, pipeline, queue, reads
from .bulk import refresh_workers
from .invoices import RECONCILED_ADOPTED, RECONCILED_FLAGGED, reconcile_order
from .window import changeable_invoices

logger = logging.getLogger("django_invoices")

T = TypeVar("T")


@dataclass
class SyncPlan:
    """What one sweep reads, as ids (each list may be cut into chunks and handed out)."""

    invoices: list[int] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.invoices or self.orders or self.events)


def plan_sync(*, older_than: timedelta, limit: int = 500, now: datetime | None = None) -> SyncPlan:
    """The ids a sweep acts on.

    - invoices that can still change and were not read for ``older_than`` (least
      recently read first), plus the invoice of every pending callback event (one read
      answers all of its events);
    - orders marked for reconciliation after an ambiguous create, untouched for
      ``older_than``;
    - the pending callback events (those whose invoice is read are settled by that
      read; the others, and any the read does not answer, are acted on one by one).
    """
    now = now or dj_timezone.now()
    cutoff = now - older_than
    events = list(
        CallbackEvent.objects.filter(verified=True, state=CallbackEvent.State.PENDING)
        .order_by("received_at", "pk")
        .values_list("pk", "invoice_id")[:limit]
    )
    named = list(
        Invoice.objects.filter(
            pk__in={pk for _, pk in events if pk is not None}, account__in=conf.account_names()
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    stale = list(
        changeable_invoices(now=now)
        .filter(Q(synced_at__lt=cutoff) | Q(synced_at__isnull=True, created_at__lt=cutoff))
        .exclude(pk__in=named)
        .order_by(Coalesce("synced_at", "created_at"), "pk")
        .values_list("pk", flat=True)[: max(0, limit - len(named))]
    )
    orders = list(
        Order.objects.filter(needs_reconciliation=True, updated_at__lt=cutoff)
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return SyncPlan(invoices=[*named, *stale], orders=orders, events=[pk for pk, _ in events])


def chunks(ids: Sequence[T], size: int) -> Iterator[list[T]]:
    """``ids`` in lists of at most ``size`` (one task per chunk, say); a ``size``
    below 1 is taken as 1."""
    size = max(1, size)
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


@dataclass(frozen=True)
class InvoiceSync:
    """What reading one invoice did; ``error`` says why it could not be read."""

    invoice_pk: int
    old_status: str = ""
    new_status: str = ""
    settled_events: int = 0
    error: str = ""
    provider_id: str = ""
    # Another reader held the invoice (a callback's read): it was not read twice.
    busy: bool = False

    @property
    def changed(self) -> bool:
        return not self.error and self.old_status != self.new_status


def sync_invoices(pks: Sequence[int], *, max_workers: int | None = None) -> list[InvoiceSync]:
    """Read these invoices from the provider and apply what it says; one result each.

    Each invoice is claimed first (``queue.claim``): one another reader holds is left
    to it. The reads go out concurrently; each answer is applied in the calling thread
    through ``reads.apply_read``, which settles the invoice's callbacks the read
    answers. Idempotent: a second sweep applies nothing twice.
    """
    invoices = list(Invoice.objects.filter(pk__in=pks).select_related("order"))
    results: dict[int, InvoiceSync] = {pk: InvoiceSync(pk, error="no such invoice") for pk in pks}
    claimed: list[Invoice] = []
    for invoice in invoices:
        try:
            taken = queue.claim(invoice, fast=False, due_only=False)
        except ImproperlyConfigured as exc:  # its account was removed from the settings
            results[invoice.pk] = InvoiceSync(invoice.pk, error=str(exc), provider_id=str(invoice))
            continue
        if taken is None:
            results[invoice.pk] = InvoiceSync(
                invoice.pk, invoice.status, invoice.status, provider_id=str(invoice), busy=True
            )
            continue
        claimed.append(invoice)
    if max_workers is None:
        max_workers = refresh_workers()
    if len(claimed) <= 1 or max_workers <= 1:
        # No thread for a single read: a task syncing one invoice stays in its thread.
        for invoice in claimed:
            started = dj_timezone.now()
            results[invoice.pk] = _apply(invoice, partial(reads.read, invoice, fast=False), started)
        return [results[pk] for pk in pks]
    with monitoring.borrowed_threads() as requests:
        pool = ThreadPoolExecutor(
            max_workers=max(1, min(max_workers, len(claimed))),
            thread_name_prefix="django-invoices-sync",
            initializer=requests.attach,
        )
        try:
            futures: dict[Future[wire.Invoice], tuple[Invoice, datetime]] = {}
            for invoice in claimed:
                started = dj_timezone.now()
                # The read asks for the client in its own thread: one HTTP session per
                # thread.
                futures[pool.submit(reads.read, invoice, fast=False)] = (invoice, started)
            for future in as_completed(futures):
                invoice, started = futures[future]
                results[invoice.pk] = _apply(invoice, future.result, started)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return [results[pk] for pk in pks]


def sync_invoice(pk: int) -> InvoiceSync:
    """``sync_invoices`` for one invoice (a task's unit of work; a single read never
    starts a thread)."""
    return sync_invoices([pk])[0]


def _apply(invoice: Invoice, read: Callable[[], wire.Invoice], started: datetime) -> InvoiceSync:
    try:
        done = reads.apply_read(invoice, read(), started, leased=True)
    except (KunaPayError, DatabaseError) as exc:
        if isinstance(exc, DatabaseError):
            logger.exception(
                "Saving the read of invoice %s failed",
                invoice,
                extra=telemetry.ids(invoice=invoice),
            )
        else:
            logger.warning(
                "Reading invoice %s failed: %s", invoice, exc, extra=telemetry.ids(invoice=invoice)
            )
        queue.release(invoice, confirmed=None)
        return InvoiceSync(invoice.pk, invoice.status, invoice.status, 0, str(exc), str(invoice))
    result = done.transition
    if result.changed:
        logger.info(
            "invoices_sync: invoice %s %s",
            invoice,
            reads.describe(result),
            extra=telemetry.ids(invoice=invoice),
        )
    settled = len(done.settlement.applied) + len(done.settlement.failed)
    return InvoiceSync(invoice.pk, result.old_status, result.new_status, settled, "", str(invoice))


def sync_order(pk: int) -> tuple[str, str]:
    """Reconcile one order (see ``invoices.reconcile_order``); returns what was done
    and, when it could not be read, why."""
    try:
        done, _invoice = reconcile_order(pk)
    except Order.DoesNotExist:
        return "no such order", ""
    except (KunaPayError, ImproperlyConfigured, DatabaseError) as exc:
        logger.warning("Reconciling order %s failed: %s", pk, exc, extra={"order_id": pk})
        return "failed", str(exc)
    return done, ""


@dataclass
class SyncReport:
    """What a sweep did, in numbers, and what it could not read."""

    invoices_read: int = 0
    # Being read by another reader (a callback's) at the time: not read twice.
    invoices_busy: int = 0
    invoices_changed: int = 0
    events_settled: int = 0
    events_pending: int = 0
    orders_adopted: int = 0
    orders_flagged: int = 0
    orders_cleared: int = 0
    failures: list[str] = field(default_factory=list)
    changes: list[InvoiceSync] = field(default_factory=list)


def run_sync(plan: SyncPlan) -> SyncReport:
    """The whole sweep in this process: invoices, then events still pending, then
    orders to reconcile; recorded as a ``SweepRun``."""
    started = dj_timezone.now()
    report = SyncReport()
    for result in sync_invoices(plan.invoices):
        if result.busy:
            report.invoices_busy += 1
            continue
        if result.error:
            report.failures.append(
                f"invoice {result.provider_id or result.invoice_pk}: {result.error}"
            )
            continue
        report.invoices_read += 1
        report.events_settled += result.settled_events
        if result.changed:
            report.invoices_changed += 1
            report.changes.append(result)
    if plan.events:
        drained = pipeline.drain(limit=len(plan.events), due_only=False)
        report.events_settled += sum(
            n for state, n in drained.counts.items() if state != CallbackEvent.State.PENDING
        )
    waiting = CallbackEvent.objects.filter(pk__in=plan.events, state=CallbackEvent.State.PENDING)
    for pk, outcome in waiting.values_list("pk", "outcome"):
        if outcome.startswith("will retry"):
            report.failures.append(f"callback event {pk}: {outcome}")
        else:
            report.events_pending += 1
    for pk in plan.orders:
        done, error = sync_order(pk)
        if error:
            report.failures.append(f"order {pk}: {error}")
        elif done == RECONCILED_ADOPTED:
            report.orders_adopted += 1
        elif done == RECONCILED_FLAGGED:
            report.orders_flagged += 1
        else:
            report.orders_cleared += 1
    monitoring.record_sweep(
        SweepRun.Kind.SWEEP,
        started,
        invoices_read=report.invoices_read,
        invoices_changed=report.invoices_changed,
        events_settled=report.events_settled,
        orders_reconciled=report.orders_adopted + report.orders_flagged + report.orders_cleared,
        failures=report.failures,
    )
    return report
