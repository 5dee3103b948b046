"""Bulk operations for the admin back office.

Each function reports one outcome per object instead of raising, so a caller acting on
many orders or invoices can tell staff exactly what happened to each of them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, router
from django.db.models import Case, OuterRef, QuerySet, Subquery, Value, When
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext as _

from .. import conf, telemetry, wire
from ..exceptions import (
    InvoiceCreationError,
    KunaPayError,
    ProviderUnavailable,
)
from ..models import Invoice, Order
from ..statuses import (
    OPEN_STATUSES,
    OrderStatus,
)
from . import monitoring, reads
from .invoices import create_invoice

logger = logging.getLogger("django_invoices")


def refresh_workers() -> int:
    """Reads of KUNA Pay in flight at once in a bulk refresh (``REFRESH_WORKERS``)."""
    return int(conf.get("REFRESH_WORKERS"))


class Outcome:
    """What a bulk operation did with one object."""

    CREATED = "created"
    REFRESHED = "refreshed"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class OrderOutcome:
    """The result of a bulk operation for one order.

    ``reason`` says in words why an order was skipped (or, for a failure, why it was not
    even attempted); ``error`` is the provider's error for a failure.
    """

    order: Order
    outcome: str
    invoice: Invoice | None = None
    reason: str = ""
    error: KunaPayError | None = None


@dataclass(frozen=True)
class RefreshOutcome:
    """The result of refreshing one invoice; ``invoice`` is the updated row on success."""

    invoice: Invoice
    outcome: str
    old_status: str = ""
    new_status: str = ""
    error: KunaPayError | None = None
    reason: str = ""

    @property
    def changed(self) -> bool:
        return self.outcome == Outcome.REFRESHED and self.old_status != self.new_status


def _current_first() -> list[Any]:
    """The order's open invoice first, then the newest one."""
    return [
        Case(When(status__in=sorted(OPEN_STATUSES), then=Value(0)), default=Value(1)),
        "-created_at",
        "-pk",
    ]


def with_current_invoice(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Annotate each order with its current invoice, in the same single query.

    The current invoice is the open one if there is one, else the newest. Adds
    ``current_invoice_pk``, ``current_invoice_provider_id`` and
    ``current_invoice_status`` (``None`` for an order without invoices).
    """
    return orders.annotate(
        current_invoice_pk=_current_invoice("pk"),
        current_invoice_provider_id=_current_invoice("provider_id"),
        current_invoice_status=_current_invoice("status"),
    )


def _current_invoice(field: str) -> Subquery:
    current = Invoice.objects.filter(order=OuterRef("pk")).order_by(*_current_first())
    return Subquery(current.values(field)[:1])


def current_invoices(orders: Iterable[Order]) -> dict[int, Invoice]:
    """The current invoice (see ``with_current_invoice``) of each order, by order pk."""
    pks = [order.pk for order in orders]
    invoice_pks = [
        pk
        for pk in Order.objects.filter(pk__in=pks)
        .annotate(current_pk=_current_invoice("pk"))
        .values_list("current_pk", flat=True)
        if pk is not None
    ]
    return {
        invoice.order_id: invoice
        for invoice in Invoice.objects.filter(pk__in=invoice_pks).select_related("order")
    }


def create_invoices(
    orders: Iterable[Order], *, account: str = conf.DEFAULT_ACCOUNT
) -> list[OrderOutcome]:
    """Create an invoice at KUNA Pay for each order that needs one.

    Paid orders and orders that already have an open invoice are skipped. Every other
    order goes through ``create_invoice`` (which locks the order, so running this twice,
    even at the same time, never makes a second open invoice). A provider error fails
    that order only; once KUNA Pay turns out to be unavailable, the remaining orders are
    not attempted (each would wait out the same timeouts) and fail with that error.
    """
    orders = list(orders)
    open_invoices = {
        invoice.order_id: invoice
        for invoice in Invoice.objects.filter(order__in=orders, status__in=OPEN_STATUSES)
    }
    outcomes: list[OrderOutcome] = []
    outage: KunaPayError | None = None
    for order in orders:
        existing = open_invoices.get(order.pk)
        if order.status == OrderStatus.PAID:
            outcomes.append(
                OrderOutcome(order, Outcome.SKIPPED, reason=_("the order is already paid"))
            )
        elif existing is not None:
            outcomes.append(_already_open(order, existing))
        elif outage is not None:
            outcomes.append(
                OrderOutcome(
                    order,
                    Outcome.FAILED,
                    reason=_("not attempted after KUNA Pay became unavailable"),
                    error=outage,
                )
            )
        else:
            outcome = _create_one(order, account)
            if isinstance(outcome.error, ProviderUnavailable):
                outage = outcome.error
            outcomes.append(outcome)
    return outcomes


def _already_open(order: Order, invoice: Invoice) -> OrderOutcome:
    return OrderOutcome(
        order,
        Outcome.SKIPPED,
        invoice=invoice,
        reason=_("it already has the open invoice %(invoice)s") % {"invoice": invoice},
    )


def _create_one(order: Order, account: str) -> OrderOutcome:
    started = dj_timezone.now()
    try:
        invoice = create_invoice(order, account=account)
    except InvoiceCreationError as exc:
        return OrderOutcome(order, Outcome.SKIPPED, reason=str(exc))
    except KunaPayError as exc:
        logger.warning(
            "Creating an invoice for order %s failed: %s",
            order,
            exc,
            extra=telemetry.ids(order=order, account=account),
        )
        return OrderOutcome(order, Outcome.FAILED, error=exc)
    if invoice.created_at < started:
        # Someone else created it between our look and the order's lock.
        return _already_open(order, invoice)
    return OrderOutcome(order, Outcome.CREATED, invoice=invoice)


def refresh_invoices(
    invoices: Iterable[Invoice], *, max_workers: int | None = None
) -> list[RefreshOutcome]:
    """Refresh many invoices from KUNA Pay at once; one outcome per invoice, in order.

    The reads go out concurrently from at most ``max_workers`` threads (default: the
    ``REFRESH_WORKERS`` setting), each with its own client and HTTP session, since
    ``requests`` does not promise a session is safe to share. Each answer is applied in
    its own transaction under the invoice's row lock (``apply_invoice_data``), so one
    failure does not stop the rest.

    Where the database has row locks and the caller is not inside a transaction (an
    admin action, a task), each thread applies its own answers on its own connection,
    closed when the thread ends: applying then keeps pace with the reads. Otherwise
    (SQLite; inside ``atomic``, where other connections could not see the caller's
    rows) the calling thread applies every answer as it arrives.
    """
    invoices = list(invoices)
    if not invoices:
        return []
    if max_workers is None:
        max_workers = refresh_workers()
    outcomes: dict[int, RefreshOutcome] = {}
    readable: list[int] = []
    for index, invoice in enumerate(invoices):
        try:
            conf.get_account(invoice.account)
        except ImproperlyConfigured:
            reason = _("its merchant account %(account)s is not configured") % {
                "account": invoice.account
            }
            outcomes[index] = RefreshOutcome(
                invoice, Outcome.FAILED, invoice.status, invoice.status, reason=reason
            )
        else:
            readable.append(index)
    workers = max(1, min(max_workers, len(readable)))
    if readable and _threads_may_write():
        outcomes.update(_refresh_in_threads(invoices, readable, workers))
    elif readable:
        outcomes.update(_refresh_in_caller(invoices, readable, workers))
    return [outcomes[index] for index in range(len(invoices))]


def _threads_may_write() -> bool:
    connection = connections[router.db_for_write(Invoice)]
    return connection.features.has_select_for_update and not connection.in_atomic_block


def _refresh_in_caller(
    invoices: list[Invoice], indexes: list[int], workers: int
) -> dict[int, RefreshOutcome]:
    """Reads in a pool; answers applied in the calling thread as they arrive."""
    outcomes: dict[int, RefreshOutcome] = {}
    with monitoring.borrowed_threads() as requests:
        pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="django-invoices-refresh",
            initializer=requests.attach,
        )
        try:
            futures: dict[Future[Timed], int] = {
                pool.submit(_read_invoice, invoices[i]): i for i in indexes
            }
            for future in as_completed(futures):
                index = futures[future]
                outcomes[index] = _apply_refresh(invoices[index], future.result)
        finally:
            # Only reached early on an unexpected error: do not send what is still queued.
            pool.shutdown(wait=True, cancel_futures=True)
    return outcomes


def _refresh_in_threads(
    invoices: list[Invoice], indexes: list[int], workers: int
) -> dict[int, RefreshOutcome]:
    """Reads in a pool; as many threads apply the answers as they arrive, each on its
    own connection, so a slow commit never holds back the next read."""
    arrived: queue.SimpleQueue[tuple[int, Future[Timed]] | None] = queue.SimpleQueue()
    outcomes: dict[int, RefreshOutcome] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    # The readers touch no database: their requests are recorded here, on leaving.
    requests = monitoring.BorrowedThreads()
    readers = ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="django-invoices-read", initializer=requests.attach
    )

    def apply_arrivals() -> None:
        try:
            while (item := arrived.get()) is not None:
                if errors:
                    continue  # drain: the caller raises the first error
                index, future = item
                outcome = _apply_refresh(invoices[index], future.result)
                with lock:
                    outcomes[index] = outcome
        except BaseException as exc:  # re-raised in the caller
            with lock:
                errors.append(exc)
            # Do not send what is still queued.
            readers.shutdown(wait=False, cancel_futures=True)
        finally:
            connections.close_all()  # this thread's connections; nobody else uses them

    appliers = [
        threading.Thread(target=apply_arrivals, name=f"django-invoices-refresh-{number}")
        for number in range(workers)
    ]
    for thread in appliers:
        thread.start()
    try:
        for index in indexes:
            invoice = invoices[index]
            try:
                future = readers.submit(_read_invoice, invoice)
            except RuntimeError:  # shut down after an error
                break
            future.add_done_callback(partial(_arrived, arrived, index))
    finally:
        readers.shutdown(wait=True)
        for _thread in appliers:
            arrived.put(None)
        for thread in appliers:
            thread.join()
        requests.flush()
    if errors:
        raise errors[0]
    return outcomes


def _arrived(
    arrived: queue.SimpleQueue[tuple[int, Future[Timed]] | None],
    index: int,
    future: Future[Timed],
) -> None:
    if not future.cancelled():
        arrived.put((index, future))


#: A read and when it started: the callbacks that arrived before it are what it answers.
Timed = tuple[datetime, wire.Invoice]


def _read_invoice(invoice: Invoice) -> Timed:
    # Runs in a pool thread: get_client gives each thread a client of its own.
    started = dj_timezone.now()
    return started, reads.read(invoice, fast=False)


def _apply_refresh(invoice: Invoice, read: Callable[[], Timed]) -> RefreshOutcome:
    old = invoice.status
    try:
        started, data = read()
        updated = reads.apply_read(invoice, data, started).invoice
    except KunaPayError as exc:
        logger.warning(
            "Refreshing invoice %s failed: %s", invoice, exc, extra=telemetry.ids(invoice=invoice)
        )
        return RefreshOutcome(invoice, Outcome.FAILED, old, old, error=exc)
    except DatabaseError:
        # Rolled back with this invoice's own transaction (a lock timeout, a deadlock);
        # the others go on.
        logger.exception(
            "Saving the refreshed invoice %s failed", invoice, extra=telemetry.ids(invoice=invoice)
        )
        return RefreshOutcome(
            invoice, Outcome.FAILED, old, old, reason=_("it could not be saved; see the logs")
        )
    return RefreshOutcome(updated, Outcome.REFRESHED, old, updated.status)


def refresh_orders(
    orders: Iterable[Order], *, max_workers: int | None = None
) -> list[OrderOutcome]:
    """Refresh the current invoice of each order (see ``refresh_invoices``).

    Orders without an invoice are skipped.
    """
    orders = list(orders)
    current = current_invoices(orders)
    refreshed = {
        outcome.invoice.order_id: outcome
        for outcome in refresh_invoices(
            [current[order.pk] for order in orders if order.pk in current],
            max_workers=max_workers,
        )
    }
    outcomes: list[OrderOutcome] = []
    for order in orders:
        result = refreshed.get(order.pk)
        if result is None:
            outcomes.append(
                OrderOutcome(order, Outcome.SKIPPED, reason=_("the order has no invoice yet"))
            )
        else:
            outcomes.append(
                OrderOutcome(
                    order,
                    result.outcome,
                    invoice=result.invoice,
                    reason=result.reason,
                    error=result.error,
                )
            )
    return outcomes
