"""Prometheus metrics of the payments (the ``[metrics]`` extra: ``prometheus-client``).

Add ``"django_invoices.contrib.metrics"`` to ``INSTALLED_APPS``: the metrics below are
registered in ``prometheus_client``'s default registry, the one django-prometheus (and
``prometheus_client``'s own exposition) serve at the shop's ``/metrics``. To use another
registry, leave the app out and call ``install(registry)`` once, from an
``AppConfig.ready``. Every metric follows the app's monitoring signals
(``django_invoices.signals``); none is read from the database. See
``docs/howto/monitoring.rst``.

- ``django_invoices_callbacks_received_total{account, outcome, reason}``: callbacks as
  they were stored: outcome ``pending``, ``duplicate``, ``ignored``, ``replayed``,
  ``refused`` (with its ``reason``) or ``rate_limited``;
- ``django_invoices_callbacks_settled_total{account, state}``: callbacks a read
  settled, ``applied`` or ``failed`` (and those still ``pending`` after it);
- ``django_invoices_callback_lag_seconds{account}``: from a callback's receipt to its
  change applied (a histogram);
- ``django_invoices_provider_requests_total{account, method, endpoint, result}`` and
  ``django_invoices_provider_request_seconds{account, method, endpoint}`` (a
  histogram): each request to KUNA Pay;
- ``django_invoices_sweep_runs_total{kind, result}`` (``ok`` or ``failures``),
  ``django_invoices_sweep_failures_total{kind}`` and
  ``django_invoices_sweep_last_finished_timestamp_seconds{kind}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from ... import signals

#: Seconds: from a callback's receipt to its change applied.
LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400)
#: Seconds: one request to KUNA Pay.
REQUEST_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)


class Metrics:
    """The metrics of one registry, fed by the app's signals once ``connect``-ed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.received = Counter(
            "django_invoices_callbacks_received",
            "KUNA Pay callbacks received, by what became of them as they were stored.",
            ["account", "outcome", "reason"],
            registry=registry,
        )
        self.settled = Counter(
            "django_invoices_callbacks_settled",
            "Callbacks a read of their invoice settled, by the state it left them in.",
            ["account", "state"],
            registry=registry,
        )
        self.lag = Histogram(
            "django_invoices_callback_lag_seconds",
            "Seconds from a callback's receipt to its change applied.",
            ["account"],
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "django_invoices_provider_requests",
            "Requests to KUNA Pay, by endpoint and result.",
            ["account", "method", "endpoint", "result"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "django_invoices_provider_request_seconds",
            "Seconds a request to KUNA Pay took.",
            ["account", "method", "endpoint"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.sweeps = Counter(
            "django_invoices_sweep_runs",
            "Runs of the sweep (invoices_sync), or chunks of it run by a task worker.",
            ["kind", "result"],
            registry=registry,
        )
        self.sweep_failures = Counter(
            "django_invoices_sweep_failures",
            "Items a sweep could not read.",
            ["kind"],
            registry=registry,
        )
        self.sweep_finished = Gauge(
            "django_invoices_sweep_last_finished_timestamp_seconds",
            "When a sweep last finished (Unix time).",
            ["kind"],
            registry=registry,
            multiprocess_mode="max",
        )

    # -- receivers ---------------------------------------------------------------------

    def on_callback(
        self, sender: Any, *, account: str, outcome: str, reason: str, **kw: Any
    ) -> None:
        self.received.labels(account, outcome, reason).inc()

    def on_settled(
        self,
        sender: Any,
        *,
        account: str,
        states: dict[int, str],
        lags: Sequence[float],
        **kw: Any,
    ) -> None:
        for state in states.values():
            self.settled.labels(account, state).inc()
        observe = self.lag.labels(account).observe
        for seconds in lags:
            observe(seconds)

    def on_request(
        self,
        sender: Any,
        *,
        account: str,
        method: str,
        endpoint: str,
        result: str,
        seconds: float,
        **kw: Any,
    ) -> None:
        self.requests.labels(account, method, endpoint, result).inc()
        self.request_seconds.labels(account, method, endpoint).observe(seconds)

    def on_sweep(self, sender: Any, *, run: Any, **kw: Any) -> None:
        self.sweeps.labels(run.kind, "failures" if run.failures else "ok").inc()
        if run.failures:
            self.sweep_failures.labels(run.kind).inc(run.failures)
        self.sweep_finished.labels(run.kind).set(run.finished_at.timestamp())

    _SIGNALS = (
        ("callback_received", "on_callback"),
        ("callbacks_settled", "on_settled"),
        ("provider_request", "on_request"),
        ("sweep_finished", "on_sweep"),
    )

    def connect(self) -> None:
        for signal, method in self._SIGNALS:
            getattr(signals, signal).connect(
                getattr(self, method), weak=False, dispatch_uid=self._uid(signal)
            )

    def disconnect(self) -> None:
        for signal, _method in self._SIGNALS:
            getattr(signals, signal).disconnect(dispatch_uid=self._uid(signal))

    def _uid(self, signal: str) -> str:
        return f"django_invoices.contrib.metrics.{signal}.{id(self.registry)}"


_installed: dict[int, Metrics] = {}


def install(registry: CollectorRegistry | None = None) -> Metrics:
    """Register the metrics in ``registry`` (default: ``prometheus_client.REGISTRY``)
    and feed them from now on; once per registry (a second call returns the first)."""
    registry = registry if registry is not None else REGISTRY
    found = _installed.get(id(registry))
    if found is None:
        found = _installed[id(registry)] = Metrics(registry)
        found.connect()
    return found


def uninstall(registry: CollectorRegistry | None = None) -> None:
    """Stop feeding the metrics of ``registry`` (tests)."""
    registry = registry if registry is not None else REGISTRY
    found = _installed.pop(id(registry), None)
    if found is not None:
        found.disconnect()
        for collector in (
            found.received,
            found.settled,
            found.lag,
            found.requests,
            found.request_seconds,
            found.sweeps,
            found.sweep_failures,
            found.sweep_finished,
        ):
            registry.unregister(collector)
