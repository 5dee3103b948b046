"""The only code that calls the KUNA Pay client and writes the app's models.

Views, admin actions, management commands and tasks call these functions.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, DataError, models, transaction
from django.db.models import Case, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.urls import reverse
from django.utils import timezone as dj_timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from . import callbacks, conf, signals
from .client import KunaPayClient, parse_amount
from .exceptions import (
    InvalidResponse,
    InvoiceCreationError,
    KunaPayError,
    ProviderUnavailable,
)
from .models import CallbackEvent, Deposit, Invoice, Order
from .signing import verify_callback
from .statuses import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    ORDER_STATUS_FOR,
    InvoiceStatus,
    OrderStatus,
    may_move,
    normalize,
)

logger = logging.getLogger("django_invoices")

# Deposit statuses whose credited amount counts towards what an invoice received.
CREDITED_DEPOSIT_STATUSES = ("Processed", "PartiallyProcessed")

# Connect timeout of the "fast" client (reads while a callback or a customer waits).
FAST_CONNECT_TIMEOUT = 0.5

_clients: dict[conf.Account, KunaPayClient] = {}
_clients_lock = threading.Lock()


def get_client(account: str = conf.DEFAULT_ACCOUNT, *, fast: bool = False) -> KunaPayClient:
    """The client of one merchant account; one per configuration, so sessions are reused.

    ``fast`` gives a client for reads inside a callback request, which must answer
    within the provider's 2 seconds: a short read timeout and no retries.
    """
    settings = conf.get_account(account)
    if fast:
        settings = replace(
            settings,
            # Connecting and reading together stay well inside the provider's 2 seconds.
            connect_timeout=min(settings.connect_timeout, FAST_CONNECT_TIMEOUT),
            read_timeout=float(conf.get("CALLBACK_API_TIMEOUT")),
            retries=0,
        )
    with _clients_lock:
        client = _clients.get(settings)
        if client is None:
            client = _clients[settings] = KunaPayClient.from_account(settings)
        return client


# -- URLs sent to the provider ---------------------------------------------------------


def absolute_url(path: str) -> str:
    return str(conf.get("BASE_URL")).rstrip("/") + path


def callback_url(account: str = conf.DEFAULT_ACCOUNT) -> str:
    return absolute_url(reverse("django_invoices:callback", kwargs={"account": account}))


def redirect_url() -> str:
    return absolute_url(reverse("django_invoices:return"))


# -- provider catalogues ---------------------------------------------------------------


def _cached(kind: str, account: str, fetch: Any, refresh: bool) -> list[dict[str, Any]]:
    key = f"django_invoices:{kind}:{account}"
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    data = fetch()
    cache.set(key, data, conf.get("CACHE_TIMEOUT"))
    return data


def list_assets(
    account: str = conf.DEFAULT_ACCOUNT, *, refresh: bool = False
) -> list[dict[str, Any]]:
    """The assets invoices may be created in, through Django's cache."""
    return _cached("assets", account, get_client(account).list_assets, refresh)


def questionnaire_fields(
    account: str = conf.DEFAULT_ACCOUNT, *, refresh: bool = False
) -> list[dict[str, Any]]:
    """The buyer fields an invoice may ask for, through Django's cache."""
    return _cached("questionnaire", account, get_client(account).questionnaire_fields, refresh)


# -- creating --------------------------------------------------------------------------


def create_invoice(
    order: Order,
    *,
    account: str = conf.DEFAULT_ACCOUNT,
    redirect_button_title: str | None = None,
    transactional_callbacks: bool | None = None,
    questionnaire_fields: Iterable[str] | None = None,
    product_description: str | None = None,
) -> Invoice:
    """Return the order's open invoice, creating one at the provider if there is none.

    The order row stays locked while the provider is asked, so concurrent calls for one
    order wait for each other and find the invoice the first one made. A create request
    that may have reached the provider without an answer is never repeated blindly: the
    invoice is first looked up by ``externalOrderId``.
    """
    client = get_client(account)
    sent = _InvoiceOptions(
        callback_url=callback_url(account),
        redirect_url=redirect_url(),
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
    error: KunaPayError | None = None
    invoice: Invoice | None = None
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        existing = locked.invoices.filter(status__in=OPEN_STATUSES).first()
        if existing is not None:
            return existing
        if locked.status == OrderStatus.PAID:
            raise InvoiceCreationError(_("Order %(order)s is already paid.") % {"order": locked})
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


@dataclass(frozen=True)
class _InvoiceOptions:
    """What ``create_invoice`` asks the provider for besides amount and asset."""

    callback_url: str
    redirect_url: str
    redirect_button_title: str
    transactional_callbacks: bool
    questionnaire_fields: list[str]


def _reconcile_after(
    client: KunaPayClient, order: Order, exc: KunaPayError
) -> dict[str, Any] | None:
    logger.warning(
        "Creating an invoice for order %s may have reached KUNA Pay (%s); looking it up",
        order.external_order_id,
        exc,
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
    order.save(update_fields=["needs_reconciliation", "updated_at"])


def _find_remote_invoice(client: KunaPayClient, order: Order) -> dict[str, Any] | None:
    """The provider's newest invoice for this order that we have not recorded yet."""
    known = {str(pk) for pk in order.invoices.values_list("provider_id", flat=True)}
    candidates = [
        item
        for item in client.list_invoices(external_order_id=order.external_order_id)
        if str(item.get("externalOrderId")) == order.external_order_id
        and str(item.get("id")) not in known
    ]
    if not candidates:
        return None
    candidates.sort(key=lambda item: str(item.get("createdAt") or ""), reverse=True)
    found = candidates[0]
    logger.info("Adopted KUNA Pay invoice %s for order %s", found.get("id"), order)
    return found


def _record_created(
    order: Order, data: dict[str, Any], account: str, sent: _InvoiceOptions
) -> Invoice:
    # Everything from the provider is checked before the first write (create_invoice
    # relies on it to record a debt of reconciliation when this raises).
    provider_id = _parse_uuid(data.get("id"))
    status = _code(Invoice, "provider_status", data.get("status"), "status")
    customization = {
        key: value
        for key, value in (
            ("redirectUrl", sent.redirect_url),
            ("redirectButtonTitle", sent.redirect_button_title),
        )
        if value
    }
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
    _mirror(invoice, data)
    invoice.save()
    if order.needs_reconciliation:
        order.needs_reconciliation = False
        order.save(update_fields=["needs_reconciliation", "updated_at"])
    _set_order_status(order, ORDER_STATUS_FOR[InvoiceStatus.CREATED])
    # Saved as "CREATED" above; only another status needs the transition and a save.
    if status and status != invoice.provider_status:
        _transition(invoice, status)
        invoice.save()
    return invoice


# -- reading back ----------------------------------------------------------------------


def refresh_invoice(invoice: Invoice) -> Invoice:
    """Read the invoice from the provider and apply what it says."""
    data = get_client(invoice.account).get_invoice(str(invoice.provider_id))
    return apply_invoice_data(invoice, data)


def apply_invoice_data(invoice: Invoice, data: dict[str, Any]) -> Invoice:
    """Apply an invoice object from the provider (detail, list item or callback)."""
    _check_same_invoice(invoice, data)
    with transaction.atomic():
        locked = lock_invoice(invoice)
        _apply_data_locked(locked, data)
    return locked


def _check_same_invoice(invoice: Invoice, data: dict[str, Any]) -> None:
    if str(data.get("id")) != str(invoice.provider_id):
        raise InvalidResponse(
            f"KUNA Pay answered with invoice {str(data.get('id'))[:60]!r} for {invoice.provider_id}"
        )


def _apply_data_locked(invoice: Invoice, data: dict[str, Any]) -> Transition:
    """Deposits first (so totals are known), then the status; saves the invoice."""
    status = _code(Invoice, "provider_status", data.get("status"), "status")
    transactions = data.get("transactions")
    deposits = (
        [item for item in transactions if isinstance(item, dict)]
        if isinstance(transactions, list)
        else []
    )
    for item in deposits:
        record_deposit(invoice, item, recount=False)
    if deposits:
        # paid_amount only changes with a deposit written (always under this lock), so
        # an answer without any (most re-reads of a pending invoice) needs no new sum.
        _recount(invoice)
    result = _transition(invoice, status, payload=data)
    invoice.synced_at = dj_timezone.now()
    invoice.save()
    return result


def lock_invoice(invoice: Invoice) -> Invoice:
    """The invoice and its order, locked until the surrounding transaction ends."""
    return Invoice.objects.select_for_update().select_related("order").get(pk=invoice.pk)


# -- the transition --------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    invoice: Invoice
    old_status: str
    new_status: str
    changed: bool


def apply_status(
    invoice: Invoice, provider_status: str, *, payload: dict[str, Any] | None = None
) -> Transition:
    """Apply a provider status to an invoice and its order, under their row locks."""
    with transaction.atomic():
        locked = lock_invoice(invoice)
        result = _transition(locked, provider_status, payload=payload)
        locked.save()
    return result


def _transition(
    invoice: Invoice, provider_status: str, *, payload: dict[str, Any] | None = None
) -> Transition:
    """Move a locked invoice (and its order) to a provider status; the caller saves it.

    Refused moves (see ``statuses.may_move``) change nothing and send nothing: a late or
    replayed report is a normal, quiet outcome.
    """
    old = invoice.status
    new = normalize(provider_status)
    if new != old and not may_move(old, new):
        logger.info(
            "Invoice %s stays %s; ignored provider status %r", invoice, old, provider_status
        )
        return Transition(invoice, old, old, changed=False)
    if payload is not None:
        _mirror(invoice, payload)
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
        if old == InvoiceStatus.EXPIRED:
            logger.warning("Invoice %s was paid after it expired", invoice)
            transaction.on_commit(
                lambda: _send(signals.invoice_paid_late, Invoice, invoice=invoice)
            )
        _check_overpaid(invoice)
    elif new == InvoiceStatus.PARTIALLY_PAID:
        transaction.on_commit(
            lambda: _send(signals.invoice_partially_paid, Invoice, invoice=invoice)
        )
    elif new in (InvoiceStatus.DECLINED, InvoiceStatus.LIMITS_OUT_OF_RANGE):
        transaction.on_commit(lambda: _send(signals.invoice_declined, Invoice, invoice=invoice))


def _check_overpaid(invoice: Invoice) -> None:
    """Signal a paid invoice whose deposits exceed what the buyer was asked to pay."""
    if invoice.status != InvoiceStatus.PAID or invoice.payment_amount is None:
        return
    received = invoice.deposits.filter(status__in=CREDITED_DEPOSIT_STATUSES).aggregate(
        total=Sum("amount")
    )["total"]
    if received is None or received <= invoice.payment_amount:
        return
    expected = invoice.payment_amount
    logger.warning("Invoice %s received %s, more than the %s due", invoice, received, expected)
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
    if _set_order_status(order, ORDER_STATUS_FOR[new]) and order.status == OrderStatus.PAID:
        transaction.on_commit(
            lambda: _send(signals.order_paid, Order, order=order, invoice=invoice)
        )


def _set_order_status(order: Order, status: OrderStatus) -> bool:
    old = order.status
    if old in (status, OrderStatus.PAID):
        return False
    order.status = status
    order.save(update_fields=["status", "updated_at"])
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
            logger.error(
                "Receiver %r of a django-invoices signal failed",
                receiver,
                exc_info=(type(result), result, result.__traceback__),
            )


# -- deposits --------------------------------------------------------------------------


def record_deposit(
    invoice: Invoice, data: dict[str, Any], *, recount: bool = True
) -> tuple[Deposit, bool]:
    """Create or update the deposit ``data`` describes; the invoice must be locked."""
    provider_id = _code(Deposit, "provider_id", data.get("id"), "deposit id").strip()
    if not provider_id:
        raise InvalidResponse("a deposit without an id")
    fields = {
        "invoice": invoice,
        "status": _code(Deposit, "status", data.get("status"), "deposit status"),
        "asset": _code(Deposit, "asset", data.get("asset"), "deposit asset"),
        "payment_code": _code(Deposit, "payment_code", data.get("paymentCode"), "paymentCode"),
        "amount": _amount(data.get("amount")),
        "fee": _amount(data.get("fee")),
        "processed_amount": _amount(data.get("processedAmount")),
        "address": _code(Deposit, "address", data.get("address"), "deposit address"),
        "tx_id": _code(Deposit, "tx_id", data.get("txId"), "txId"),
        "provider_created_at": _parse_datetime(data.get("createdAt")),
        "raw_payload": data,
    }
    # The invoice lock serialises writers of its deposits; the unique provider_id is the
    # backstop, so a plain read-then-write is enough (and cheaper than update_or_create).
    deposit = Deposit.objects.filter(provider_id=provider_id).first()
    created = deposit is None
    if deposit is None:
        deposit = Deposit.objects.create(provider_id=provider_id, **fields)
    else:
        for name, value in fields.items():
            setattr(deposit, name, value)
        deposit.save()
    if created:
        transaction.on_commit(
            lambda: _send(signals.deposit_received, Deposit, deposit=deposit, invoice=invoice)
        )
    if recount:
        _recount(invoice)
    return deposit, created


def _recount(invoice: Invoice) -> None:
    total = invoice.deposits.filter(status__in=CREDITED_DEPOSIT_STATUSES).aggregate(
        total=Sum("processed_amount")
    )["total"]
    invoice.paid_amount = total or Decimal("0")


# -- callbacks -------------------------------------------------------------------------

# Why a stored callback was refused; the view turns each into its HTTP answer.
REJECT_UNKNOWN_ACCOUNT = "unknown_account"
REJECT_NO_SIGNATURE = "missing_signature"
REJECT_BAD_SIGNATURE = "bad_signature"
REJECT_MALFORMED = "malformed"
REJECT_TOO_LARGE = "too_large"


def receive_callback(
    account: str,
    body: bytes,
    headers: Mapping[str, str],
    remote_addr: str | None = None,
    *,
    body_size: int | None = None,
) -> tuple[CallbackEvent, str]:
    """Store a callback as it arrived, with its verification result.

    Returns the event and why it was refused ("" when it is authentic and well formed).
    Called outside any transaction, so the row is committed at once, whatever happens
    to its processing. ``body_size`` set means the body was too large to read.
    """
    event = CallbackEvent(
        account=account[:64],
        body=body.decode("utf-8", "replace").replace("\x00", "\ufffd"),
        body_sha256=callbacks.body_sha256(body),
        headers=callbacks.safe_headers(headers),
        remote_addr=_ip_or_none(remote_addr),
        state=CallbackEvent.State.REJECTED,
    )
    rejection = _verify_and_parse(event, account, body, headers, body_size)
    if not rejection:
        event.state = CallbackEvent.State.PENDING
    else:
        event.outcome = event.outcome or rejection
        logger.warning("Refused a KUNA Pay callback for account %r: %s", account, event.outcome)
    event.save()
    return event, rejection


def _verify_and_parse(
    event: CallbackEvent,
    account: str,
    body: bytes,
    headers: Mapping[str, str],
    body_size: int | None,
) -> str:
    if body_size is not None:
        event.outcome = f"body of {body_size} bytes is over the limit"
        return REJECT_TOO_LARGE
    if account not in conf.account_names():
        return REJECT_UNKNOWN_ACCOUNT
    signature = headers.get(callbacks.SIGNATURE_HEADER)
    if not signature:
        return REJECT_NO_SIGNATURE
    variant = verify_callback(conf.get_account(account).private_key, body, signature)
    if variant is None:
        return REJECT_BAD_SIGNATURE
    event.verified = True
    event.signature_variant = variant
    try:
        body.decode("utf-8")  # stored as text and parsed again from it later
        parsed = callbacks.parse(body)
    except UnicodeDecodeError:
        event.outcome = "body is not UTF-8"
        return REJECT_MALFORMED
    except callbacks.MalformedCallback as exc:
        event.outcome = str(exc)
        return REJECT_MALFORMED
    event.event_name = parsed.event[:64]
    event.object_id = parsed.object_id
    event.provider_status = parsed.status
    event.dedupe_key = parsed.dedupe_key
    return ""


def process_callback_event(event: CallbackEvent) -> CallbackEvent:
    """Apply a stored, authentic callback exactly once; safe to call again.

    The callback is a signed hint: a status that would settle the order as paid is
    confirmed by reading the invoice from the API first (``CONFIRM_PAID_CALLBACKS``).
    When the provider or the database fails, the event stays pending for
    ``invoices_process_callbacks`` or the admin to apply later.
    """
    if not event.verified or event.state not in RETRYABLE_EVENT_STATES:
        return event
    parsed = callbacks.parse(event.body.encode("utf-8"))
    try:
        if parsed.kind == "unknown":
            return _finish(event, CallbackEvent.State.IGNORED, f"event {parsed.event!r} not used")
        confirmed = None
        if (
            parsed.kind == "invoice"
            and normalize(parsed.status) == InvoiceStatus.PAID
            and conf.get("CONFIRM_PAID_CALLBACKS")
        ):
            # Read without a lock first: no row stays locked while the provider answers.
            invoice = _invoice_of(parsed)
            if invoice is None:
                return _ignore_unknown_invoice(event)
            if invoice.status != InvoiceStatus.PAID:  # already settled: nothing to confirm
                confirmed = get_client(invoice.account, fast=True).get_invoice(
                    str(invoice.provider_id)
                )
                _check_same_invoice(invoice, confirmed)
            with transaction.atomic():
                return _apply_callback(event, parsed, lock_invoice(invoice), confirmed)
        # Nothing to ask the provider: one query finds and locks the invoice.
        with transaction.atomic():
            locked = _invoice_of(parsed, lock=True)
            if locked is not None:
                return _apply_callback(event, parsed, locked, None)
        return _ignore_unknown_invoice(event)
    except InvalidResponse as exc:
        return _finish(event, CallbackEvent.State.FAILED, f"cannot apply: {exc}")
    except DataError as exc:
        # The data does not fit the database, and would not on the next attempt either.
        logger.exception("Callback event %s cannot be stored", event.pk)
        return _finish(event, CallbackEvent.State.FAILED, f"cannot store: {exc}")
    except (KunaPayError, DatabaseError) as exc:
        logger.warning("Callback event %s stays pending: %s", event.pk, exc)
        return _finish(event, CallbackEvent.State.PENDING, f"will retry: {exc}")


RETRYABLE_EVENT_STATES = (CallbackEvent.State.PENDING, CallbackEvent.State.FAILED)


def _ignore_unknown_invoice(event: CallbackEvent) -> CallbackEvent:
    return _finish(event, CallbackEvent.State.IGNORED, "unknown invoice; nothing changed")


def _invoice_of(parsed: callbacks.ParsedCallback, *, lock: bool = False) -> Invoice | None:
    """The invoice a callback is about; with ``lock``, locked with its order as
    ``lock_invoice`` does (inside a transaction)."""
    invoices = Invoice.objects.all()
    if lock:
        invoices = invoices.select_for_update().select_related("order")
    invoice_id = parsed.invoice_id
    if invoice_id:
        try:
            return invoices.get(provider_id=uuid.UUID(invoice_id))
        except (ValueError, Invoice.DoesNotExist):
            return None
    if parsed.external_order_id:
        return (
            invoices.filter(order__external_order_id=parsed.external_order_id)
            .order_by("-created_at", "-pk")
            .first()
        )
    return None


def _apply_callback(
    event: CallbackEvent,
    parsed: callbacks.ParsedCallback,
    invoice: Invoice,
    confirmed: dict[str, Any] | None,
) -> CallbackEvent:
    """Apply under the invoice's row lock; the event's new state commits with it."""
    applied = set(
        CallbackEvent.objects.filter(
            invoice=invoice, dedupe_key=event.dedupe_key, state=CallbackEvent.State.APPLIED
        ).values_list("pk", flat=True)[:2]
    )
    if event.pk in applied:
        return event  # applied meanwhile by another worker
    event.invoice = invoice
    if applied:
        return _finish(event, CallbackEvent.State.DUPLICATE, "same news already applied")
    if parsed.kind == "deposit":
        deposit, created = record_deposit(invoice, parsed.data)
        if created:
            _check_overpaid(invoice)
        invoice.save(update_fields=["paid_amount", "updated_at"])
        outcome = f"deposit {deposit.provider_id} {'recorded' if created else 'updated'}"
    else:
        if confirmed is not None:
            result = _apply_data_locked(invoice, confirmed)
        else:
            # The whole status as sent; ``parsed.status`` is cut to fit the event's log.
            status = _code(Invoice, "provider_status", parsed.data.get("status"), "status")
            result = _transition(invoice, status, payload=parsed.data or None)
            invoice.save()
        outcome = (
            f"{result.old_status} -> {result.new_status}"
            if result.changed
            else f"no change (stays {result.old_status})"
        )
        if confirmed is not None:
            outcome += f"; confirmed by API as {confirmed.get('status')!r}"
    return _finish(event, CallbackEvent.State.APPLIED, outcome)


def _finish(event: CallbackEvent, state: str, outcome: str) -> CallbackEvent:
    event.state = state
    event.outcome = outcome
    event.attempts += 1
    event.processed_at = dj_timezone.now()
    event.save(update_fields=["state", "outcome", "attempts", "processed_at", "invoice"])
    return event


def process_pending_callbacks(*, limit: int = 500, include_failed: bool = False) -> dict[str, int]:
    """Apply stored callbacks still pending (oldest first); returns counts per state."""
    states = list(RETRYABLE_EVENT_STATES) if include_failed else [CallbackEvent.State.PENDING]
    ids = list(
        CallbackEvent.objects.filter(verified=True, state__in=states)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return process_callback_events(
        CallbackEvent.objects.filter(pk__in=ids).order_by("received_at", "pk")
    )


def process_callback_events(events: Iterable[CallbackEvent]) -> dict[str, int]:
    """``process_callback_event`` for each event in turn; returns counts per state.

    An event that breaks in a way nobody foresaw is logged and keeps its state: it must
    not stop the events after it (taken oldest first, it would be first in line on every
    run of the command).
    """
    counts: dict[str, int] = {}
    for event in events:
        try:
            state = process_callback_event(event).state
        except Exception:
            logger.exception(
                "Applying callback event %s failed; it stays %s", event.pk, event.state
            )
            state = CallbackEvent.objects.values_list("state", flat=True).get(pk=event.pk)
        counts[state] = counts.get(state, 0) + 1
    return counts


def _ip_or_none(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


# -- parsing what the provider sends ---------------------------------------------------


def _mirror(invoice: Invoice, data: dict[str, Any]) -> None:
    """Copy the provider's invoice fields onto ours (unknown fields stay in raw_payload).

    Everything is checked before anything is assigned: a field that cannot be stored
    raises ``InvalidResponse`` and leaves the invoice as it was.
    """
    values: dict[str, Any] = {}
    if data.get("invoiceAmount") not in (None, ""):
        values["invoice_amount"] = _amount(data["invoiceAmount"]) or invoice.invoice_amount
    if "paymentAmount" in data:
        values["payment_amount"] = _amount(data["paymentAmount"])
    for field, key in (
        ("invoice_asset", "invoiceAssetCode"),
        ("payment_asset", "paymentAssetCode"),
        ("address", "addressId"),
    ):
        if data.get(key):
            values[field] = _code(Invoice, field, data[key], key)
    for field, key in (
        ("expires_at", "expireAt"),
        ("completed_at", "completedAt"),
        ("provider_created_at", "createdAt"),
    ):
        if key in data:
            values[field] = _timestamp(data[key], getattr(invoice, field))
    values["payment_url"] = _payment_link(data, invoice) or invoice.payment_url
    for field, value in values.items():
        setattr(invoice, field, value)
    invoice.raw_payload = data


def _payment_link(data: dict[str, Any], invoice: Invoice) -> str:
    link = data.get("paymentLink")
    if isinstance(link, str) and link.startswith(("https://", "http://")):
        if len(link) <= _max_length(Invoice, "payment_url"):
            return link
        # Cut short it would lead nowhere; the page we know (or the template) stays.
        logger.warning("Ignored a KUNA Pay payment link of %d characters", len(link))
    template = str(conf.get("PAYMENT_URL_TEMPLATE") or "")
    if template and not invoice.payment_url:
        return template.replace("{id}", str(invoice.provider_id))
    return ""


def _parse_uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidResponse(f"KUNA Pay answered with an invoice id {value!r}") from exc


def _parse_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from the provider's ISO 8601 text; None when unusable."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is not None:
        if dj_timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=timezone.utc)
        try:
            # In UTC, as databases store it: 0001-01-01T00:00+05:00 is before year 1.
            return parsed.astimezone(timezone.utc)
        except OverflowError:
            pass
    logger.warning("Ignored a malformed KUNA Pay timestamp %r", value[:100])
    return None


def _timestamp(value: Any, current: datetime | None) -> datetime | None:
    """A timestamp field's new value: null clears it, garbage keeps what we had."""
    if value is None or value == "":
        return None
    parsed = _parse_datetime(value)
    return current if parsed is None else parsed


def _max_length(model: type[models.Model], name: str) -> int:
    field = model._meta.get_field(name)
    assert isinstance(field, models.CharField) and field.max_length is not None
    return field.max_length


def _code(model: type[models.Model], field: str, value: Any, name: str) -> str:
    """A provider string (status, asset, id, address) for a ``CharField``, whole or not at all.

    Cut short, a code or an address would name something else, so one that is not text
    or does not fit is an ``InvalidResponse``. None is the empty string.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidResponse(f"KUNA Pay sent {name} as {type(value).__name__}, not text")
    if len(value) > _max_length(model, field):
        raise InvalidResponse(
            f"KUNA Pay sent a {name} of {len(value)} characters "
            f"(at most {_max_length(model, field)} are stored)"
        )
    return value


def _amount(value: Any) -> Decimal | None:
    """A provider amount the models store exactly; ``InvalidResponse`` otherwise.

    Refused: anything ``parse_amount`` refuses, negative amounts, and amounts wider than
    ``models.amount_field`` (36 digits, 18 after the point): too large to store, or with
    digits that would be rounded away.
    """
    field = Invoice._meta.get_field("invoice_amount")
    assert isinstance(field, models.DecimalField)
    amount = parse_amount(value)
    if amount is None:
        return None
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # parse_amount returns finite amounts only
    if not any(digits):
        return Decimal(0)  # also 0E+999999, which no database would take as it is
    if amount < 0:
        raise InvalidResponse(f"KUNA Pay sent a negative amount {value!r}")
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    places = -(exponent + trailing_zeros)
    whole_digits = amount.adjusted() + 1
    if whole_digits > field.max_digits - field.decimal_places or places > field.decimal_places:
        raise InvalidResponse(f"KUNA Pay sent an amount that cannot be stored: {str(value)[:60]}")
    return amount


# ======================================================================================
# Bulk operations (the admin back office's actions)
#
# Each function reports one outcome per object instead of raising, so a caller acting
# on many orders or invoices can tell staff exactly what happened to each of them.
# ======================================================================================

#: Requests to KUNA Pay in flight at once when many invoices are refreshed together
#: (stays below requests' default pool of ten connections per host).
REFRESH_WORKERS = 8


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
        logger.warning("Creating an invoice for order %s failed: %s", order, exc)
        return OrderOutcome(order, Outcome.FAILED, error=exc)
    if invoice.created_at < started:
        # Someone else created it between our look and the order's lock.
        return _already_open(order, invoice)
    return OrderOutcome(order, Outcome.CREATED, invoice=invoice)


def refresh_invoices(
    invoices: Iterable[Invoice], *, max_workers: int = REFRESH_WORKERS
) -> list[RefreshOutcome]:
    """Refresh many invoices from KUNA Pay at once; one outcome per invoice, in order.

    The reads go out concurrently from a pool of at most ``max_workers`` threads. Each
    answer is applied in the calling thread as soon as it arrives, in its own
    transaction and under the invoice's row lock (``apply_invoice_data``), so the pool
    never touches the database and one failure does not stop the rest.
    """
    invoices = list(invoices)
    if not invoices:
        return []
    outcomes: dict[int, RefreshOutcome] = {}
    pool = ThreadPoolExecutor(
        max_workers=max(1, min(max_workers, len(invoices))),
        thread_name_prefix="django-invoices-refresh",
    )
    try:
        futures: dict[Future[dict[str, Any]], int] = {}
        for index, invoice in enumerate(invoices):
            try:
                client = get_client(invoice.account)
            except ImproperlyConfigured:
                reason = _("its merchant account %(account)s is not configured") % {
                    "account": invoice.account
                }
                outcomes[index] = RefreshOutcome(
                    invoice, Outcome.FAILED, invoice.status, invoice.status, reason=reason
                )
                continue
            futures[pool.submit(client.get_invoice, str(invoice.provider_id))] = index
        for future in as_completed(futures):
            index = futures[future]
            outcomes[index] = _apply_refresh(invoices[index], future)
    finally:
        # Only reached early on an unexpected error: do not send what is still queued.
        pool.shutdown(wait=True, cancel_futures=True)
    return [outcomes[index] for index in range(len(invoices))]


def _apply_refresh(invoice: Invoice, future: Future[dict[str, Any]]) -> RefreshOutcome:
    old = invoice.status
    try:
        updated = apply_invoice_data(invoice, future.result())
    except KunaPayError as exc:
        logger.warning("Refreshing invoice %s failed: %s", invoice, exc)
        return RefreshOutcome(invoice, Outcome.FAILED, old, old, error=exc)
    except DatabaseError:
        # Rolled back with this invoice's own transaction (a lock timeout, a deadlock);
        # the others go on.
        logger.exception("Saving the refreshed invoice %s failed", invoice)
        return RefreshOutcome(
            invoice, Outcome.FAILED, old, old, reason=_("it could not be saved; see the logs")
        )
    return RefreshOutcome(updated, Outcome.REFRESHED, old, updated.status)


def refresh_orders(
    orders: Iterable[Order], *, max_workers: int = REFRESH_WORKERS
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


# The customer's way back: lookups and throttled re-reads for the return view, the
# checkout helper and the REST API. Everything a customer can set off by reloading a
# page is limited here, per invoice.
# ======================================================================================

# What the customer is told about an invoice, and which of the shop's pages they get.
OUTCOME_PAID = "paid"
OUTCOME_PENDING = "pending"
OUTCOME_FAILED = "failed"
OUTCOMES = (OUTCOME_PAID, OUTCOME_PENDING, OUTCOME_FAILED)

_ATTEMPT_KEY = "django_invoices:refresh-attempt:{pk}"


def payment_outcome(invoice: Invoice) -> str:
    """``"paid"``, ``"pending"`` or ``"failed"`` for the customer holding this invoice.

    A paid order counts as paid whichever of its invoices the customer returns with.
    Every final status other than paid (expired, deactivated, declined, partially paid,
    out of limits) is a failure from the customer's point of view.
    """
    if invoice.status == InvoiceStatus.PAID or invoice.order.status == OrderStatus.PAID:
        return OUTCOME_PAID
    if invoice.is_open:
        return OUTCOME_PENDING
    return OUTCOME_FAILED


def parse_invoice_id(value: Any) -> uuid.UUID | None:
    """The UUID in ``value`` when it is written in the usual 8-4-4-4-12 form, else None."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value.lower() else None


def find_customer_invoice(invoice_id: Any, order_id: Any) -> Invoice | None:
    """The invoice a customer names by ``invoiceId`` and ``orderId``, with its order.

    Both must be given and belong together: an unknown invoice, a malformed id and an
    ``orderId`` of another order all answer None, so a caller cannot tell them apart
    and learns nothing about other orders.
    """
    pk = parse_invoice_id(invoice_id)
    if (
        pk is None
        or not isinstance(order_id, str)
        or not order_id
        or len(order_id) > _max_length(Order, "external_order_id")
        or "\x00" in order_id  # PostgreSQL refuses the query itself
    ):
        return None
    # get() rather than first(): a unique key needs no ORDER BY (the model's ordering).
    try:
        return Invoice.objects.select_related("order").get(
            provider_id=pk, order__external_order_id=order_id
        )
    except Invoice.DoesNotExist:
        return None


def get_order(external_order_id: str) -> Order | None:
    """The order with this ``external_order_id`` (what KUNA Pay calls ``orderId``)."""
    return Order.objects.filter(external_order_id=external_order_id).first()


@dataclass(frozen=True)
class Refresh:
    """What ``refresh_if_stale`` did: the invoice as stored afterwards, whether the
    provider was asked, and the provider's error if asking failed."""

    invoice: Invoice
    refreshed: bool
    error: KunaPayError | None = None


def refresh_if_stale(invoice: Invoice, *, min_interval: float | None = None) -> Refresh:
    """Re-read an unsettled invoice from the provider unless that was done recently.

    ``invoice`` should be freshly loaded (with its order): the decision is made on it.

    Nothing is asked when the invoice is settled (final status or paid order), when it
    was synced less than ``min_interval`` seconds ago (default: the
    ``REFRESH_MIN_INTERVAL`` setting), or when another attempt, even a failed one, is
    that recent: ``cache.add`` lets one of many simultaneous reloads ask. No row is
    locked while the provider answers (a callback for the same invoice must not wait
    behind a customer's page); the answer is applied through ``apply_invoice_data``, the
    same locked transition callbacks use. The read has the short timeout of
    ``get_client(fast=True)``, since a customer is waiting. Provider errors are logged
    and returned, never raised: the customer still gets a page.
    """
    interval = float(conf.get("REFRESH_MIN_INTERVAL") if min_interval is None else min_interval)
    now = dj_timezone.now()
    if payment_outcome(invoice) != OUTCOME_PENDING:
        return Refresh(invoice, refreshed=False)
    if interval > 0:
        synced = invoice.synced_at
        if synced is not None and (now - synced).total_seconds() < interval:
            return Refresh(invoice, refreshed=False)
        attempt_key = _ATTEMPT_KEY.format(pk=invoice.pk)
        if not cache.add(attempt_key, now.timestamp(), timeout=max(1, math.ceil(interval))):
            return Refresh(invoice, refreshed=False)
    try:
        data = get_client(invoice.account, fast=True).get_invoice(str(invoice.provider_id))
        return Refresh(apply_invoice_data(invoice, data), refreshed=True)
    except KunaPayError as exc:
        logger.warning("Could not re-read invoice %s from KUNA Pay: %s", invoice, exc)
        return Refresh(_reread(invoice), refreshed=False, error=exc)


def _reread(invoice: Invoice) -> Invoice:
    return Invoice.objects.select_related("order").get(pk=invoice.pk)
