"""The work a task does, the same on every task system.

Each job takes ids (never model instances), reloads its rows, and calls ``services``,
which lock what they change: running a job twice, or two copies at once, changes
nothing the first run did not. A job raises ``RetryLater`` when what it met is worth
another try (the provider timed out or answered 5xx, the database failed); the task
wrappers turn that into a delayed retry.
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from .. import conf, services
from ..exceptions import ProviderUnavailable, RateLimited
from ..models import Invoice, Order, SweepRun
from ..services import Outcome, monitoring, sync


class RetryLater(Exception):
    """Try the job again later, with ``args`` (what is still to do) when given."""

    def __init__(self, reason: str, args: list[Any] | None = None) -> None:
        super().__init__(reason)
        self.retry_args = args


def _worth_retrying(error: Exception | None) -> bool:
    return isinstance(error, (ProviderUnavailable, RateLimited, DatabaseError))


def drain_callbacks() -> dict[str, int]:
    """Act on every callback that waits and is due (``services.drain_callbacks``): the
    pending rows are the queue, so a drain finds them whoever was woken, and two at
    once never read one invoice twice. What is not due yet is left to a deferred
    drain, scheduled by this one."""
    drained = services.drain_callbacks()
    return dict(drained.counts)


def process_callback_event(event_id: int | None = None) -> dict[str, int]:
    """A task queued by an earlier release, for one callback: the drain finds it."""
    return drain_callbacks()


def process_callback_events(event_ids: list[int] | None = None) -> dict[str, int]:
    """A task queued by an earlier release, or by staff re-applying callbacks: those
    events are acted on again now (failed ones included), then the rest is drained."""
    counts = dict(services.reapply_callbacks(event_ids or []))
    for state, n in drain_callbacks().items():
        counts[state] = counts.get(state, 0) + n
    return counts


def process_pending_callbacks(limit: int = 500) -> dict[str, int]:
    """The sweep of stored callbacks still pending (``invoices_process_callbacks``)."""
    return dict(services.drain_callbacks(limit=limit, due_only=False).counts)


def refresh_invoices(invoice_ids: list[int]) -> dict[str, int]:
    """Read invoices back from KUNA Pay; those the provider or database failed are
    retried, the others are done."""
    invoices = Invoice.objects.filter(pk__in=invoice_ids).select_related("order").order_by("pk")
    # One request at a time: a worker's concurrency is the task system's to decide.
    outcomes = services.refresh_invoices(invoices, max_workers=1)
    again = [o.invoice.pk for o in outcomes if o.outcome == Outcome.FAILED and _retry(o)]
    if again:
        raise RetryLater(f"{len(again)} invoices could not be refreshed", [again])
    return _count(o.outcome for o in outcomes)


def sync_invoices(invoice_ids: list[int]) -> dict[str, int]:
    """A chunk of the ``invoices_sync`` sweep: read these invoices back and apply what
    the provider says; the ones it could not read are retried. Each run is recorded
    (``SweepRun``) for the health page."""
    started = timezone.now()
    results = sync.sync_invoices(invoice_ids, max_workers=1)
    monitoring.record_sweep(
        SweepRun.Kind.INVOICES,
        started,
        invoices_read=sum(1 for r in results if not r.error and not r.busy),
        invoices_changed=sum(1 for r in results if r.changed),
        events_settled=sum(r.settled_events for r in results),
        failures=[
            f"invoice {r.provider_id or r.invoice_pk}: {r.error}" for r in results if r.error
        ],
    )
    again = [r.invoice_pk for r in results if r.error and r.error != "no such invoice"]
    if again:
        raise RetryLater(f"{len(again)} invoices could not be read", [again])
    return _count("changed" if r.changed else "read" for r in results if not r.error)


def sync_orders(order_ids: list[int]) -> dict[str, int]:
    """A chunk of the sweep's orders to reconcile after an ambiguous create."""
    started = timezone.now()
    done = {pk: sync.sync_order(pk) for pk in order_ids}
    monitoring.record_sweep(
        SweepRun.Kind.ORDERS,
        started,
        orders_reconciled=sum(1 for _outcome, error in done.values() if not error),
        failures=[f"order {pk}: {error}" for pk, (_outcome, error) in done.items() if error],
    )
    again = [pk for pk, (outcome, error) in done.items() if error]
    if again:
        raise RetryLater(f"{len(again)} orders could not be reconciled", [again])
    return _count(outcome for outcome, _error in done.values())


def create_invoices(order_ids: list[int], account: str = "default") -> dict[str, int]:
    """Create invoices for orders that need one (``services.create_invoices``).

    A retry is safe: an order whose invoice may have been made is looked up by its
    ``externalOrderId`` before anything is created again.
    """
    orders = Order.objects.filter(pk__in=order_ids).order_by("pk")
    outcomes = services.create_invoices(orders, account=account)
    again = [
        o.order.pk for o in outcomes if o.outcome == Outcome.FAILED and _worth_retrying(o.error)
    ]
    if again:
        raise RetryLater(f"{len(again)} orders got no invoice yet", [again, account])
    return _count(o.outcome for o in outcomes)


def _retry(outcome: services.RefreshOutcome) -> bool:
    if outcome.error is not None:
        return _worth_retrying(outcome.error)
    # A failure without the provider's error: the row could not be saved (worth another
    # try), or its merchant account is gone from the settings (not until they change).
    return conf.has_account(outcome.invoice.account)


def _count(outcomes: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


#: The jobs a task system may be asked to run, by name.
JOBS = {
    "drain_callbacks": drain_callbacks,
    "process_callback_event": process_callback_event,
    "process_callback_events": process_callback_events,
    "process_pending_callbacks": process_pending_callbacks,
    "refresh_invoices": refresh_invoices,
    "sync_invoices": sync_invoices,
    "sync_orders": sync_orders,
    "create_invoices": create_invoices,
}
