"""The database as the queue of record for callbacks.

The work is the pending, authentic events located on an invoice. Per invoice, three
columns decide who reads it and when (``Invoice.read_lease_until``,
``callbacks_read_after``, ``callbacks_unconfirmed``):

- **claim**: a reader takes the invoice with one conditional ``UPDATE`` that sets a
  lease; no other reader (request, worker, sweep) reads it until the lease is given back
  or runs out, so a burst of callbacks costs one read, on any database and cache;
- **budget**: while a read leaves news unconfirmed (the API lags behind its callback)
  the next read of the invoice waits, doubling from ``READ_BACKOFF`` seconds up to
  ``READ_BACKOFF_MAX`` however many callbacks carry that news;
- **lease**: a reader that dies holds its invoice for at most the lease, the longest a
  read with its client's timeouts and retries can take.

With a task system, workers are woken through ``DrainSchedule``: the first callback
after a drain started asks for one (one conditional ``UPDATE``, one message), the ones
after it find it asked for and send nothing. Each wake-up also schedules, at most once
per ``WAKE_CHECK`` seconds, a deferred drain: should the wake-up message be lost, that
one finds the work. A task message or a cache entry is never what decides whether work
is done: the pending rows are.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connections, router, transaction
from django.db.models import Min, Q, QuerySet
from django.utils import timezone as dj_timezone

from .. import background, conf
from ..models import CallbackEvent, DrainSchedule, Invoice
from . import statements

logger = logging.getLogger("django_invoices")

#: Seconds before the second read of an invoice whose callbacks' news the API did not
#: show; doubled for each read after it that did not either, up to READ_BACKOFF_MAX.
READ_BACKOFF = 2
READ_BACKOFF_MAX = 600

#: Seconds after a wake-up after which a deferred drain looks for work again: the most
#: a lost wake-up message delays a callback while a worker is free.
WAKE_CHECK = 10

#: Seconds a lease outlives the longest read its client can make (timeouts, retries).
LEASE_MARGIN = 5

DRAIN = "callbacks"


def read_backoff(unconfirmed: int) -> float:
    """Seconds before the next read of an invoice after ``unconfirmed`` reads in a row
    that did not show its callbacks' news."""
    if unconfirmed <= 0:
        return 0.0
    return float(min(READ_BACKOFF_MAX, READ_BACKOFF * 2 ** (unconfirmed - 1)))


def lease_seconds(account: str, *, fast: bool) -> float:
    """How long a reader of ``account``'s invoices holds one: the longest its read can
    take, plus a margin."""
    from .provider import FAST_CONNECT_TIMEOUT

    settings = conf.get_account(account)
    if fast:
        longest = min(settings.connect_timeout, FAST_CONNECT_TIMEOUT) + float(
            conf.get("CALLBACK_API_TIMEOUT")
        )
    else:
        tries = settings.retries + 1
        waits = sum(settings.retry_backoff * 2**n for n in range(settings.retries))
        longest = tries * (settings.connect_timeout + settings.read_timeout) + waits
    return longest + LEASE_MARGIN


# -- one invoice ------------------------------------------------------------------------


def claim(
    invoice: Invoice, *, fast: bool, due_only: bool = True, waiting: bool = False
) -> datetime | None:
    """Take the invoice for a read: a lease no other reader overrides. Returns when the
    lease ends, or None when another reader holds it (or, with ``due_only``, when its
    callbacks' next read is not due yet; with ``waiting``, when no authentic callback
    waits on it any longer: a reader that listed it found its callbacks answered by
    another's read in the meantime)."""
    now = dj_timezone.now()
    until = now + timedelta(seconds=lease_seconds(invoice.account, fast=fast))
    claimed = statements.claim(invoice.pk, until, now, due_only=due_only, waiting=waiting)
    return until if claimed else None


def release(invoice: Invoice, *, confirmed: bool | None) -> None:
    """Give the invoice back after a read that could not be applied. ``confirmed`` None
    leaves its callbacks' schedule as it was; False backs it off."""
    values: dict[str, object] = {"read_lease_until": None}
    if confirmed is False:
        unconfirmed = invoice.callbacks_unconfirmed + 1
        values["callbacks_unconfirmed"] = unconfirmed
        values["callbacks_read_after"] = dj_timezone.now() + timedelta(
            seconds=read_backoff(unconfirmed)
        )
    Invoice.objects.filter(pk=invoice.pk).update(**values)


def reschedule(invoice: Invoice, *, confirmed: bool, waiting: bool) -> None:
    """Set the (locked, about to be saved) invoice's schedule after a read: the lease
    given back; callbacks still waiting on news the read did not show back off, news
    all shown starts afresh."""
    invoice.read_lease_until = None
    if confirmed or not waiting:
        invoice.callbacks_unconfirmed = 0
        invoice.callbacks_read_after = None
        return
    invoice.callbacks_unconfirmed = min(invoice.callbacks_unconfirmed + 1, 32)
    invoice.callbacks_read_after = dj_timezone.now() + timedelta(
        seconds=read_backoff(invoice.callbacks_unconfirmed)
    )


# -- what is waiting --------------------------------------------------------------------


def pending() -> QuerySet[CallbackEvent]:
    """The authentic events still to act on."""
    return CallbackEvent.objects.filter(verified=True, state=CallbackEvent.State.PENDING)


def due_invoices(limit: int, *, now: datetime | None = None, due_only: bool = True) -> list[int]:
    """Invoices with callbacks waiting that nobody reads and (``due_only``) whose next
    read is due, those waiting longest first."""
    now = now or dj_timezone.now()
    free = Q(invoice__read_lease_until__isnull=True) | Q(invoice__read_lease_until__lte=now)
    if due_only:
        free &= Q(invoice__callbacks_read_after__isnull=True) | Q(
            invoice__callbacks_read_after__lte=now
        )
    waiting = (
        pending()
        .filter(free, invoice__isnull=False)
        .values("invoice")
        .annotate(since=Min("received_at"))
        .order_by("since", "invoice")
        .values_list("invoice", flat=True)
    )
    return [int(pk) for pk in waiting[:limit]]


def unlocated_events(limit: int) -> list[int]:
    """Authentic pending events not placed on an invoice yet, oldest first."""
    return list(
        CallbackEvent.objects.filter(
            verified=True, state=CallbackEvent.State.PENDING, invoice__isnull=True
        )
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def next_due(now: datetime | None = None) -> datetime | None:
    """When the earliest waiting invoice that is not due now becomes due (its backoff
    or a lease ends); None when nothing waits for later."""
    now = now or dj_timezone.now()
    later = CallbackEvent.objects.filter(
        verified=True, state=CallbackEvent.State.PENDING, invoice__isnull=False
    ).filter(Q(invoice__callbacks_read_after__gt=now) | Q(invoice__read_lease_until__gt=now))
    found = later.aggregate(
        backoff=Min("invoice__callbacks_read_after"), lease=Min("invoice__read_lease_until")
    )
    times = [value for value in found.values() if value is not None and value > now]
    return min(times) if times else None


# -- waking workers ---------------------------------------------------------------------


def wake() -> bool:
    """Ask a worker to drain the queue, unless a drain was asked for and has not
    started; then schedule the deferred check (see the module's docstring). Returns
    whether a message was sent. Raises what the task system raises when it cannot
    take the message: the caller then does the work itself."""
    # A read first: in a burst a drain is asked for already, and seeing so takes no row
    # lock and writes nothing. Safe, as the caller's event is committed before this read
    # and a drain reads the pending events after it clears the mark.
    if statements.drain_requested(DRAIN):
        return False
    now = dj_timezone.now()
    if not _mark("requested_at", now, "{table}.{column} IS NULL"):
        return False
    try:
        background.enqueue("drain_callbacks", at_once=True)
    except Exception:
        DrainSchedule.objects.filter(name=DRAIN).update(requested_at=None)
        raise
    schedule(now + timedelta(seconds=WAKE_CHECK))
    return True


def _mark(column: str, value: datetime, condition: str, *params: datetime) -> bool:
    """Set ``column`` of the schedule's row to ``value`` where ``condition`` (SQL about
    that row, with ``params``) holds, creating the row if there is none; whether it was
    set. One statement where the database has an upsert (PostgreSQL, SQLite), so a
    callback that finds a drain asked for costs one query."""
    connection = connections[router.db_for_write(DrainSchedule)]
    ops = connection.ops
    table = ops.quote_name(DrainSchedule._meta.db_table)
    name, target = ops.quote_name("name"), ops.quote_name(column)
    condition = condition.format(table=table, column=target)
    values = [ops.adapt_datetimefield_value(v) for v in (value, *params)]
    # Only quoted names of our own table go into the text; every value is a parameter.
    with connection.cursor() as cursor:
        if connection.vendor in ("postgresql", "sqlite"):
            cursor.execute(
                f"INSERT INTO {table} ({name}, {target}) VALUES (%s, %s) "  # noqa: S608
                f"ON CONFLICT ({name}) DO UPDATE SET {target} = excluded.{target} "
                f"WHERE {condition}",
                [DRAIN, *values],
            )
            return cursor.rowcount == 1
    with transaction.atomic(using=connection.alias):
        DrainSchedule.objects.select_for_update().get_or_create(name=DRAIN)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {target} = %s WHERE {name} = %s AND ({condition})",  # noqa: S608
                [values[0], DRAIN, *values[1:]],
            )
            return cursor.rowcount == 1


def schedule(at: datetime) -> bool:
    """A deferred drain at ``at``, unless one is due by then already; whether one was
    sent. A backend that cannot defer gets none (the sweep is its backstop)."""
    now = dj_timezone.now()
    if not background.can_defer():
        return False
    free = "{table}.{column} IS NULL OR {table}.{column} < %s OR {table}.{column} > %s"
    if not _mark("scheduled_for", at, free, now, at):
        return False
    try:
        background.enqueue("drain_callbacks", at_once=True, run_after=at)
    except Exception:
        logger.warning("Could not schedule a drain of the callbacks for %s", at, exc_info=True)
        DrainSchedule.objects.filter(name=DRAIN, scheduled_for=at).update(scheduled_for=None)
        return False
    return True


def drain_started() -> None:
    """A drain begins: callbacks stored from now on ask for another one."""
    now = dj_timezone.now()
    DrainSchedule.objects.filter(name=DRAIN).update(
        requested_at=None,
    )
    DrainSchedule.objects.filter(name=DRAIN, scheduled_for__lte=now).update(scheduled_for=None)
