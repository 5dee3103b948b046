"""OpenTelemetry spans of the payments (the ``[otel]`` extra: ``opentelemetry-api`` only).

Add ``"django_invoices.contrib.otel"`` to ``INSTALLED_APPS`` (or call ``install()``):
every step the app marks (``django_invoices.telemetry.span``) becomes a span of the
tracer provider the shop configured with the OpenTelemetry SDK, as children of whatever
span is current (the request's, from the shop's Django instrumentation). With no SDK
configured, the API's tracer records nothing: nothing happens. See
``docs/howto/monitoring.rst`` for the spans and their attributes.

Span names are ``django_invoices.<step>``: ``callback``, ``callback.receive``,
``callback.wake``, ``invoice.read``, ``invoice.apply``, ``callbacks.settle`` and
``provider.request`` (a client span, one per call to KUNA Pay, retries included).
Attributes are ``django_invoices.<key>`` for the keys of ``telemetry.LOG_KEYS`` and
``outcome``, ``reason``, ``method``, ``endpoint``, ``status_code``, ``attempts``,
``object_id``; a provider request also carries ``http.request.method`` and
``http.response.status_code``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ... import __version__, telemetry

PREFIX = "django_invoices."
# Attributes with a name of OpenTelemetry's semantic conventions besides ours.
STANDARD = {"method": "http.request.method", "status_code": "http.response.status_code"}
CLIENT_SPANS = frozenset({"provider.request"})


def _attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None or value == "":
            continue
        if not isinstance(value, (str, bool, int, float)):
            value = str(value)
        found[PREFIX + key] = value
        if key in STANDARD:
            found[STANDARD[key]] = value
    return found


class _Step:
    """A ``telemetry.Step`` that sets attributes on an OpenTelemetry span."""

    __slots__ = ("outcome", "span")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.outcome: Any = None

    def set(self, **attributes: Any) -> None:
        self.outcome = attributes.get("outcome", self.outcome)
        if self.span.is_recording():
            self.span.set_attributes(_attributes(attributes))


class Tracer:
    """What ``telemetry.use_tracer`` takes: a span per step, from ``tracer``."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    @contextmanager
    def __call__(self, name: str, attributes: dict[str, Any]) -> Iterator[_Step]:
        client = name in CLIENT_SPANS
        with self.tracer.start_as_current_span(
            PREFIX + name,
            kind=SpanKind.CLIENT if client else SpanKind.INTERNAL,
            attributes=_attributes(attributes),
            # A request's status is its outcome (below), not its caller's exception:
            # the client raises NotFound for a 404, which is an answer.
            set_status_on_exception=not client,
        ) as span:
            step = _Step(span)
            try:
                yield step
            except Exception as exc:
                if client and step.outcome is None:  # it failed before any answer
                    step.outcome = type(exc).__name__
                raise
            finally:
                # A request that got no answer worth the name (4xx but 404, 5xx, none)
                # failed, even when its caller copes.
                if client and step.outcome not in (None, "ok", "not_found"):
                    span.set_status(Status(StatusCode.ERROR, str(step.outcome)))


def install(tracer_provider: trace.TracerProvider | None = None) -> Tracer:
    """Trace the app's steps from now on, with ``tracer_provider`` (default: the one
    set globally with ``opentelemetry.trace.set_tracer_provider``, looked up at each
    span, so an SDK configured later still counts)."""
    tracer = Tracer(trace.get_tracer("django_invoices", __version__, tracer_provider))
    telemetry.use_tracer(tracer)
    return tracer


def uninstall() -> None:
    """Stop tracing the app's steps (tests)."""
    telemetry.use_tracer(None)
