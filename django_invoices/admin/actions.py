"""Admin actions: they call ``services`` and turn its outcomes into admin messages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .. import background, conf, services
from ..exceptions import (
    AuthenticationFailed,
    KunaPayError,
    NotFound,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from ..models import CallbackEvent, Invoice, Order
from ..services import Outcome
from ..services.pipeline import RETRYABLE_EVENT_STATES

CREATE_PERMISSION = "create_invoice_remote"
REFRESH_PERMISSION = "refresh_invoice_remote"

# How many names one message lists before it says "and N more".
NAMES_SHOWN = 20


class RemotePermissionsMixin:
    """``has_<permission>_permission`` hooks for ``@admin.action(permissions=...)``."""

    def has_create_invoice_remote_permission(self, request: HttpRequest) -> bool:
        return _has(request, CREATE_PERMISSION)

    def has_refresh_invoice_remote_permission(self, request: HttpRequest) -> bool:
        return _has(request, REFRESH_PERMISSION)


def _has(request: HttpRequest, codename: str) -> bool:
    return request.user.has_perm(f"{Invoice._meta.app_label}.{codename}")


@admin.action(description=gettext_lazy("Create invoice"), permissions=[CREATE_PERMISSION])
def create_invoices(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Order]
) -> None:
    if _queued(
        modeladmin,
        request,
        "create_invoices",
        queryset.order_by("pk").values_list("pk", flat=True),
        lambda count: ngettext(
            "Queued %(count)d order for an invoice at KUNA Pay",
            "Queued %(count)d orders for invoices at KUNA Pay",
            count,
        ),
    ):
        return
    outcomes = services.create_invoices(queryset.order_by("pk"))
    _report_orders(
        modeladmin,
        request,
        outcomes,
        done=lambda count: ngettext(
            "Created an invoice for %(count)d order: %(names)s.",
            "Created invoices for %(count)d orders: %(names)s.",
            count,
        ),
        failed=lambda count: ngettext(
            "Could not create an invoice for %(count)d order: %(names)s. %(reason)s",
            "Could not create invoices for %(count)d orders: %(names)s. %(reason)s",
            count,
        ),
    )


@admin.action(description=gettext_lazy("Refresh invoice status"), permissions=[REFRESH_PERMISSION])
def refresh_orders(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Order]
) -> None:
    if _queued(
        modeladmin,
        request,
        "refresh_invoices",
        [invoice.pk for invoice in services.current_invoices(queryset.order_by("pk")).values()],
        lambda count: ngettext(
            "Queued the invoice of %(count)d order for a refresh from KUNA Pay",
            "Queued the invoices of %(count)d orders for a refresh from KUNA Pay",
            count,
        ),
    ):
        return
    outcomes = services.refresh_orders(queryset.order_by("pk"))
    _report_orders(
        modeladmin,
        request,
        outcomes,
        done=lambda count: ngettext(
            "Refreshed the invoice of %(count)d order from KUNA Pay: %(names)s.",
            "Refreshed the invoices of %(count)d orders from KUNA Pay: %(names)s.",
            count,
        ),
        failed=lambda count: ngettext(
            "Could not refresh %(count)d order: %(names)s. %(reason)s",
            "Could not refresh %(count)d orders: %(names)s. %(reason)s",
            count,
        ),
    )


@admin.action(description=gettext_lazy("Refresh from KUNA Pay"), permissions=[REFRESH_PERMISSION])
def refresh_invoices(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Invoice]
) -> None:
    if _queued(
        modeladmin,
        request,
        "refresh_invoices",
        queryset.order_by("pk").values_list("pk", flat=True),
        lambda count: ngettext(
            "Queued %(count)d invoice for a refresh from KUNA Pay",
            "Queued %(count)d invoices for a refresh from KUNA Pay",
            count,
        ),
    ):
        return
    outcomes = services.refresh_invoices(queryset.order_by("pk"))
    refreshed = [o for o in outcomes if o.outcome == Outcome.REFRESHED]
    if refreshed:
        changed = [o for o in refreshed if o.changed]
        modeladmin.message_user(
            request,
            ngettext(
                "Refreshed %(count)d invoice from KUNA Pay; %(changed)d changed status.",
                "Refreshed %(count)d invoices from KUNA Pay; %(changed)d changed status.",
                len(refreshed),
            )
            % {"count": len(refreshed), "changed": len(changed)},
            messages.SUCCESS,
        )
    failures: dict[str, list[Invoice]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.outcome == Outcome.FAILED:
            failures[_failure(outcome.reason, outcome.error)].append(outcome.invoice)
    for reason, invoices in failures.items():
        modeladmin.message_user(
            request,
            ngettext(
                "Could not refresh %(count)d invoice: %(names)s. %(reason)s",
                "Could not refresh %(count)d invoices: %(names)s. %(reason)s",
                len(invoices),
            )
            % {"count": len(invoices), "names": names(invoices), "reason": reason},
            messages.ERROR,
        )


def _queued(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    job: str,
    ids: Iterable[int],
    done: Any,
) -> bool:
    """Queue ``job`` for the ids in chunks when a task system is set and the selection
    is over ``TASKS_ADMIN_THRESHOLD``; False leaves the work to the caller, at once."""
    if not background.queued():
        return False
    ids = list(ids)
    if len(ids) <= int(conf.get("TASKS_ADMIN_THRESHOLD")):
        return False
    tasks = background.enqueue_chunks(job, ids)
    where = str(conf.get("TASKS_MONITOR_URL") or "")
    watch = (
        _("Watch the workers at %(url)s.") % {"url": where}
        if where
        else _("Workers apply them in the background; these lists show each result.")
    )
    modeladmin.message_user(
        request,
        " ".join(
            (
                done(len(ids)) % {"count": len(ids)},
                ngettext("in %(tasks)d task.", "in %(tasks)d tasks.", tasks) % {"tasks": tasks},
                watch,
            )
        ),
        messages.INFO,
    )
    return True


def _report_orders(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    outcomes: Sequence[services.OrderOutcome],
    *,
    done: Any,
    failed: Any,
) -> None:
    """One message for what was done, one per reason to skip, one per failure reason."""
    finished = [o.order for o in outcomes if o.outcome in (Outcome.CREATED, Outcome.REFRESHED)]
    if finished:
        modeladmin.message_user(
            request,
            done(len(finished)) % {"count": len(finished), "names": names(finished)},
            messages.SUCCESS,
        )
    skipped: dict[str, list[Order]] = defaultdict(list)
    failures: dict[str, list[Order]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.outcome == Outcome.SKIPPED:
            skipped[outcome.reason].append(outcome.order)
        elif outcome.outcome == Outcome.FAILED:
            failures[_failure(outcome.reason, outcome.error)].append(outcome.order)
    for reason, orders in skipped.items():
        modeladmin.message_user(
            request,
            ngettext(
                "Skipped %(count)d order: %(names)s. %(reason)s",
                "Skipped %(count)d orders: %(names)s. %(reason)s",
                len(orders),
            )
            % {"count": len(orders), "reason": sentence(reason), "names": names(orders)},
            messages.WARNING,
        )
    for reason, orders in failures.items():
        modeladmin.message_user(
            request,
            failed(len(orders)) % {"count": len(orders), "names": names(orders), "reason": reason},
            messages.ERROR,
        )


def _failure(reason: str, error: KunaPayError | None) -> str:
    """Our own reason if there is one (e.g. not attempted), else the provider's error."""
    return sentence(reason) if reason else describe_error(error)


def sentence(reason: str) -> str:
    """A reason as a sentence of its own: "the order is already paid" reads "The order
    is already paid."; a reason that is a sentence already stays as it is."""
    text = str(capfirst(reason.strip()))
    return text if text.endswith((".", "!", "?")) else f"{text}."


def names(objects: Iterable[Any]) -> str:
    """``A-1, A-2, A-3`` and, past ``NAMES_SHOWN``, how many more."""
    listed = [str(obj) for obj in objects]
    if len(listed) <= NAMES_SHOWN:
        return ", ".join(listed)
    rest = len(listed) - NAMES_SHOWN
    return _("%(names)s and %(count)d more") % {
        "names": ", ".join(listed[:NAMES_SHOWN]),
        "count": rest,
    }


def describe_error(exc: KunaPayError | None) -> str:
    """What staff should read about a provider error (its message, never a secret)."""
    if exc is None:
        return _("Unknown error.")
    detail = str(exc)
    if isinstance(exc, ProviderUnavailable) and exc.status_code is None:
        # No answer at all: the same words for every request, so one message says it.
        if isinstance(exc, ProviderTimeout):
            return _("KUNA Pay did not answer in time; try again later.")
        return _("KUNA Pay could not be reached; try again later.")
    if isinstance(exc, ProviderUnavailable):
        return _("KUNA Pay is unavailable right now; try again later (%(detail)s).") % {
            "detail": detail
        }
    if isinstance(exc, AuthenticationFailed):
        return _("KUNA Pay refused the shop's credentials; check the API keys (%(detail)s).") % {
            "detail": detail
        }
    if isinstance(exc, RateLimited):
        return _("KUNA Pay asked us to slow down; try again in a minute (%(detail)s).") % {
            "detail": detail
        }
    if isinstance(exc, NotFound):
        return _("KUNA Pay does not know this invoice (%(detail)s).") % {"detail": detail}
    return _("KUNA Pay answered: %(detail)s.") % {"detail": detail}


@admin.action(description=gettext_lazy("Delete selected orders"), permissions=["delete"])
def delete_selected(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Order]
) -> Any:
    """Django's delete action for the orders that can go; the others are named and kept.

    An order with an invoice is kept: the invoice is the record of what KUNA Pay was asked
    to collect (its foreign key protects it). Named ``delete_selected`` so that Django's
    confirmation page, which posts that action name back, comes here again.
    """
    kept = list(queryset.filter(invoices__isnull=False).distinct().order_by("pk"))
    if kept:
        modeladmin.message_user(
            request,
            ngettext(
                "Kept %(count)d order: %(names)s. %(reason)s",
                "Kept %(count)d orders: %(names)s. %(reason)s",
                len(kept),
            )
            % {"count": len(kept), "names": names(kept), "reason": KEPT_WITH_INVOICES},
            messages.WARNING,
        )
    deletable = queryset.filter(invoices__isnull=True)
    if not deletable.exists():
        return None
    return django_delete_selected(modeladmin, request, deletable)


KEPT_WITH_INVOICES = gettext_lazy(
    "An order with an invoice cannot be deleted: the invoice is the record of what "
    "KUNA Pay was asked to collect."
)


@admin.action(
    description=gettext_lazy("Re-apply pending or failed callbacks"),
    permissions=[REFRESH_PERMISSION],
)
def reapply_callbacks(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[CallbackEvent]
) -> None:
    retryable = queryset.filter(verified=True, state__in=RETRYABLE_EVENT_STATES)
    skipped = queryset.count() - retryable.count()
    if _queued(
        modeladmin,
        request,
        "process_callback_events",
        retryable.order_by("received_at", "pk").values_list("pk", flat=True),
        lambda count: ngettext(
            "Queued %(count)d callback event to be applied again",
            "Queued %(count)d callback events to be applied again",
            count,
        ),
    ):
        results: dict[str, int] = {}
    else:
        results = dict(
            services.reapply_callbacks(
                retryable.order_by("received_at", "pk").values_list("pk", flat=True)
            )
        )
    labels = dict(CallbackEvent.State.choices)
    if results:
        summary = ", ".join(
            f"{labels.get(state, state)}: {count}" for state, count in sorted(results.items())
        )
        level = (
            messages.WARNING if set(results) & set(RETRYABLE_EVENT_STATES) else (messages.SUCCESS)
        )
        modeladmin.message_user(
            request,
            _("Re-applied %(count)d callback events (%(summary)s).")
            % {"count": sum(results.values()), "summary": summary},
            level,
        )
    if skipped:
        modeladmin.message_user(
            request,
            ngettext(
                "Skipped %(count)d event: only authentic pending or failed events are applied.",
                "Skipped %(count)d events: only authentic pending or failed events are applied.",
                skipped,
            )
            % {"count": skipped},
            messages.INFO,
        )
