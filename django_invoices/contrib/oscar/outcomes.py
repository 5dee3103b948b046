"""What the ending of a KUNA Pay invoice does to the Oscar order it was made for.

==============================  =================  ==================================  =========
The invoice                     Order status       Payment events (amount)             Stock
==============================  =================  ==================================  =========
paid                            ``paid``           ``paid``: the order's total         kept
paid, more than was due         ``overpaid``       ``paid``: the total;                kept
                                                   ``overpaid``: the excess
paid after it expired           ``paid_late``      ``paid_late``: the order's total    kept [*]
partly paid                     ``partly_paid``    ``partly_paid``: what arrived       kept
expired                         ``expired``        ``expired``: 0                      released
deactivated                     ``cancelled``      ``cancelled``: 0                    released
declined, or out of limits      ``declined``       ``declined``: 0                     released
==============================  =================  ==================================  =========

The names are keys of ``STATUSES`` and ``EVENTS`` (``conf.py``); an event's reference
is the KUNA Pay invoice id. Money that arrived is also recorded on a payment ``Source``
(``SOURCE_TYPE``, same reference): allocated the invoice's amount, debited what arrived.
Amounts are in the order's currency: a payment in another asset counts at the
invoice's own rate, rounded down to the cent. [*] A payment that arrives after the
order's stock was released leaves a note saying so.

Exactly once: under the Oscar order's row lock, each event is recorded once per
invoice, and the status moves only together with an event recorded just then. An
ending seen twice (a repeated signal, two processes at once, the sync command) records
nothing the second time; old news never moves back an order that staff moved on. A
status the pipeline (``OSCAR_ORDER_STATUS_PIPELINE``) does not allow from the order's
current one is not forced: the events are recorded and a note says why the status
stayed.

An unpaid ending counts only when it ends the order's payment: not while a newer
invoice of the order is open, nor after one was paid (the app's order says so).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils.translation import gettext as _

from django_invoices import services
from django_invoices.models import Invoice
from django_invoices.statuses import InvoiceStatus, OrderStatus

from . import conf

logger = logging.getLogger("django_invoices.oscar")

CENT = Decimal("0.01")

# What apply_invoice did.
APPLIED = "applied"  # events recorded, status moved
RECORDED = "recorded"  # events recorded, the pipeline kept the status
ALREADY = "already applied"
OPEN = "still open"
SUPERSEDED = "not the order's ending"
NOT_OSCAR = "not an Oscar order"

# The app order's statuses after an unpaid ending that ends its payment.
ENDED_UNPAID = (OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.FAILED)
UNPAID_OUTCOME = {
    InvoiceStatus.EXPIRED: conf.EXPIRED,
    InvoiceStatus.CANCELLED: conf.CANCELLED,
    InvoiceStatus.DECLINED: conf.DECLINED,
    InvoiceStatus.LIMITS_OUT_OF_RANGE: conf.DECLINED,
}
# Events that settle the order's lines (linked to them, as Oscar's checkout does).
SETTLING = (conf.PAID, conf.PAID_LATE)


def cents(amount: Decimal) -> Decimal:
    """Oscar's amounts have two decimals; never more than arrived."""
    return amount.quantize(CENT, rounding=ROUND_DOWN)


@dataclass(frozen=True)
class Ending:
    """How an invoice ended, in the Oscar order's terms."""

    outcome: str  # one of conf.OUTCOMES
    events: tuple[tuple[str, Decimal], ...]  # (outcome whose EVENTS name it, amount)
    received: Decimal  # in the order's currency, for the payment Source


def ending_of(invoice: Invoice) -> Ending | None:
    """The invoice's ending as stored (None while it is open)."""
    zero = Decimal("0.00")
    if invoice.status == InvoiceStatus.PAID:
        total = cents(invoice.invoice_amount)
        received = max(cents(services.invoice_received(invoice)), total)
        late = invoice.expired_once
        over = services.overpayment(invoice) is not None
        events = [(conf.PAID_LATE if late else conf.PAID, total)]
        if over:
            events.append((conf.OVERPAID, received - total))
        outcome = conf.PAID_LATE if late else conf.OVERPAID if over else conf.PAID
        return Ending(outcome, tuple(events), received)
    if invoice.status == InvoiceStatus.PARTIALLY_PAID:
        received = cents(services.invoice_received(invoice))
        return Ending(conf.PARTLY_PAID, ((conf.PARTLY_PAID, received),), received)
    unpaid = UNPAID_OUTCOME.get(InvoiceStatus(invoice.status))
    if unpaid is None:
        return None
    return Ending(unpaid, ((unpaid, zero),), zero)


def oscar_order_model() -> Any:
    from oscar.core.loading import get_model

    return get_model("order", "Order")


def event_handler() -> Any:
    """Oscar's ``EventHandler`` (the shop's, if it forked the order app)."""
    from oscar.core.loading import get_class

    return get_class("order.processing", "EventHandler")()


def apply_invoice(invoice_pk: int) -> str:
    """Record the ending of invoice ``invoice_pk`` on its Oscar order; idempotent.

    Reads the invoice as committed (never what a request or a callback said) and
    returns what was done (``APPLIED``, ``RECORDED``, ``ALREADY``, ...).
    """
    invoice = Invoice.objects.select_related("order").get(pk=invoice_pk)
    model = oscar_order_model()
    if invoice.order.content_type_id != ContentType.objects.get_for_model(model).pk:
        return NOT_OSCAR
    with transaction.atomic():
        order = model._default_manager.select_for_update().filter(pk=invoice.order.object_id)
        oscar_order = order.first()
        if oscar_order is None:
            return NOT_OSCAR
        # Read again under the order's lock: whatever committed before it was taken.
        invoice = Invoice.objects.select_related("order").get(pk=invoice_pk)
        ending = ending_of(invoice)
        if ending is None:
            return OPEN
        if ending.outcome in conf.UNPAID and invoice.order.status not in ENDED_UNPAID:
            return SUPERSEDED
        handler = event_handler()
        recorded = _record_events(handler, oscar_order, invoice, ending)
        if ending.received > 0:
            _debit(oscar_order, invoice, ending.received)
        if not recorded:
            return ALREADY
        if ending.outcome in conf.UNPAID:
            # Oscar's own rule for an order that will not ship: its allocations go back.
            handler.cancel_stock_allocations(oscar_order)
        elif oscar_order.lines.filter(allocation_cancelled=True).exists():
            handler.create_note(
                oscar_order,
                _(
                    "The stock allocated to this order was released before this payment "
                    "arrived: check the stock before shipping."
                ),
            )
        return _move(handler, oscar_order, invoice, ending)


def _record_events(handler: Any, oscar_order: Any, invoice: Invoice, ending: Ending) -> list[str]:
    from oscar.apps.order.exceptions import InvalidPaymentEvent
    from oscar.core.loading import get_model

    event_types = get_model("order", "PaymentEventType")
    reference = str(invoice.provider_id)
    recorded = []
    for outcome, amount in ending.events:
        event_type, _created = event_types._default_manager.get_or_create(
            name=conf.event_for(outcome)
        )
        if oscar_order.payment_events.filter(event_type=event_type, reference=reference).exists():
            continue
        lines = list(oscar_order.lines.all()) if outcome in SETTLING else []
        try:
            handler.handle_payment_event(
                oscar_order,
                event_type,
                amount,
                lines=lines,
                line_quantities=[line.quantity for line in lines],
                reference=reference,
            )
        except InvalidPaymentEvent:
            # The lines were settled already (by another invoice of the same order):
            # the money is recorded all the same, on the order alone.
            handler.handle_payment_event(oscar_order, event_type, amount, reference=reference)
        recorded.append(outcome)
    return recorded


def _debit(oscar_order: Any, invoice: Invoice, received: Decimal) -> None:
    """The invoice's payment Source, debited up to what arrived."""
    from oscar.core.loading import get_model

    source_types = get_model("payment", "SourceType")
    sources = get_model("payment", "Source")
    source_type, _created = source_types._default_manager.get_or_create(
        name=conf.get("SOURCE_TYPE")
    )
    reference = str(invoice.provider_id)
    source = oscar_order.sources.filter(source_type=source_type, reference=reference).first()
    if source is None:
        source = sources(
            order=oscar_order,
            source_type=source_type,
            currency=oscar_order.currency,
            amount_allocated=cents(invoice.invoice_amount),
            reference=reference,
        )
        source.save()
    if received > source.amount_debited:
        source.debit(received - source.amount_debited, reference=reference)


def _move(handler: Any, oscar_order: Any, invoice: Invoice, ending: Ending) -> str:
    target = conf.status_for(ending.outcome)
    what = _("KUNA Pay invoice %(invoice)s: %(outcome)s, %(amount)s %(currency)s received.") % {
        "invoice": invoice.provider_id,
        "outcome": conf.LABELS[ending.outcome],
        "amount": ending.received,
        "currency": oscar_order.currency,
    }
    if oscar_order.status == target:
        handler.create_note(oscar_order, what)
        return APPLIED
    if target in oscar_order.available_statuses():
        handler.handle_order_status_change(oscar_order, target, note_msg=what)
        return APPLIED
    logger.warning(
        "Oscar order %s stays %r after invoice %s ended %s: the pipeline has no move to %r",
        oscar_order.number,
        oscar_order.status,
        invoice.provider_id,
        ending.outcome,
        target,
    )
    handler.create_note(
        oscar_order,
        what
        + " "
        + _(
            "The order stays '%(status)s': OSCAR_ORDER_STATUS_PIPELINE does not lead "
            "from it to '%(target)s'."
        )
        % {"status": oscar_order.status, "target": target},
    )
    return RECORDED
