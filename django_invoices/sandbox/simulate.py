"""What happens to a sandbox invoice when the buyer acts on the payment page.

Each action moves the invoice through the provider's statuses as a real payment would,
records the deposits, and sends the callbacks each step causes (``delivery.py``). The
payment page and the pytest plugin both call these functions.
"""

from __future__ import annotations

import secrets
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import conf, delivery, wire
from .models import SandboxInvoice, SandboxTransaction

PAY = "pay"
PAY_PART = "pay_part"
OVERPAY = "overpay"
EXPIRE = "expire"
DECLINE = "decline"
ACTIONS = (PAY, PAY_PART, OVERPAY, EXPIRE, DECLINE)

FINAL = (
    SandboxInvoice.PAID,
    SandboxInvoice.PARTIALLY_PAID,
    SandboxInvoice.TIMEOUT,
    SandboxInvoice.DECLINED,
)


class ActionRefused(Exception):
    """The action does not fit the invoice (it is settled, or the amount is wrong)."""


def failure_modes(invoice: SandboxInvoice) -> set[str]:
    """The failure modes in force for an invoice: its own plus the global ones."""
    own = {str(mode) for mode in (invoice.failures or []) if str(mode) in conf.FAILURE_MODES}
    return own | conf.global_failures()


def default_payment_asset(invoice: SandboxInvoice) -> str:
    if invoice.payment_asset:
        return invoice.payment_asset
    return invoice.asset if invoice.asset in wire.PAYMENT_ASSETS else wire.PAYMENT_ASSETS[0]


def act(
    invoice: SandboxInvoice | str,
    action: str,
    *,
    amount: Decimal | str | None = None,
    payment_asset: str | None = None,
    answers: dict[str, Any] | None = None,
) -> SandboxInvoice:
    """Perform ``action`` (one of ``ACTIONS``) on an open invoice; return it updated."""
    if action not in ACTIONS:
        raise ActionRefused(_("Unknown action %(action)r.") % {"action": action})
    pk = invoice.pk if isinstance(invoice, SandboxInvoice) else invoice
    value = _parse_amount(amount)
    with transaction.atomic(using=conf.database()):
        locked = SandboxInvoice.objects.select_for_update().get(pk=pk)
        if not locked.is_open:
            raise ActionRefused(
                _("This invoice is %(status)s and cannot change any more.")
                % {"status": locked.status}
            )
        modes = failure_modes(locked)
        events: list[dict[str, Any]] = []
        if answers:
            locked.answers = {**(locked.answers or {}), **answers}
        if action == EXPIRE:
            _expire(locked, modes, events)
        else:
            _choose(locked, payment_asset, events)
            due = locked.payment_amount
            assert due is not None
            if action == PAY:
                _deposit(locked, due, SandboxTransaction.PROCESSED, events)
                _settle(locked, SandboxInvoice.PAID, events)
            elif action == PAY_PART:
                part = value if value is not None else _half(locked, due)
                if not Decimal(0) < part < due:
                    raise ActionRefused(
                        _("A part payment must be more than 0 and less than %(due)s.")
                        % {"due": wire.amount_text(due, locked.payment_asset)}
                    )
                _deposit(locked, part, SandboxTransaction.PROCESSED, events)
                _settle(locked, SandboxInvoice.PARTIALLY_PAID, events)
            elif action == OVERPAY:
                more = value if value is not None else due + _half(locked, due)
                if not more > due:
                    raise ActionRefused(
                        _("An overpayment must be more than %(due)s.")
                        % {"due": wire.amount_text(due, locked.payment_asset)}
                    )
                _deposit(locked, more, SandboxTransaction.PROCESSED, events)
                _settle(locked, SandboxInvoice.PAID, events)
            else:  # DECLINE: the deposit arrives and fails the provider's checks
                _deposit(locked, due, SandboxTransaction.CANCELED, events)
                _settle(locked, SandboxInvoice.DECLINED, events)
        rows = delivery.schedule(locked, events, modes)
    delivery.deliver(rows)
    locked.refresh_from_db()
    return locked


def _parse_amount(amount: Decimal | str | None) -> Decimal | None:
    if amount is None or amount == "":
        return None
    try:
        value = Decimal(str(amount))
    except ArithmeticError as exc:
        raise ActionRefused(_("%(amount)r is not an amount.") % {"amount": amount}) from exc
    if not value.is_finite():
        raise ActionRefused(_("%(amount)r is not an amount.") % {"amount": amount})
    return value


def _half(invoice: SandboxInvoice, due: Decimal) -> Decimal:
    precision = wire.ASSETS_BY_CODE[default_payment_asset(invoice)]["precision"]
    unit = Decimal(1).scaleb(-precision)
    # At least the asset's smallest unit: half of a tiny amount must not round to 0.
    return max(unit, (due / 2).quantize(unit, rounding=ROUND_DOWN))


def _report(invoice: SandboxInvoice, status: str, events: list[dict[str, Any]]) -> None:
    invoice.status = status
    invoice.save()
    events.append(wire.invoice_event(invoice))


def _choose(
    invoice: SandboxInvoice, payment_asset: str | None, events: list[dict[str, Any]] | None
) -> None:
    """The buyer picks the currency to pay in; an address is issued."""
    if invoice.payment_amount is not None:
        return
    asset = payment_asset or default_payment_asset(invoice)
    if asset not in wire.PAYMENT_ASSETS:
        raise ActionRefused(_("%(asset)s cannot be paid with.") % {"asset": asset})
    invoice.payment_asset = asset
    invoice.payment_amount = wire.convert(invoice.amount, invoice.asset, asset)
    invoice.address = f"sbx1{secrets.token_hex(16)}"
    if events is not None:
        _report(invoice, SandboxInvoice.PAYMENT_AWAITING, events)
    else:
        invoice.save()


def _deposit(
    invoice: SandboxInvoice,
    value: Decimal,
    outcome: str,
    events: list[dict[str, Any]],
    *,
    confirming: bool = True,
) -> SandboxTransaction:
    """A deposit arrives, waits for confirmations, and ends as ``outcome``."""
    asset = default_payment_asset(invoice)
    fee = wire.fee_of(value, asset)
    tx = SandboxTransaction.objects.create(
        invoice=invoice,
        status=SandboxTransaction.PROCESSING,
        asset=asset,
        payment_code=asset,
        amount=value,
        fee=fee,
        processed_amount=value - fee,
        address=invoice.address,
        tx_id=f"0x{secrets.token_hex(32)}",
    )
    if confirming:
        _report(invoice, SandboxInvoice.CONFIRMATION_AWAITING, events)
    tx.status = outcome
    if outcome == SandboxTransaction.CANCELED:
        tx.processed_amount = Decimal(0)
    tx.save()
    if invoice.transactional_callbacks:
        events.append(wire.deposit_event(tx))
    return tx


def _settle(invoice: SandboxInvoice, status: str, events: list[dict[str, Any]]) -> None:
    invoice.completed_at = timezone.now()
    _report(invoice, status, events)


def _expire(invoice: SandboxInvoice, modes: set[str], events: list[dict[str, Any]]) -> None:
    invoice.expire_at = timezone.now()  # expireAt says when it ran out
    _settle(invoice, SandboxInvoice.TIMEOUT, events)
    if conf.PAID_AFTER_EXPIRY in modes:
        # The buyer's transfer was already on its way: it lands after the deadline.
        _choose(invoice, None, None)
        assert invoice.payment_amount is not None
        _deposit(
            invoice,
            invoice.payment_amount,
            SandboxTransaction.PROCESSED,
            events,
            confirming=False,
        )
        _settle(invoice, SandboxInvoice.PAID, events)
