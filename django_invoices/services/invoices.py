"""Creating an invoice at KUNA Pay for an order, and reading it back."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from .. import conf, telemetry, wire
from ..client import KunaPayClient
from ..exceptions import (
    InvalidResponse,
    InvoiceCreationError,
    KunaPayError,
)
from ..models import Invoice, Order
from ..statuses import (
    OPEN_STATUSES,
    ORDER_STATUS_FOR,
    InvoiceStatus,
    OrderStatus,
)
from . import reads
from .fields import mirror_invoice, parse_provider_uuid, stored_amount, stored_text
from .provider import callback_url, get_client, redirect_url
from .transitions import set_order_status, transition

logger = logging.getLogger("django_invoices")


def create_invoice(
    order: Order,
    *,
    account: str = conf.DEFAULT_ACCOUNT,
    redirect_button_title: str | None = None,
    transactional_callbacks: bool | None = None,
    questionnaire_fields: Iterable[str] | None = None,
    product_description: str | None = None,
    return_url: str | None = None,
) -> Invoice:
    """Return the order's open invoice, creating one at the provider if there is none.

    The order row stays locked while the provider is asked, so concurrent calls for one
    order wait for each other and find the invoice the first one made. A create request
    that may have reached the provider without an answer is never repeated blindly: the
    invoice is first looked up by ``externalOrderId``.
    """
    client = get_client(account)
    sent = _options(
        account,
        redirect_button_title=redirect_button_title,
        transactional_callbacks=transactional_callbacks,
        questionnaire_fields=questionnaire_fields,
        return_url=return_url,
    )
    error: KunaPayError | None = None
    invoice: Invoice | None = None
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        # Before the open-invoice shortcut: an invoice paid after it expired settles the
        # order while a newer invoice may still be open, and nobody must pay that one.
        _check_payable(locked)
        existing = locked.invoices.filter(status__in=OPEN_STATUSES).first()
        if existing is not None:
            return existing
        data = _find_remote_invoice(client, locked) if locked.needs_reconciliation else None
        if data is None:
            try:
                data = client.create_invoice(
                    amount=locked.amount,
                    asset=locked.asset,
                    external_order_id=locked.external_order_id,
                    product_description=product_description or locked.description or None,
                    **asdict(sent),
                )
            except InvalidResponse as exc:
                # A 2xx answer we cannot read: the invoice most likely exists.
                exc.ambiguous = True
                data = _reconcile_after(client, locked, exc)
                if data is None:
                    error = exc
            except KunaPayError as exc:
                if not exc.ambiguous:
                    raise
                data = _reconcile_after(client, locked, exc)
                if data is None:
                    error = exc
        if data is not None:
            try:
                # Validates everything before its first write, so no savepoint is needed.
                invoice = _record_created(locked, data, account, sent)
            except InvalidResponse as exc:
                # The provider made something we cannot record; never create blindly again.
                exc.ambiguous = True
                _owe_reconciliation(locked)
                error = exc
    if error is not None:
        raise error
    assert invoice is not None
    # The locked copy holds what is now committed (it was read under the lock and every
    # write went through it): bring the caller's order up to date without a query.
    for name in ("status", "updated_at", "needs_reconciliation"):
        setattr(order, name, getattr(locked, name))
    return invoice


def _options(
    account: str,
    *,
    redirect_button_title: str | None = None,
    transactional_callbacks: bool | None = None,
    questionnaire_fields: Iterable[str] | None = None,
    return_url: str | None = None,
) -> _InvoiceOptions:
    return _InvoiceOptions(
        callback_url=callback_url(account),
        # Another page than the return view: a framework's own (django-payments').
        redirect_url=redirect_url(account) if return_url is None else return_url,
        redirect_button_title=str(conf.get("REDIRECT_BUTTON_TITLE") or "")
        if redirect_button_title is None
        else redirect_button_title,
        transactional_callbacks=bool(
            conf.get("TRANSACTIONAL_CALLBACKS")
            if transactional_callbacks is None
            else transactional_callbacks
        ),
        questionnaire_fields=list(
            conf.get("QUESTIONNAIRE_FIELDS")
            if questionnaire_fields is None
            else questionnaire_fields
        ),
    )


def _check_payable(order: Order) -> None:
    if order.status == OrderStatus.PAID:
        raise InvoiceCreationError(
            _("Order %(order)s is already paid.") % {"order": order}, order_status=order.status
        )
    if order.status == OrderStatus.PARTIALLY_PAID:
        # A new invoice would ask for the whole amount again; what is missing is for the
        # shop and the customer to settle (a new order for the rest, or a refund).
        raise InvoiceCreationError(
            _("Order %(order)s was partly paid; settle the rest with the customer.")
            % {"order": order},
            order_status=order.status,
        )


@dataclass(frozen=True)
class _InvoiceOptions:
    """What ``create_invoice`` asks the provider for besides amount and asset."""

    callback_url: str
    redirect_url: str
    redirect_button_title: str
    transactional_callbacks: bool
    questionnaire_fields: list[str]


def _reconcile_after(client: KunaPayClient, order: Order, exc: KunaPayError) -> wire.Invoice | None:
    logger.warning(
        "Creating an invoice for order %s may have reached KUNA Pay (%s); looking it up",
        order.external_order_id,
        exc,
        extra=telemetry.ids(order=order, account=client.account),
    )
    try:
        data = _find_remote_invoice(client, order)
    except KunaPayError:
        data = None
    if data is None:
        _owe_reconciliation(order)
    return data


def _owe_reconciliation(order: Order) -> None:
    # Committed with the order (the caller does not roll back): the next attempt looks
    # the invoice up by externalOrderId before it creates one.
    order.needs_reconciliation = True
    order.save(update_fields=["needs_reconciliation", "reconciliation_issue", "updated_at"])


def _find_remote_invoice(client: KunaPayClient, order: Order) -> wire.Invoice | None:
    """The provider's newest invoice for this order that we have not recorded yet, when
    its amount and asset are the order's.

    One with another amount or asset is not this order's payment (the order changed, or
    another system reused the id): it is never adopted, and the order says why in
    ``reconciliation_issue`` for staff (the caller saves the order).
    """
    known = {str(pk) for pk in order.invoices.values_list("provider_id", flat=True)}
    candidates = [
        item
        for item in client.list_invoices(external_order_id=order.external_order_id)
        if item.external_order_id == order.external_order_id and item.id not in known
    ]
    if not candidates:
        return None
    candidates.sort(key=_newest_first, reverse=True)
    for found in candidates:
        if _same_amount_and_asset(order, found):
            logger.info(
                "Adopted KUNA Pay invoice %s for order %s",
                found.id,
                order,
                extra={**telemetry.ids(order=order), "provider_invoice_id": found.id},
            )
            order.reconciliation_issue = ""
            return found
    other = candidates[0]
    amount = "" if isinstance(other.invoice_amount, wire._Missing) else other.invoice_amount
    order.reconciliation_issue = (
        f"KUNA Pay has invoice {other.id[:40]} for this order with "
        f"{str(amount)[:40]} {other.invoice_asset[:16]}, "
        f"not {order.amount.normalize():f} {order.asset}; not adopted"
    )[:255]
    logger.warning(
        "Order %s: %s", order, order.reconciliation_issue, extra=telemetry.ids(order=order)
    )
    return None


def _newest_first(item: wire.Invoice) -> tuple[int, datetime | None]:
    created = item.created_at
    if isinstance(created, datetime):
        return (1, created)
    return (0, None)


def _same_amount_and_asset(order: Order, item: wire.Invoice) -> bool:
    amount = item.invoice_amount
    if not isinstance(amount, Decimal):
        return False
    try:
        stored = stored_amount(amount)
    except InvalidResponse:
        return False
    return stored == order.amount and item.invoice_asset == order.asset


def _record_created(
    order: Order, data: wire.Invoice, account: str, sent: _InvoiceOptions
) -> Invoice:
    # Everything from the provider is checked before the first write (create_invoice
    # relies on it to record a debt of reconciliation when this raises).
    provider_id = parse_provider_uuid(data.id)
    status = stored_text(Invoice, "provider_status", data.status, "status")
    # What was sent, in the provider's words: the client writes them.
    customization = KunaPayClient.invoice_body(
        amount=order.amount,
        asset=order.asset,
        redirect_url=sent.redirect_url,
        redirect_button_title=sent.redirect_button_title,
    ).get("customization", {})
    invoice = Invoice(
        provider_id=provider_id,
        order=order,
        account=account,
        provider_status="CREATED",
        status=InvoiceStatus.CREATED,
        invoice_amount=order.amount,
        invoice_asset=order.asset,
        callback_url=sent.callback_url,
        transactional_callbacks=sent.transactional_callbacks,
        customization=customization,
        questionnaire=[{"name": name} for name in sent.questionnaire_fields],
    )
    mirror_invoice(invoice, data)
    invoice.save()
    if order.needs_reconciliation:
        order.needs_reconciliation = False
        order.save(update_fields=["needs_reconciliation", "reconciliation_issue", "updated_at"])
    set_order_status(order, ORDER_STATUS_FOR[InvoiceStatus.CREATED])
    # Saved as "CREATED" above; only another status needs the transition and a save.
    if status and status != invoice.provider_status:
        transition(invoice, status)
        invoice.save()
    return invoice


# -- reading back ----------------------------------------------------------------------


def refresh_invoice(invoice: Invoice) -> Invoice:
    """Read the invoice from the provider and apply what it says (and settle the
    callbacks waiting on it that the read answers)."""
    return reads.read_and_apply(invoice, fast=False).invoice


# -- reconciliation (invoices_sync) ----------------------------------------------------

RECONCILED_ADOPTED = "adopted"
RECONCILED_FLAGGED = "flagged"
RECONCILED_NOTHING = "nothing found"
RECONCILED_DONE = "already done"


def reconcile_order(order_pk: int) -> tuple[str, Invoice | None]:
    """Finish an order whose invoice create got no clear answer; idempotent.

    The provider's invoices for its ``externalOrderId`` are read (every page); one
    whose amount and asset are the order's is adopted, one that differs is flagged in
    ``reconciliation_issue`` and never adopted, and none at all means the create never
    arrived: the order may be paid afresh. Returns what was done and the adopted
    invoice. Provider errors propagate (the sweep counts them as unread).
    """
    order = Order.objects.get(pk=order_pk)
    if not order.needs_reconciliation:
        return RECONCILED_DONE, None
    newest = order.invoices.order_by("-created_at", "-pk").first()
    account = newest.account if newest is not None else conf.DEFAULT_ACCOUNT
    client = get_client(account)
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order_pk)
        if not locked.needs_reconciliation:
            return RECONCILED_DONE, None
        data = _find_remote_invoice(client, locked)
        if data is not None:
            if locked.invoices.filter(status__in=OPEN_STATUSES).exists():
                # The order went on without it; adopting would break one-open-invoice.
                locked.reconciliation_issue = (
                    f"KUNA Pay has invoice {data.id[:40]} for this order, "
                    "which has another open invoice; not adopted"
                )
            else:
                return RECONCILED_ADOPTED, _record_created(locked, data, account, _options(account))
        locked.needs_reconciliation = False
        locked.save(update_fields=["needs_reconciliation", "reconciliation_issue", "updated_at"])
        return (RECONCILED_FLAGGED if locked.reconciliation_issue else RECONCILED_NOTHING), None
