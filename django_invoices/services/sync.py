"""The reconciliation sweep (``invoices_sync``): read back everything that can change.

Built to be distributed: ``plan_sync`` lists what to read as ids (cut it into chunks
with ``chunks``), and ``sync_invoices`` / ``sync_order`` / ``sync_event`` act on ids,
each idempotent and safe to run twice or at the same time (the row locks and the event
states decide, so nothing is applied twice). ``run_sync`` does it all in-process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone as dj_timezone

from .. import conf
from ..exceptions import KunaPayError
from ..models import CallbackEvent, Invoice, Order
from ..statuses import LATE_PAYMENT_STATUSES, OPEN_STATUSES, OrderStatus
from .bulk import refresh_workers
from .callback_events import describe, process_event_by_id, settle_covered_events
from .invoices import RECONCILED_ADOPTED, RECONCILED_FLAGGED, reconcile_order
from .provider import get_client
from .transitions import apply_data_locked, check_same_invoice, lock_invoice

logger = logging.getLogger("django_invoices")

T = TypeVar("T")


def may_still_change(invoice: Invoice, *, now: datetime | None = None) -> bool:
    """Whether the provider may still move this invoice: open, or ended unpaid (expired,
    partly paid, declined) within ``LATE_PAYMENT_WINDOW``, so a late payment counts."""
    if invoice.is_open:
        return True
    if invoice.status not in LATE_PAYMENT_STATUSES or invoice.order.status == OrderStatus.PAID:
        return False
    ended = invoice.expires_at or invoice.completed_at or invoice.created_at
    return ended is None or ended >= (now or dj_timezone.now()) - conf.late_payment_window()


def changeable_invoices(*, now: datetime | None = None) -> QuerySet[Invoice]:
    """Invoices ``may_still_change`` holds for, of accounts still configured (one of a
    removed account could never be read, and would crowd out the others)."""
    since = (now or dj_timezone.now()) - conf.late_payment_window()
    return (
        Invoice.objects.filter(account__in=conf.account_names())
        .annotate(ended=Coalesce("expires_at", "completed_at", "created_at"))
        .filter(
            Q(status__in=sorted(OPEN_STATUSES))
            | Q(status__in=sorted(LATE_PAYMENT_STATUSES), ended__gte=since)
            & ~Q(order__status=OrderStatus.PAID)
        )
    )


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
    """``ids`` in lists of at most ``size`` (one task per chunk, say)."""
    for start in range(0, len(ids), max(1, size)):
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

    @property
    def changed(self) -> bool:
        return not self.error and self.old_status != self.new_status


def sync_invoices(pks: Sequence[int], *, max_workers: int | None = None) -> list[InvoiceSync]:
    """Read these invoices from the provider and apply what it says; one result each.

    The reads go out concurrently; each answer is applied in the calling thread under
    the invoice's row lock, and settles the invoice's pending callback events received
    before its read started. Idempotent: a second sweep applies nothing twice.
    """
    invoices = list(Invoice.objects.filter(pk__in=pks).select_related("order"))
    results: dict[int, InvoiceSync] = {pk: InvoiceSync(pk, error="no such invoice") for pk in pks}
    if not invoices:
        return [results[pk] for pk in pks]
    if max_workers is None:
        max_workers = refresh_workers()
    if len(invoices) == 1 or max_workers <= 1:
        # No thread for a single read: a task syncing one invoice stays in its thread.
        for invoice in invoices:
            results[invoice.pk] = _read_and_apply(invoice)
        return [results[pk] for pk in pks]
    pool = ThreadPoolExecutor(
        max_workers=max(1, min(max_workers, len(invoices))),
        thread_name_prefix="django-invoices-sync",
    )
    try:
        futures: dict[Future[dict[str, Any]], tuple[Invoice, datetime]] = {}
        for invoice in invoices:
            try:
                get_client(invoice.account)  # the settings of a removed account fail here
            except ImproperlyConfigured as exc:
                results[invoice.pk] = InvoiceSync(
                    invoice.pk, error=str(exc), provider_id=str(invoice)
                )
                continue
            started = dj_timezone.now()
            # The read asks for the client in its own thread: one HTTP session per thread.
            future = pool.submit(_read, invoice.account, str(invoice.provider_id))
            futures[future] = (invoice, started)
        for future in as_completed(futures):
            invoice, started = futures[future]
            results[invoice.pk] = _apply_read(invoice, future.result, started)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [results[pk] for pk in pks]


def _read(account: str, provider_id: str) -> dict[str, Any]:
    return get_client(account).get_invoice(provider_id)


def _read_and_apply(invoice: Invoice) -> InvoiceSync:
    try:
        client = get_client(invoice.account)
    except ImproperlyConfigured as exc:
        return InvoiceSync(invoice.pk, error=str(exc), provider_id=str(invoice))
    started = dj_timezone.now()
    return _apply_read(invoice, lambda: client.get_invoice(str(invoice.provider_id)), started)


def sync_invoice(pk: int) -> InvoiceSync:
    """``sync_invoices`` for one invoice (a task's unit of work)."""
    return sync_invoices([pk], max_workers=1)[0]


def _apply_read(
    invoice: Invoice, read: Callable[[], dict[str, Any]], started: datetime
) -> InvoiceSync:
    try:
        data = read()
        check_same_invoice(invoice, data)
        with transaction.atomic():
            locked = lock_invoice(invoice)
            result = apply_data_locked(locked, data)
            settled = settle_covered_events(locked, data, started)
    except KunaPayError as exc:
        logger.warning("Reading invoice %s failed: %s", invoice, exc)
        return InvoiceSync(invoice.pk, invoice.status, invoice.status, 0, str(exc), str(invoice))
    except DatabaseError as exc:
        logger.exception("Saving the read of invoice %s failed", invoice)
        return InvoiceSync(invoice.pk, invoice.status, invoice.status, 0, str(exc), str(invoice))
    if result.changed:
        logger.info("invoices_sync: invoice %s %s", invoice, describe(result))
    return InvoiceSync(invoice.pk, result.old_status, result.new_status, settled, "", str(invoice))


def sync_order(pk: int) -> tuple[str, str]:
    """Reconcile one order (see ``invoices.reconcile_order``); returns what was done
    and, when it could not be read, why."""
    try:
        done, _invoice = reconcile_order(pk)
    except Order.DoesNotExist:
        return "no such order", ""
    except (KunaPayError, ImproperlyConfigured, DatabaseError) as exc:
        logger.warning("Reconciling order %s failed: %s", pk, exc)
        return "failed", str(exc)
    return done, ""


def sync_event(pk: int) -> str:
    """Act on one pending callback event (``process_callback_event``); its new state."""
    event = process_event_by_id(pk, fast=False)
    return event.state if event is not None else "missing"


@dataclass
class SyncReport:
    """What a sweep did, in numbers, and what it could not read."""

    invoices_read: int = 0
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
    orders to reconcile."""
    report = SyncReport()
    for result in sync_invoices(plan.invoices):
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
    still_pending = CallbackEvent.objects.filter(
        pk__in=plan.events, state=CallbackEvent.State.PENDING
    ).values_list("pk", flat=True)
    for pk in list(still_pending):
        event = process_event_by_id(pk, fast=False)
        if event is None:
            continue
        if event.state == CallbackEvent.State.FAILED or event.outcome.startswith("will retry"):
            report.failures.append(f"callback event {pk}: {event.outcome}")
        elif event.state == CallbackEvent.State.PENDING:
            report.events_pending += 1
        else:
            report.events_settled += 1
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
    return report
