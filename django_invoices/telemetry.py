"""Where the app marks its steps for tracing, and the ids its log lines carry.

Two small contracts for monitoring, with no dependency of their own:

- ``span(name, **attributes)``: a context manager around one step (a provider call, a
  callback's receipt, read, apply, settle). It does nothing unless a tracer was
  installed with ``use_tracer`` (``django_invoices.contrib.otel`` installs one for
  OpenTelemetry); then each step becomes a span with these attributes, and more may be
  added on the way with ``.set(**attributes)``.
- ``ids(...)``: the ``extra`` of a log line about an invoice, an order, a callback event
  or a deposit, under the keys of ``LOG_KEYS``, so a JSON log formatter indexes them
  (``docs/howto/monitoring.rst``). Only attributes already loaded are read: building
  them never queries the database.

The core imports this module; it imports nothing of the app, and no contrib.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

#: What each key of a log line's ``extra`` (and of a span's attributes, prefixed with
#: ``django_invoices.``) holds.
LOG_KEYS = {
    "event_id": "the callback event's id (CallbackEvent primary key)",
    "invoice_id": "the invoice's id in this shop's database (Invoice primary key)",
    "provider_invoice_id": "the invoice's id at KUNA Pay (a UUID)",
    "order_id": "the order's id in this shop's database (Order primary key)",
    "external_order_id": "the order's reference sent to KUNA Pay (externalOrderId)",
    "transaction_id": "a deposit's transaction id at KUNA Pay",
    "account": "the merchant account's name",
}


class Step(Protocol):
    """What ``span`` yields: a step that may learn more attributes on the way."""

    def set(self, **attributes: Any) -> None: ...


#: A tracer: given a step's name and attributes, a context manager that yields a Step.
Tracer = Callable[[str, dict[str, Any]], Any]


class _NoStep:
    """The step when nothing traces: entering, leaving and ``set`` do nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoStep:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def set(self, **attributes: Any) -> None:
        return None


NO_STEP = _NoStep()

_tracer: Tracer | None = None


def use_tracer(tracer: Tracer | None) -> Tracer | None:
    """Trace every step through ``tracer`` from now on (None: stop); returns the one
    it replaces."""
    global _tracer
    previous, _tracer = _tracer, tracer
    return previous


def tracing() -> bool:
    """Whether a tracer is installed."""
    return _tracer is not None


def span(name: str, **attributes: Any) -> Any:
    """A context manager around the step ``name``; see the module's docstring. Without
    a tracer it is one shared object that does nothing (the callback path's cost)."""
    if _tracer is None:
        return NO_STEP
    return _tracer(name, {k: v for k, v in attributes.items() if v is not None and v != ""})


def ids(
    *,
    invoice: Any = None,
    order: Any = None,
    event: Any = None,
    account: str | None = None,
    transaction_id: str | None = None,
    event_id: int | None = None,
    invoice_id: int | None = None,
) -> dict[str, Any]:
    """The ``LOG_KEYS`` an invoice, order, callback event or deposit gives, for a log
    line's ``extra`` or a span's attributes; keys with no value are left out."""
    found: dict[str, Any] = {}
    if event is not None:
        found["event_id"] = _value(event, "id")
        found["account"] = _value(event, "account")
        if invoice is None and _value(event, "invoice_id") is not None:
            found["invoice_id"] = _value(event, "invoice_id")
            invoice = _loaded(event, "invoice")
    if invoice is not None:
        found["invoice_id"] = _value(invoice, "id")
        provider_id = _value(invoice, "provider_id")
        found["provider_invoice_id"] = str(provider_id) if provider_id else None
        found["account"] = _value(invoice, "account") or found.get("account")
        found["order_id"] = _value(invoice, "order_id")
        if order is None:
            order = _loaded(invoice, "order")
    if order is not None:
        found["order_id"] = _value(order, "id")
        found["external_order_id"] = _value(order, "external_order_id")
    for key, value in (
        ("account", account),
        ("transaction_id", transaction_id),
        ("event_id", event_id),
        ("invoice_id", invoice_id),
    ):
        if value is not None:
            found[key] = value
    return {key: value for key, value in found.items() if value is not None and value != ""}


def _value(instance: Any, name: str) -> Any:
    """A field's value if loaded: a deferred field of a model instance would be a query."""
    if hasattr(instance, "_state"):
        return instance.__dict__.get(name)
    return getattr(instance, name, None)


def _loaded(instance: Any, relation: str) -> Any:
    """A related object already loaded on ``instance`` (never a query), else None."""
    state = getattr(instance, "_state", None)
    cache = getattr(state, "fields_cache", None)
    if isinstance(cache, dict):
        return cache.get(relation)
    return None
