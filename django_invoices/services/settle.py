"""Settle: what one read of an invoice means for the callbacks waiting on it.

A read answers every pending event located on its invoice (``CallbackEvent.invoice``,
set by ``locate``) that arrived before the read started, unless the event tells
something the read does not show yet: a status the invoice may still move to, or a
deposit the read does not list. Those stay pending for a later read of the same invoice
(the provider's API may lag behind its own callbacks), at most ``CONFIRM_ATTEMPTS``
reads, then fail for staff to look at. An event that arrived after the read started is
left alone: the read may predate its news.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F
from django.utils import timezone as dj_timezone

from .. import callbacks, signals, telemetry, wire
from ..models import CallbackEvent, Invoice
from ..statuses import PROVIDER_STATUS_MAP, may_move
from . import statements

logger = logging.getLogger("django_invoices")

#: Reads an event waits through for the API to show its news before it fails for staff
#: to look at: KUNA Pay's own number of callback attempts. The invoice itself is still
#: read by ``invoices_sync`` while it can change, so a failed event loses nothing.
CONFIRM_ATTEMPTS = 12


def waiting_events(invoice: Invoice, started: datetime) -> list[CallbackEvent]:
    """The pending events a read of the (locked) invoice that started at ``started`` may
    settle, locked; rows another worker holds are skipped (it settles them itself).
    Unsaved instances carrying their pk, body, attempts and receipt time only."""
    return [
        CallbackEvent(pk=pk, body=body, attempts=attempts, received_at=received_at)
        for pk, body, attempts, received_at in statements.waiting_events(invoice.pk, started)
    ]


def news_ahead_of_read(
    parsed: callbacks.ParsedCallback, data: wire.Invoice, invoice: Invoice
) -> str:
    """What the callback tells that the read does not show (yet), in words; "" if
    nothing. The read is applied all the same: this only decides whether to ask again."""
    if callbacks.uuid_or_none(parsed.object_id) == invoice.provider_id:
        claimed = PROVIDER_STATUS_MAP.get(parsed.status.strip().upper())
        read = PROVIDER_STATUS_MAP.get(data.status.strip().upper())
        if claimed is not None and read is not None and claimed != read and may_move(read, claimed):
            return f"the API says {data.status!r}, not {parsed.status!r}; will ask again"
        return ""
    if parsed.kind == "deposit" or parsed.data.get("type") in ("Deposit", "InvoiceDeposit"):
        listed = {item.id for item in data.transactions or ()}
        if parsed.object_id and parsed.object_id not in listed:
            return f"the API lists no transaction {parsed.object_id!r}; will ask again"
    return ""


@dataclass
class Settlement:
    """What a read did to the events waiting on its invoice."""

    applied: list[int] = field(default_factory=list)
    ahead: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    # When each event judged was received (for the lag from receipt to applied).
    received: dict[int, datetime] = field(default_factory=dict)

    @property
    def confirmed(self) -> bool:
        """True when the read showed every news it was asked about."""
        return not self.ahead and not self.failed

    def state_of(self, pk: int) -> str | None:
        if pk in self.ahead:
            return CallbackEvent.State.PENDING
        if pk in self.failed:
            return CallbackEvent.State.FAILED
        return CallbackEvent.State.APPLIED if pk in self.applied else None

    def outcome_of(self, pk: int, said: str) -> str:
        """What ``record`` writes as the event's outcome, ``said`` being the read's."""
        why = self.ahead.get(pk) or self.failed.get(pk)
        return f"{said}; {why}" if why else said


def judge(events: list[CallbackEvent], data: wire.Invoice, invoice: Invoice) -> Settlement:
    """Which of ``events`` the read ``data`` answers, which wait for another read, and
    which gave up after ``CONFIRM_ATTEMPTS`` reads."""
    settlement = Settlement()
    for event in events:
        if event.received_at is not None:
            settlement.received[event.pk] = event.received_at
        try:
            parsed = callbacks.parse(event.body.encode("utf-8"))
        except callbacks.MalformedCallback:
            # Verified once, no longer readable (edited by hand?): for staff to look at.
            settlement.failed[event.pk] = "its stored body no longer parses"
            continue
        ahead = news_ahead_of_read(parsed, data, invoice)
        if not ahead:
            settlement.applied.append(event.pk)
        elif event.attempts + 1 >= CONFIRM_ATTEMPTS:
            settlement.failed[event.pk] = f"{ahead}; gave up"
        else:
            settlement.ahead[event.pk] = ahead
    return settlement


def record(settlement: Settlement, said: str, invoice: Invoice | None = None) -> list[float]:
    """Write the settlement on the events, ``said`` being what the read did: each read
    counts as an attempt at each event. Returns the seconds each applied event waited
    from its receipt."""
    now = dj_timezone.now()
    statements.settle(settlement.applied, CallbackEvent.State.APPLIED, said, now)
    for pk in settlement.ahead:
        CallbackEvent.objects.filter(pk=pk).update(
            outcome=settlement.outcome_of(pk, said), attempts=F("attempts") + 1, processed_at=now
        )
    for pk, why in settlement.failed.items():
        logger.error(
            "Gave up on callback event %s: %s",
            pk,
            why,
            extra=telemetry.ids(invoice=invoice, event_id=pk),
        )
        CallbackEvent.objects.filter(pk=pk).update(
            state=CallbackEvent.State.FAILED,
            outcome=settlement.outcome_of(pk, said),
            attempts=F("attempts") + 1,
            processed_at=now,
        )
    received = settlement.received
    return [
        max(0.0, (now - received[pk]).total_seconds())
        for pk in settlement.applied
        if pk in received
    ]


def record_failed_read(invoice: Invoice, started: datetime, reason: str) -> int:
    """A read that brought no answer counts as an attempt at each event waiting on the
    invoice; those out of attempts fail. Returns how many still wait."""
    now = dj_timezone.now()
    waiting = CallbackEvent.objects.filter(
        invoice=invoice,
        verified=True,
        state=CallbackEvent.State.PENDING,
        received_at__lte=started,
    )
    out_of_attempts = list(
        waiting.filter(attempts__gte=CONFIRM_ATTEMPTS - 1).values_list("pk", flat=True)
    )
    if out_of_attempts:
        logger.error(
            "Gave up on %d callback event(s) of invoice %s: %s",
            len(out_of_attempts),
            invoice,
            reason,
            extra=telemetry.ids(invoice=invoice),
        )
        CallbackEvent.objects.filter(pk__in=out_of_attempts).update(
            state=CallbackEvent.State.FAILED,
            outcome=f"will retry: {reason}; gave up"[:2000],
            attempts=F("attempts") + 1,
            processed_at=now,
        )
        announce(invoice, dict.fromkeys(out_of_attempts, CallbackEvent.State.FAILED), [])
    return waiting.update(
        outcome=f"will retry: {reason}"[:2000], attempts=F("attempts") + 1, processed_at=now
    )


def announce(invoice: Invoice, states: dict[int, str], lags: list[float]) -> None:
    """``signals.callbacks_settled`` (for metrics) about events of ``invoice``: their
    new states, and the seconds from receipt of each applied one. A receiver's error is
    only logged."""
    for receiver, error in signals.callbacks_settled.send_robust(
        sender=CallbackEvent,
        account=invoice.account,
        invoice=invoice,
        states={pk: str(state) for pk, state in states.items()},
        lags=lags,
    ):
        if isinstance(error, Exception):
            logger.warning(
                "Receiver %r of callbacks_settled failed",
                receiver,
                exc_info=(type(error), error, error.__traceback__),
            )


def settle_as(events: list[int], state: str, outcome: str) -> int:
    """Settle events without a read (a duplicate of news applied, an event about no
    invoice we know): their state and why, one attempt counted."""
    if not events:
        return 0
    return CallbackEvent.objects.filter(pk__in=events).update(
        state=state, outcome=outcome, attempts=F("attempts") + 1, processed_at=dj_timezone.now()
    )
