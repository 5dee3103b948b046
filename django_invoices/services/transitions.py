"""Applying what KUNA Pay reports to an invoice and its order, under their row locks.

Every path that changes an invoice (callbacks, re-reads, the admin) ends here, so each
status is applied once and each signal is sent once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone as dj_timezone

from .. import signals, telemetry, wire
from ..exceptions import (
    InvalidResponse,
)
from ..models import Deposit, Invoice, Order
from ..statuses import (
    CREDITED_DEPOSIT_STATUSES,
    FINAL_STATUSES,
    MONEY_IN_TYPES,
    OPEN_STATUSES,
    ORDER_STATUS_FOR,
    InvoiceStatus,
    OrderStatus,
    deposit_may_move,
    may_move,
    normalize,
)
from . import statements
from .fields import mirror_invoice, stored_amount, stored_text

logger = logging.getLogger("django_invoices")


def apply_invoice_data(invoice: Invoice, data: wire.Invoice) -> Invoice:
    """Apply an invoice the provider answered with (a read of it, or a list item)."""
    check_same_invoice(invoice, data)
    with transaction.atomic():
        locked = lock_invoice(invoice)
        apply_data_locked(locked, data)
    return locked


def check_same_invoice(invoice: Invoice, data: wire.Invoice) -> None:
    """``InvalidResponse`` unless ``data`` is about ``invoice``: an answer about another
    invoice is never applied to this one."""
    if data.id != str(invoice.provider_id):
        raise InvalidResponse(
            f"KUNA Pay answered with invoice {data.id[:60]!r} for {invoice.provider_id}"
        )


def apply_data_locked(
    invoice: Invoice, data: wire.Invoice, *, before: dict[str, Any] | None = None
) -> Transition:
    """Deposits first (so totals are known), then the status; saves the invoice.

    ``before``: the invoice's fields as the caller locked it (``field_values``), when
    the caller changed some already and wants them saved in the same ``UPDATE``.
    """
    status = stored_text(Invoice, "provider_status", data.status, "status")
    deposits = list(data.transactions or ())
    # paid_amount only changes with a deposit written (always under this lock), so an
    # answer without any (most re-reads of a pending invoice) needs no new sum.
    if before is None:
        before = field_values(invoice)
    if deposits:
        write_deposits(invoice, deposits, authoritative=True)
    result = transition(invoice, status, payload=data)
    invoice.synced_at = dj_timezone.now()
    save_changed(invoice, before)
    return result


def field_values(invoice: Invoice) -> dict[str, Any]:
    """The invoice's stored fields as they are now, for ``save_changed``."""
    return {field.attname: getattr(invoice, field.attname) for field in _WRITABLE}


def save_changed(invoice: Invoice, before: dict[str, Any]) -> list[str]:
    """Write only the fields that differ from ``before`` (and ``updated_at`` with them);
    nothing when none does. Returns the fields written."""
    changed = [name for name, value in before.items() if getattr(invoice, name) != value]
    if changed:
        statements.update_fields(invoice, [*changed, "updated_at"])
    return changed


# Every stored field an update may change: not the key, not the timestamps Django keeps.
_WRITABLE = [
    field
    for field in Invoice._meta.concrete_fields
    if not field.primary_key and field.name not in ("created_at", "updated_at")
]


def lock_invoice(invoice: Invoice) -> Invoice:
    """The invoice and its order, locked until the surrounding transaction ends."""
    return statements.locked_invoice(invoice.pk)


# -- the transition --------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    invoice: Invoice
    old_status: str
    new_status: str
    changed: bool


def transition(
    invoice: Invoice, provider_status: str, *, payload: wire.Invoice | None = None
) -> Transition:
    """Move a locked invoice (and its order) to a provider status; the caller saves it.

    Refused moves (see ``statuses.may_move``) change nothing and send nothing: a late or
    replayed report is a normal, quiet outcome.
    """
    old = invoice.status
    new = normalize(provider_status, log_extra=telemetry.ids(invoice=invoice))
    if new == InvoiceStatus.EXPIRED:
        # Recorded even when the move is refused (TIMEOUT after PARTIALLY_PAID): the
        # invoice did expire, so the rest paid afterwards is paid late.
        invoice.expired_once = True
    if new != old and not may_move(old, new):
        logger.info(
            "Invoice %s stays %s; ignored provider status %r",
            invoice,
            old,
            provider_status,
            extra=telemetry.ids(invoice=invoice),
        )
        return Transition(invoice, old, old, changed=False)
    if payload is not None:
        mirror_invoice(invoice, payload)
        if (
            new == InvoiceStatus.PAID
            and invoice.expires_at is not None
            and invoice.completed_at is not None
            and invoice.completed_at > invoice.expires_at
        ):
            # The provider's own dates say it was paid after it expired, even when no
            # read ever saw it expired.
            invoice.expired_once = True
    invoice.provider_status = provider_status
    if new == old:
        return Transition(invoice, old, old, changed=False)
    invoice.status = new
    transaction.on_commit(
        lambda: _send(
            signals.invoice_status_changed,
            Invoice,
            invoice=invoice,
            old_status=old,
            new_status=new,
        )
    )
    _announce_outcome(invoice, old, new)
    _follow_invoice(invoice, new)
    return Transition(invoice, old, new, changed=True)


def _announce_outcome(invoice: Invoice, old: str, new: InvoiceStatus) -> None:
    """The signals for how a payment ended; none of the odd endings passes as plain paid."""
    if new == InvoiceStatus.PAID:
        transaction.on_commit(lambda: _send(signals.invoice_paid, Invoice, invoice=invoice))
        if invoice.expired_once or old == InvoiceStatus.EXPIRED:
            logger.warning(
                "Invoice %s was paid after it expired",
                invoice,
                extra=telemetry.ids(invoice=invoice),
            )
            transaction.on_commit(
                lambda: _send(signals.invoice_paid_late, Invoice, invoice=invoice)
            )
        check_overpaid(invoice)
    elif new == InvoiceStatus.PARTIALLY_PAID:
        transaction.on_commit(
            lambda: _send(signals.invoice_partially_paid, Invoice, invoice=invoice)
        )
    elif new in (InvoiceStatus.DECLINED, InvoiceStatus.LIMITS_OUT_OF_RANGE):
        transaction.on_commit(lambda: _send(signals.invoice_declined, Invoice, invoice=invoice))


def _may_be_overpaid(invoice: Invoice) -> bool:
    return invoice.status == InvoiceStatus.PAID and invoice.payment_amount is not None


def credited_gross(invoice: Invoice) -> Decimal:
    """What the invoice's credited deposits brought, fees included (payment asset)."""
    total = statements.credited_total(
        invoice.pk, "amount", CREDITED_DEPOSIT_STATUSES, MONEY_IN_TYPES
    )
    return total or Decimal("0")


def check_overpaid(invoice: Invoice, *, received_before: Decimal | None = None) -> None:
    """Signal a paid invoice whose credited deposits exceed what the buyer was asked to
    pay. With ``received_before`` (the credited total before a deposit was written), only
    when that deposit made the total grow: the same excess is announced once."""
    if not _may_be_overpaid(invoice):
        return
    expected = invoice.payment_amount
    assert expected is not None
    received = credited_gross(invoice)
    if received <= expected or (received_before is not None and received <= received_before):
        return
    # Saved with the invoice (the caller saves it): a person should look at it.
    invoice.overpaid = True
    logger.warning(
        "Invoice %s received %s, more than the %s due",
        invoice,
        received,
        expected,
        extra=telemetry.ids(invoice=invoice),
    )
    transaction.on_commit(
        lambda: _send(
            signals.invoice_overpaid, Invoice, invoice=invoice, expected=expected, received=received
        )
    )


def _follow_invoice(invoice: Invoice, new: InvoiceStatus) -> None:
    order = invoice.order
    # Only an ended invoice can have a newer open sibling (one open invoice per order).
    if (
        new in FINAL_STATUSES
        and new != InvoiceStatus.PAID
        and (
            Invoice.objects.filter(order=order, status__in=OPEN_STATUSES)
            .exclude(pk=invoice.pk)
            .exists()
        )
    ):
        # A newer invoice is what the order waits for; this one's end does not count.
        return
    if set_order_status(order, ORDER_STATUS_FOR[new]) and order.status == OrderStatus.PAID:
        transaction.on_commit(
            lambda: _send(signals.order_paid, Order, order=order, invoice=invoice)
        )


def set_order_status(order: Order, status: OrderStatus) -> bool:
    old = order.status
    if old in (status, OrderStatus.PAID):
        return False
    order.status = status
    statements.update_fields(order, ["status", "updated_at"])
    transaction.on_commit(
        lambda: _send(
            signals.order_status_changed, Order, order=order, old_status=old, new_status=status
        )
    )
    return True


def _send(signal: Any, sender: type, **kwargs: Any) -> None:
    # The state is committed by now; a failing receiver must not turn a callback into a
    # 500 (the provider would resend, and the resend would rightly change nothing).
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            receiver_failed(receiver, result)


def receiver_failed(receiver: Any, error: Exception) -> None:
    """A shop's receiver raised: log it. (The ``kunapay`` test fixture wraps this to
    re-raise the error in the test, where a log line would go unnoticed.)"""
    logger.error(
        "Receiver %r of a django-invoices signal failed",
        receiver,
        exc_info=(type(error), error, error.__traceback__),
    )


# -- deposits --------------------------------------------------------------------------


# What ``write_deposit`` did with a deposit.
DEPOSIT_RECORDED = "recorded"
DEPOSIT_UPDATED = "updated"
DEPOSIT_MOVED = "moved here from another invoice"
DEPOSIT_STALE = "unchanged (older news)"
DEPOSIT_ELSEWHERE = "unchanged (recorded on another invoice)"


def record_deposit(
    invoice: Invoice, data: wire.Transaction, *, recount: bool = True
) -> tuple[Deposit, bool]:
    """Create or update the deposit ``data`` describes; the invoice must be locked.

    Returns the deposit and whether it was created (see ``write_deposit``).
    """
    deposit, done = write_deposit(invoice, data, recount=recount)
    return deposit, done == DEPOSIT_RECORDED


def write_deposit(
    invoice: Invoice, data: wire.Transaction, *, recount: bool = True, authoritative: bool = False
) -> tuple[Deposit, str]:
    """Create or update the deposit ``data`` describes; the invoice must be locked.

    Returns the deposit and what was done (``DEPOSIT_*``). Older news than what is
    stored (a status that goes back, or an earlier ``updatedAt``) changes nothing. A
    deposit recorded on another invoice stays there unless ``authoritative`` (the
    provider itself lists it under this invoice, or the callback names this invoice):
    then it moves here, and what the other invoice received is counted again.
    """
    provider_id = stored_text(Deposit, "provider_id", data.id, "deposit id")
    if not provider_id:
        raise InvalidResponse("a deposit without an id")
    status = stored_text(Deposit, "status", data.status, "deposit status")
    fields = {
        "invoice": invoice,
        "status": status,
        "type": stored_text(Deposit, "type", data.type, "transaction type"),
        "asset": stored_text(Deposit, "asset", data.asset, "deposit asset"),
        "payment_code": stored_text(Deposit, "payment_code", data.payment_code, "paymentCode"),
        "amount": stored_amount(data.amount),
        "fee": stored_amount(data.fee),
        "processed_amount": stored_amount(data.processed_amount),
        "address": stored_text(Deposit, "address", data.address, "deposit address"),
        "tx_id": stored_text(Deposit, "tx_id", data.tx_id, "txId"),
        "provider_created_at": data.created_at,
        "raw_payload": data.raw,
    }
    # The invoice lock serialises writers of its deposits; the unique provider_id is the
    # backstop, so a plain read-then-write is enough (and cheaper than update_or_create).
    deposit = Deposit.objects.filter(provider_id=provider_id).first()
    if deposit is None:
        deposit = Deposit.objects.create(provider_id=provider_id, **fields)
        transaction.on_commit(
            lambda: _send(signals.deposit_received, Deposit, deposit=deposit, invoice=invoice)
        )
        done = DEPOSIT_RECORDED
    elif deposit.invoice_id != invoice.pk:
        if not authoritative:
            # Found by externalOrderId only: the invoice it is on knows better.
            logger.warning(
                "Deposit %s belongs to invoice %s; not moved to %s",
                provider_id,
                deposit.invoice_id,
                invoice,
                extra=telemetry.ids(invoice=invoice, transaction_id=provider_id),
            )
            return deposit, DEPOSIT_ELSEWHERE
        _move_deposit(deposit, invoice)
        if not _is_older(deposit, status, data):
            for name, value in fields.items():
                setattr(deposit, name, value)
        deposit.save()
        done = DEPOSIT_MOVED
    elif _is_older(deposit, status, data):
        logger.info(
            "Deposit %s stays %s; ignored older news",
            provider_id,
            deposit.status,
            extra=telemetry.ids(invoice=invoice, transaction_id=provider_id),
        )
        return deposit, DEPOSIT_STALE
    else:
        for name, value in fields.items():
            setattr(deposit, name, value)
        deposit.save()
        done = DEPOSIT_UPDATED
    if recount:
        recount_paid(invoice)
    return deposit, done


def write_deposits(
    invoice: Invoice, items: list[wire.Transaction], *, authoritative: bool
) -> list[tuple[Deposit, str]]:
    """``write_deposit`` for each item, then the invoice's received total; on a paid
    invoice, an overpayment these deposits create is announced. The caller saves."""
    received_before = credited_gross(invoice) if _may_be_overpaid(invoice) else None
    written = [
        write_deposit(invoice, item, recount=False, authoritative=authoritative) for item in items
    ]
    recount_paid(invoice)
    if received_before is not None:
        check_overpaid(invoice, received_before=received_before)
    return written


def _move_deposit(deposit: Deposit, invoice: Invoice) -> None:
    """Take a deposit from the invoice it was put on by mistake (locked meanwhile, so
    its received total stays right); the caller saves the deposit."""
    previous = Invoice.objects.select_for_update().get(pk=deposit.invoice_id)
    logger.warning(
        "Deposit %s moves from invoice %s to %s",
        deposit.provider_id,
        previous,
        invoice,
        extra=telemetry.ids(invoice=invoice, transaction_id=deposit.provider_id),
    )
    deposit.invoice = invoice
    deposit.save(update_fields=["invoice", "updated_at"])
    recount_paid(previous)
    previous.save(update_fields=["paid_amount", "updated_at"])


def _is_older(deposit: Deposit, status: str, data: wire.Transaction) -> bool:
    if not deposit_may_move(deposit.status, status):
        return True
    then = wire.Transaction.updated_at_of(deposit.raw_payload)
    now = data.updated_at
    return then is not None and now is not None and now < then


def recount_paid(invoice: Invoice) -> None:
    total = statements.credited_total(
        invoice.pk, "processed_amount", CREDITED_DEPOSIT_STATUSES, MONEY_IN_TYPES
    )
    invoice.paid_amount = total or Decimal("0")
