"""Callback delivery: the one place the sandbox sends anything to a shop.

Callbacks are stored as ``CallbackDelivery`` rows when an invoice changes, and sent
after that change is committed: a POST of the JSON body with ``kun-signature`` =
HMAC-SHA384 of the body under the merchant's private key (``signing.sign_callback``).
Anything but a 200 within ``CALLBACK_TIMEOUT`` is a failure and is tried again, up to
``CALLBACK_ATTEMPTS`` attempts with a doubling back-off, as the provider does on a much
longer scale (``docs/explanation/provider-api.rst`` ("Callback delivery")). Callbacks go
only to the shop's own host (``conf.callback_host_allowed``), and only the status of
each answer is kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import requests
from django.db import close_old_connections, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from .. import __version__
from ..signing import compact_json, sign_callback
from . import conf
from .models import CallbackDelivery, SandboxInvoice

logger = logging.getLogger("django_invoices.sandbox")

# Replaced in tests that must not wait.
sleep = time.sleep

_timers: list[threading.Timer] = []
_timers_lock = threading.Lock()


def schedule(
    invoice: SandboxInvoice, events: Iterable[dict[str, Any]], modes: set[str]
) -> list[CallbackDelivery]:
    """Store the callbacks for ``events`` (oldest first), bent by the failure modes.

    Nothing is sent here; call ``deliver`` once the change is committed.
    """
    if not invoice.callback_url or not conf.get("SEND_CALLBACKS"):
        return []
    ordered = list(events)
    if conf.CALLBACK_OUT_OF_ORDER in modes:
        # The first status report arrives last: "PAID", then a stale "PAYMENT_AWAITING".
        name = conf.get("INVOICE_EVENT_NAME")
        first = next((e for e in ordered if e.get("event") == name), None)
        if first is not None and len(ordered) > 1:
            ordered.remove(first)
            ordered.append(first)
    late = conf.CALLBACK_LATE in modes
    now = timezone.now()
    due_at = now + timedelta(seconds=float(conf.get("LATE_CALLBACK_DELAY"))) if late else now
    copies = 2 if conf.CALLBACK_TWICE in modes else 1
    rows = [
        CallbackDelivery.objects.create(
            invoice=invoice,
            url=invoice.callback_url,
            event=str(event.get("event", "")),
            body=compact_json(event),
            bad_signature=conf.CALLBACK_BAD_SIGNATURE in modes,
            state=CallbackDelivery.HELD if late else CallbackDelivery.PENDING,
            due_at=due_at,
        )
        for event in ordered
        for _copy in range(copies)
    ]
    return rows


def deliver(deliveries: Iterable[CallbackDelivery]) -> None:
    """Send the pending ones among ``deliveries``, in order; start a timer for held ones."""
    held = False
    for delivery in deliveries:
        if delivery.state == CallbackDelivery.PENDING:
            send(delivery)
        elif delivery.state == CallbackDelivery.HELD:
            held = True
    if held and conf.get("LATE_CALLBACK_THREAD"):
        _start_timer(float(conf.get("LATE_CALLBACK_DELAY")))


def deliver_due(*, force: bool = False, invoice: SandboxInvoice | None = None) -> int:
    """Send held callbacks that are due (all of them with ``force``); return how many."""
    held = CallbackDelivery.objects.filter(state=CallbackDelivery.HELD)
    if invoice is not None:
        held = held.filter(invoice=invoice)
    if not force:
        held = held.filter(due_at__lte=timezone.now())
    sent = 0
    for delivery in held.order_by("id"):
        # Claim the row first, so a timer and a button never send it twice.
        claimed = CallbackDelivery.objects.filter(
            pk=delivery.pk, state=CallbackDelivery.HELD
        ).update(state=CallbackDelivery.PENDING)
        if claimed:
            delivery.state = CallbackDelivery.PENDING
            send(delivery)
            sent += 1
    return sent


def signature_for(delivery: CallbackDelivery) -> str | None:
    """The ``kun-signature`` of a delivery; None when its merchant's key is gone."""
    creds = conf.by_merchant(delivery.invoice.merchant)
    if creds is None or not creds.private_key:
        return None
    key = creds.private_key
    if delivery.bad_signature:
        key = f"not-{key}"
    return sign_callback(key, delivery.body.encode("utf-8"), str(conf.get("SIGNATURE_RECIPE")))


def send(delivery: CallbackDelivery) -> bool:
    """POST one callback, retrying a non-200 answer; record the outcome on the row."""
    if not conf.callback_host_allowed(delivery.url):
        delivery.state = CallbackDelivery.FAILED
        delivery.error = "callbackUrl is not on the shop's host (see CALLBACK_HOSTS)"
        delivery.save(update_fields=["state", "error"])
        return False
    signature = signature_for(delivery)
    if signature is None:
        delivery.state = CallbackDelivery.FAILED
        delivery.error = "no private key for this invoice's merchant"
        delivery.save(update_fields=["state", "error"])
        return False
    body = delivery.body.encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "kun-signature": signature,
        "User-Agent": f"django-invoices-sandbox/{__version__}",
    }
    attempts = max(1, int(conf.get("CALLBACK_ATTEMPTS")))
    backoff = float(conf.get("CALLBACK_BACKOFF"))
    timeout = float(conf.get("CALLBACK_TIMEOUT"))
    for attempt in range(attempts):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        delivery.attempts += 1
        try:
            response = requests.post(
                delivery.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            )
        except (requests.RequestException, ValueError) as exc:
            # ValueError: a URL requests cannot even parse (urllib3's LocationParseError,
            # an empty host label); it fails like an unreachable host.
            # Only the kind of failure: the message tells open from closed ports.
            delivery.response_status = None
            delivery.error = exc.__class__.__name__
        else:
            # The status only: what the callback URL answers is nobody's business here,
            # and the payment page is public.
            delivery.response_status = response.status_code
            delivery.response_ms = int(response.elapsed.total_seconds() * 1000)
            delivery.response_text = reported_state(response)
            delivery.error = ""
            if response.status_code == 200:
                delivery.state = CallbackDelivery.DELIVERED
                delivery.delivered_at = timezone.now()
                delivery.save()
                return True
    logger.warning(
        "Sandbox callback %s to %s failed after %s attempts",
        delivery.event,
        delivery.url,
        delivery.attempts,
    )
    delivery.state = CallbackDelivery.FAILED
    delivery.save()
    return False


# The states django-invoices' own callback view reports. Only such a word is kept of an
# answer (a demo with a worker shows "pending", then the order paid a moment later); any
# other text stays unseen.
REPORTED_STATES = frozenset({"pending", "applied", "duplicate", "ignored", "failed", "rejected"})


def reported_state(response: requests.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return ""
    state = answer.get("state") if isinstance(answer, dict) else None
    return state if isinstance(state, str) and state in REPORTED_STATES else ""


def _start_timer(delay: float) -> None:
    timer = threading.Timer(max(0.0, delay) + 0.05, _deliver_due_in_thread)
    timer.daemon = True
    with _timers_lock:
        _timers[:] = [t for t in _timers if t.is_alive()]
        _timers.append(timer)
    timer.start()


def _deliver_due_in_thread() -> None:
    close_old_connections()
    try:
        deliver_due()
    except Exception:
        logger.exception("Sending late sandbox callbacks failed")
    finally:
        _close_thread_connections()


def _close_thread_connections() -> None:
    """Close this thread's connections, in-memory SQLite ones included.

    Django never closes a connection to an in-memory SQLite database (closing the last
    one would drop the database), so the timer thread's own connection would be left to
    the garbage collector: an "unclosed database" ResourceWarning on Python 3.13. The
    thread's connection is never the last one: whoever started the timer holds another.
    """
    for connection in connections.all(initialized_only=True):
        if connection.vendor == "sqlite":
            BaseDatabaseWrapper.close(connection)  # what SQLite's close() skips in memory
        else:
            connection.close()


def wait_for_late_callbacks(timeout: float = 30.0) -> None:
    """Block until the background timers started so far are done (for tests)."""
    with _timers_lock:
        timers = list(_timers)
    for timer in timers:
        timer.join(timeout)
