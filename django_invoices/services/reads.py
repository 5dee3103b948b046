"""Read, apply, settle: one read of an invoice from KUNA Pay, and what it changes.

Every read of an invoice goes through ``apply_read`` once the provider has answered:
the callback pipeline's, the sweep's, staff's refresh and the customer's return. Under
the invoice's row lock it applies the answer (``transitions.apply_data_locked``, the
one transition) and settles the callbacks waiting on that invoice that the read answers
(``settle``), so a read made for any reason also answers the callbacks it can.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone as dj_timezone

from .. import telemetry, wire
from ..models import Invoice
from . import queue, settle
from .provider import get_client
from .transitions import (
    Transition,
    apply_data_locked,
    check_same_invoice,
    field_values,
    lock_invoice,
)

logger = logging.getLogger("django_invoices")


@dataclass(frozen=True)
class Read:
    """What applying one read did: the invoice as now stored, its transition, and
    what became of the callbacks waiting on it."""

    invoice: Invoice
    transition: Transition
    settlement: settle.Settlement
    # What it says, for the events' log: "read 'PAID': created -> paid".
    outcome: str


def read(invoice: Invoice, *, fast: bool) -> wire.Invoice:
    """The invoice as KUNA Pay answers ``GET /v1/invoice/{id}`` with the account's own
    client; ``fast``: the short timeout and no retries of a read someone waits for.
    Raises the client's ``KunaPayError``; nothing is locked meanwhile."""
    with telemetry.span("invoice.read", **telemetry.ids(invoice=invoice)) as step:
        data = get_client(invoice.account, fast=fast).get_invoice(str(invoice.provider_id))
        step.set(outcome=data.status)
    return data


def apply_read(
    invoice: Invoice, data: wire.Invoice, started: datetime, *, leased: bool = False
) -> Read:
    """Apply ``data``, read from the provider from ``started`` on, to ``invoice`` and
    settle the callbacks it answers, in one transaction under the invoice's lock.

    ``InvalidResponse`` (nothing changed) when the answer is about another invoice or
    cannot be stored. ``leased``: the caller holds the invoice's lease
    (``queue.claim``), given back in the same write.
    """
    check_same_invoice(invoice, data)
    names = telemetry.ids(invoice=invoice)
    with telemetry.span("invoice.apply", **names) as step, transaction.atomic():
        locked = lock_invoice(invoice)
        before = field_values(locked)
        waiting = settle.waiting_events(locked, started)
        settlement = settle.judge(waiting, data, locked)
        if leased or waiting:
            queue.reschedule(locked, confirmed=settlement.confirmed, waiting=bool(settlement.ahead))
            if not leased:
                locked.read_lease_until = before["read_lease_until"]
        result = apply_data_locked(locked, data, before=before)
        outcome = f"read {data.status!r}: {describe(result)}"
        step.set(outcome=describe(result))
        with telemetry.span("callbacks.settle", **names) as settling:
            lags = settle.record(settlement, outcome, locked)
            settling.set(outcome=_counted(settlement))
    if waiting:
        states = {pk: str(settlement.state_of(pk)) for pk in settlement.received}
        settle.announce(locked, states, lags)
    return Read(locked, result, settlement, outcome)


def _counted(settlement: settle.Settlement) -> str:
    """The states a settlement gave, counted: "applied=2 pending=1"."""
    counts = {
        "applied": len(settlement.applied),
        "pending": len(settlement.ahead),
        "failed": len(settlement.failed),
    }
    return " ".join(f"{state}={n}" for state, n in counts.items() if n) or "none"


def read_and_apply(invoice: Invoice, *, fast: bool) -> Read:
    """``read`` then ``apply_read``, for a reader that holds no lease (staff, customers)."""
    started = dj_timezone.now()
    return apply_read(invoice, read(invoice, fast=fast), started)


def describe(result: Transition) -> str:
    if result.changed:
        return f"{result.old_status} -> {result.new_status}"
    return f"no change (stays {result.old_status})"
