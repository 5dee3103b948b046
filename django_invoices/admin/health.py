"""The "Payments health" page, and the admin's lists of what monitoring records.

The page is the changelist of ``PaymentsHealth`` (a proxy model with no rows of its
own), so it sits in the app's admin index and follows the admin's permissions: staff
who may view both callback events and invoices see it. It reads everything through
``services.health`` (a fixed number of bounded queries, ``tests/test_admin_health.py``
pins them) and draws its charts as SVG on the server.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone as dj_timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from ..models import CallbackEvent, Invoice, Order, PaymentsHealth, ProviderRequest, SweepRun
from ..services import health, receipt
from ..statuses import InvoiceStatus
from . import charts

# -- the filters the page links to ---------------------------------------------------------

OVERPAID = "overpaid"
PAID_LATE = "paid_late"
PARTLY_PAID = "partly_paid"


class NeedsAPersonFilter(admin.SimpleListFilter):
    """Invoices a person should look at (``models.NEEDS_A_PERSON``), one kind at a time."""

    title = _("needs a person")
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            (OVERPAID, _("Overpaid")),
            (PARTLY_PAID, _("Partly paid")),
            (PAID_LATE, _("Paid after it expired")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        chosen = {
            OVERPAID: Q(overpaid=True),
            PARTLY_PAID: Q(status=InvoiceStatus.PARTIALLY_PAID),
            PAID_LATE: Q(status=InvoiceStatus.PAID, expired_once=True),
        }.get(self.value() or "")
        return queryset.filter(chosen) if chosen is not None else queryset


OWED = "owed"
ISSUE = "issue"


class ReconciliationFilter(admin.SimpleListFilter):
    """Orders flagged for reconciliation (a partial index serves both)."""

    title = _("reconciliation")
    parameter_name = "reconciliation"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            (OWED, _("Invoice to look up at KUNA Pay")),
            (ISSUE, _("Differs from KUNA Pay: for staff")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == OWED:
            return queryset.filter(needs_reconciliation=True)
        if self.value() == ISSUE:
            # Spelled as the partial index's condition, so the index serves it.
            flagged = Q(needs_reconciliation=True) | ~Q(reconciliation_issue="")
            return queryset.filter(flagged).exclude(reconciliation_issue="")
        return queryset


ERRORS = "errors"


class RequestResultFilter(admin.SimpleListFilter):
    """Requests by result, and all errors at once (what is not an answer)."""

    title = _("result")
    parameter_name = "result"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(ERRORS, _("Any error")), *ProviderRequest.Result.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == ERRORS:
            errors = [r for r in ProviderRequest.Result.values if r not in health.ANSWERED]
            return queryset.filter(result__in=errors)
        if value in ProviderRequest.Result.values:
            return queryset.filter(result=value)
        return queryset


# -- the lists of what monitoring records --------------------------------------------------


class RecordAdmin(admin.ModelAdmin):
    """Read-only lists of records the app writes itself."""

    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ProviderRequest)
class ProviderRequestAdmin(RecordAdmin):
    list_display = (
        "started_at",
        "method",
        "endpoint",
        "object_id",
        "result",
        "status_code",
        "milliseconds",
        "attempt",
        "account",
    )
    list_filter = (RequestResultFilter, ("started_at", admin.DateFieldListFilter))
    search_fields = ("object_id__exact",)
    search_help_text = _("A whole invoice or transaction id.")


@admin.register(SweepRun)
class SweepRunAdmin(RecordAdmin):
    list_display = (
        "finished_at",
        "kind",
        "invoices_read",
        "invoices_changed",
        "events_settled",
        "orders_reconciled",
        "failures",
    )
    list_filter = ("kind", ("finished_at", admin.DateFieldListFilter))
    readonly_fields = (
        "kind",
        "started_at",
        "finished_at",
        "invoices_read",
        "invoices_changed",
        "events_settled",
        "orders_reconciled",
        "failures",
        "errors",
    )


# -- the page ---------------------------------------------------------------------------------


def _outcome_series() -> list[charts.Series]:
    refused = {
        receipt.REJECT_BAD_SIGNATURE: _("Refused: bad signature"),
        receipt.REJECT_NO_SIGNATURE: _("Refused: no signature"),
        receipt.REJECT_UNKNOWN_ACCOUNT: _("Refused: unknown account"),
        receipt.REJECT_MALFORMED: _("Refused: malformed"),
        receipt.REJECT_TOO_LARGE: _("Refused: too large"),
        receipt.REJECT_MISCONFIGURED: _("Refused: settings unusable"),
    }
    return [
        charts.Series("applied", _("Applied"), "di-applied"),
        charts.Series("duplicate", _("Duplicate"), "di-duplicate"),
        charts.Series("ignored", _("Ignored"), "di-ignored"),
        charts.Series("pending", _("Pending"), "di-pending"),
        charts.Series("failed", _("Failed"), "di-failed"),
        *(
            charts.Series(f"refused:{reason}", label, f"di-refused-{n}")
            for n, (reason, label) in enumerate(refused.items())
        ),
    ]


def _hour_label(start: datetime) -> str:
    local = dj_timezone.localtime(start)
    return date_format(local, "D j M, H:i")


def _charts(hours: list[health.Hour]) -> dict[str, Any]:
    """The page's charts over the last 24 hours and the last 7 days."""
    drawn: dict[str, Any] = {}
    outcomes = _outcome_series()
    quantiles = [
        charts.Series("p50", _("median (p50)"), "di-p50"),
        charts.Series("p95", _("p95"), "di-p95"),
    ]
    requests = [
        charts.Series("ok", _("Answered"), "di-applied"),
        charts.Series("errors", _("Errors"), "di-failed"),
    ]
    # Each hour's label, written once for every chart (date formatting is not cheap).
    described = {hour.start: _hour_label(hour.start) for hour in hours}
    label = described.__getitem__
    for name, chosen in (("day", hours[-24:]), ("week", hours)):
        starts = [hour.start for hour in chosen]
        drawn[f"callbacks_{name}"] = charts.bars(
            starts, [hour.callbacks for hour in chosen], outcomes, describe=label
        )
        drawn[f"lag_{name}"] = charts.lines(
            starts,
            [
                {"p50": health.lag_quantile(h, 0.5), "p95": health.lag_quantile(h, 0.95)}
                for h in chosen
            ],
            quantiles,
            low=0.1,
            high=health.LAG_BUCKETS[-1],
            ticks=(0.1, 1, 10, 60, 600, 3600, 86400),
            label=charts.seconds,
            describe=label,
        )
        drawn[f"requests_{name}"] = charts.bars(
            starts,
            [{"ok": h.requests - h.errors, "errors": h.errors} for h in chosen],
            requests,
            describe=label,
        )
        drawn[f"latency_{name}"] = charts.lines(
            starts,
            [
                {"p50": health.latency_quantile(h, 0.5), "p95": health.latency_quantile(h, 0.95)}
                for h in chosen
            ],
            quantiles,
            low=10,
            high=60_000,
            ticks=(10, 100, 1000, 10_000, 60_000),
            label=charts.milliseconds,
            describe=label,
        )
    return drawn


def _summary(hours: list[health.Hour]) -> dict[str, Any]:
    """Totals of the last 24 hours and 7 days, with their percentiles."""
    found = {}
    for name, chosen in (("day", hours[-24:]), ("week", hours)):
        total = health.sum_hours(chosen)
        refused = sum(n for key, n in total.callbacks.items() if key.startswith("refused:"))
        found[name] = {
            "received": total.received,
            "applied": total.applied,
            "duplicate": total.callbacks.get("duplicate", 0),
            "pending": total.callbacks.get("pending", 0),
            "failed": total.callbacks.get("failed", 0),
            "refused": refused,
            "lag_p50": _or_dash(health.lag_quantile(total, 0.5), charts.seconds),
            "lag_p95": _or_dash(health.lag_quantile(total, 0.95), charts.seconds),
            "requests": total.requests,
            "errors": total.errors,
            "latency_p50": _or_dash(health.latency_quantile(total, 0.5), charts.milliseconds),
            "latency_p95": _or_dash(health.latency_quantile(total, 0.95), charts.milliseconds),
        }
    return found


def _or_dash(value: float | None, shown: Any) -> str:
    return "-" if value is None else str(shown(value))


def _age(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    return str(charts.seconds(delta.total_seconds()))


def _capped(n: int) -> str:
    return f"{health.COUNT_CAP}+" if n > health.COUNT_CAP else str(n)


@admin.register(PaymentsHealth)
class PaymentsHealthAdmin(admin.ModelAdmin):
    """The page itself: its changelist URL shows the health report; nothing else."""

    template = "admin/django_invoices/health/page.html"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return obj is None and all(
            user.has_perm(f"django_invoices.view_{model}")
            or user.has_perm(f"django_invoices.change_{model}")
            for model in ("callbackevent", "invoice")
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        found = health.report()
        now = found["now"]
        pending_max, sweep_max = found["thresholds"]
        pending, sweeps = found["pending"], found["sweeps"]
        pending_age, sweep_age = pending.age(now), sweeps.age(now)
        context = {
            **self.admin_site.each_context(request),
            **(extra_context or {}),
            "title": _("Payments health"),
            "opts": self.model._meta,
            "app_label": self.model._meta.app_label,
            "now": now,
            "summary": _summary(found["hours"]),
            "charts": _charts(found["hours"]),
            "pending": {
                "count": _capped(pending.count),
                "age": _age(pending_age),
                "late": pending_age is not None and pending_age > pending_max,
                "threshold": _age(pending_max),
            },
            "attention": found["attention"],
            "attention_counts": {
                key: _capped(getattr(found["attention"], key))
                for key in (
                    "overpaid",
                    "partly_paid",
                    "paid_late",
                    "lookup_owed",
                    "reconciliation_issue",
                )
            },
            "sweeps": sweeps,
            "sweep_age": _age(sweep_age),
            "sweep_late": sweep_age is None or sweep_age > sweep_max,
            "sweep_threshold": _age(sweep_max),
            "signatures": self._signatures(found),
            "recipes": found["recipes"],
            "links": self._links(found),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.template, context)

    def _url(self, model: type, **params: Any) -> str:
        opts = model._meta  # type: ignore[attr-defined]
        url = reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_changelist")
        return f"{url}?{urlencode(params)}" if params else url

    def _links(self, found: dict[str, Any]) -> dict[str, Any]:
        """The filtered admin lists behind each number."""
        now: datetime = found["now"]
        day, week, since = (
            dj_timezone.localtime(moment).replace(microsecond=0).isoformat(sep=" ")
            for moment in (
                now - timedelta(days=1),
                now - timedelta(days=health.DAYS),
                found["attention"].since,
            )
        )
        events = CallbackEvent
        links = {
            # Oldest first: the list's first column is received_at.
            "pending": self._url(events, state__exact="pending", verified__exact=1, o=1),
            "failed": self._url(events, state__exact="failed", received_at__gte=week),
            "refused": self._url(events, verified__exact=0, received_at__gte=day),
            "received": self._url(events, received_at__gte=day),
            "overpaid": self._url(Invoice, attention=OVERPAID, created_at__gte=since),
            "partly_paid": self._url(Invoice, attention=PARTLY_PAID, created_at__gte=since),
            "paid_late": self._url(Invoice, attention=PAID_LATE, created_at__gte=since),
            "lookup_owed": self._url(Order, reconciliation=OWED),
            "reconciliation_issue": self._url(Order, reconciliation=ISSUE),
            "sweeps": self._url(SweepRun),
            "requests": self._url(ProviderRequest, started_at__gte=day),
            "request_errors": self._url(ProviderRequest, result=ERRORS, started_at__gte=day),
        }
        return links

    def _signatures(self, found: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per merchant account, with the link to its refused callbacks."""
        week = (
            dj_timezone.localtime(found["now"] - timedelta(days=health.DAYS))
            .replace(microsecond=0)
            .isoformat(sep=" ")
        )
        rows = []
        for entry in found["signatures"]:
            other = sum(
                n
                for reason, n in entry.refused_week.items()
                if reason not in health.SIGNATURE_REASONS
            )
            rows.append(
                {
                    "account": entry.account,
                    "recipe": entry.recipe,
                    "key_fingerprint": entry.key_fingerprint,
                    "verified_at": entry.verified_at,
                    "bad_signatures_day": entry.bad_signatures_day,
                    "bad_signatures_week": entry.bad_signatures_week,
                    "other_refusals_week": other,
                    "refused_link": self._url(
                        CallbackEvent,
                        account=entry.account,
                        verified__exact=0,
                        received_at__gte=week,
                    ),
                }
            )
        return rows
