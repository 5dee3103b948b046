"""Django admin: the shop's back office for orders, invoices, deposits and callbacks.

Staff create and refresh invoices through actions that call ``services``; everything
mirrored from KUNA Pay is read-only here, and no secret is ever shown.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import callbacks, conf, services
from ..callbacks import DEPOSIT_EVENTS, INVOICE_EVENTS
from ..models import CallbackEvent, Deposit, Invoice, Order
from ..services import limits
from ..statuses import DEPOSIT_STATUSES, InvoiceStatus, OrderStatus
from . import actions, display
from .changelists import EstimatedCountPaginator, IndexedSearchMixin, values_filter
from .forms import OrderAdminForm
from .health import NeedsAPersonFilter, ReconciliationFilter  # also registers the health page

# Callback events shown on an invoice's page; the rest are a link away.
INVOICE_EVENTS_SHOWN = 20


class LargeTableMixin:
    """Changelists that stay fast on tables of millions of rows (see ``changelists``)."""

    paginator: ClassVar[type] = EstimatedCountPaginator
    # The total beside a filtered count would be a second count of the whole table.
    show_full_result_count = False
    # Rendering a row costs more than reading it: half of Django's 100 keeps a page
    # well inside its time at any table size.
    list_per_page = 50


class ReadOnlyMixin:
    """Mirrors of the provider's data are written by services only: view, never edit."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    show_change_link = True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)


# -- orders ----------------------------------------------------------------------------


class InvoiceInline(ReadOnlyInline):
    model = Invoice
    fields = (
        "provider_id",
        "status",
        "invoice_amount_display",
        "paid_amount_display",
        "created_at",
    )
    verbose_name_plural = _("invoices")

    @admin.display(description=_("invoice amount"))
    def invoice_amount_display(self, obj: Invoice) -> str:
        return display.amount(obj.invoice_amount, obj.invoice_asset)

    @admin.display(description=_("received"))
    def paid_amount_display(self, obj: Invoice) -> str:
        return display.amount(obj.paid_amount, obj.payment_asset)


@admin.register(Order)
class OrderAdmin(
    LargeTableMixin, IndexedSearchMixin, actions.RemotePermissionsMixin, admin.ModelAdmin
):
    form = OrderAdminForm
    list_display = (
        "external_order_id",
        "amount_display",
        "status_display",
        "current_invoice",
        "email",
        "created_at",
    )
    list_filter = (
        "status",
        values_filter("asset", _("asset")),
        ("created_at", admin.DateFieldListFilter),
        ReconciliationFilter,
    )
    # Whole values through indexes (a LIKE would read every order); a KUNA Pay invoice
    # id (a UUID) is looked up by ``uuid_search``.
    search_fields = ("external_order_id__exact", "email__iexact")
    search_help_text = _("A whole order id, e-mail or KUNA Pay invoice id.")
    readonly_fields = (
        "status",
        "current_invoice",
        "reconciliation_issue",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("user",)
    exclude = ("content_type", "object_id")
    inlines = (InvoiceInline,)
    actions = (actions.create_invoices, actions.refresh_orders, actions.delete_selected)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return services.with_current_invoice(super().get_queryset(request))

    def uuid_search(self, term: str, value: uuid.UUID) -> Q:
        # An id resolved first: an OR across a join could use neither index.
        invoiced = Invoice.objects.filter(provider_id=value).values_list("order_id", flat=True)
        return Q(external_order_id=term) | Q(pk__in=list(invoiced[:1]))

    def get_inlines(self, request: HttpRequest, obj: Order | None) -> Any:
        # A new order has no invoices to list.
        return self.inlines if obj is not None else ()

    def get_readonly_fields(self, request: HttpRequest, obj: Order | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if _invoiced(obj):
            # What was sent to KUNA Pay stays as it was sent.
            fields += ["external_order_id", "amount_display", "asset"]
        return fields

    def get_exclude(self, request: HttpRequest, obj: Order | None = None) -> Any:
        exclude = list(super().get_exclude(request, obj) or ())
        # Shown as amount_display (in the asset's terms), not as the column's 18 places.
        return [*exclude, "amount"] if _invoiced(obj) else exclude

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        # An invoiced order's invoices protect it: offer no button that cannot work.
        return not _invoiced(obj) and super().has_delete_permission(request, obj)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Order | None = None,
    ) -> Any:
        if _invoiced(obj) and super().has_delete_permission(request, obj):
            # Say why there is no delete button, to those who would otherwise have one.
            context["delete_refusal"] = actions.KEPT_WITH_INVOICES
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Order) -> str:
        return display.amount(obj.amount, obj.asset)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: Order) -> Any:
        return display.badge(obj.status, OrderStatus(obj.status).label)

    @admin.display(description=_("current invoice"))
    def current_invoice(self, obj: Order) -> Any:
        pk = getattr(obj, "current_invoice_pk", None)
        if pk is None:
            return "-"
        status = getattr(obj, "current_invoice_status", "")
        label = InvoiceStatus(status).label if status in InvoiceStatus.values else status
        provider_id = str(obj.current_invoice_provider_id)  # type: ignore[attr-defined]
        # The id's first block is enough to tell invoices apart in a list (and to search
        # for); the whole id is in the tooltip, so the column stays narrow.
        return format_html(
            '<a href="{}" title="{}">{}…</a> {}',
            display.change_url(self.admin_site.name, Invoice, pk),
            provider_id,
            provider_id[:8],
            display.badge(status, label),
        )


def _invoiced(obj: Order | None) -> bool:
    """Whether an order has an invoice (looked up once per object)."""
    if obj is None or obj.pk is None:
        return False
    if getattr(obj, "current_invoice_pk", None) is not None:
        return True
    if not hasattr(obj, "_has_invoices"):
        obj._has_invoices = obj.invoices.exists()  # type: ignore[attr-defined]
    return bool(obj._has_invoices)  # type: ignore[attr-defined]


# -- invoices --------------------------------------------------------------------------


class DepositAmountsMixin:
    """A deposit's amounts without the column's trailing zeros, each with its asset."""

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Deposit) -> str:
        return display.amount(obj.amount, obj.asset)

    @admin.display(description=_("fee"), ordering="fee")
    def fee_display(self, obj: Deposit) -> str:
        return display.amount(obj.fee, obj.asset)

    @admin.display(description=_("credited"), ordering="processed_amount")
    def processed_amount_display(self, obj: Deposit) -> str:
        return display.amount(obj.processed_amount, obj.asset)


class DepositInline(DepositAmountsMixin, ReadOnlyInline):
    model = Deposit
    fields = (
        "provider_id",
        "status",
        "amount_display",
        "fee_display",
        "processed_amount_display",
        "payment_code",
        "tx_display",
        "provider_created_at",
    )

    @admin.display(description=_("blockchain tx"))
    def tx_display(self, obj: Deposit) -> Any:
        return display.shortened(obj.tx_id)


class NewestFormSet(BaseInlineFormSet):
    """The newest ``INVOICE_EVENTS_SHOWN`` rows only: a busy invoice has thousands."""

    def get_queryset(self) -> Any:
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset()[:INVOICE_EVENTS_SHOWN]
        return self._queryset


class CallbackEventInline(ReadOnlyInline):
    model = CallbackEvent
    formset = NewestFormSet
    verbose_name_plural = _("newest callback events")
    fields = (
        "received_at",
        "event_name",
        "provider_status",
        "verified",
        "state",
        "outcome",
        "attempts",
    )


@admin.register(Invoice)
class InvoiceAdmin(
    LargeTableMixin,
    IndexedSearchMixin,
    actions.RemotePermissionsMixin,
    ReadOnlyMixin,
    admin.ModelAdmin,
):
    list_display = (
        "provider_id",
        "order_link",
        "status_display",
        "invoice_amount_display",
        "paid_amount_display",
        "account",
        "synced_at",
        "created_at",
    )
    list_filter = (
        "status",
        values_filter("invoice_asset", _("invoice asset")),
        values_filter("account", _("merchant account"), fixed=conf.account_names, recent=False),
        ("created_at", admin.DateFieldListFilter),
        NeedsAPersonFilter,
    )
    list_select_related = ("order",)
    # As on orders; a KUNA Pay invoice id (a UUID) is looked up by ``uuid_search``.
    search_fields = ("order__external_order_id__exact", "order__email__iexact")
    search_help_text = _("A whole KUNA Pay invoice id, order id or e-mail.")
    actions = (actions.refresh_invoices,)
    inlines = (DepositInline, CallbackEventInline)
    fieldsets = (
        (None, {"fields": ("provider_id", "order_link", "account", "status_display")}),
        (
            _("Amounts"),
            {
                "fields": (
                    "invoice_amount_display",
                    "payment_amount_display",
                    "paid_amount_display",
                )
            },
        ),
        (
            _("Payment"),
            {
                "fields": (
                    "payment_link",
                    "address",
                    "provider_created_at",
                    "expires_at",
                    "expired_once",
                    "overpaid",
                    "completed_at",
                )
            },
        ),
        (
            _("Sent when created"),
            {
                "classes": ("collapse",),
                "fields": (
                    "callback_url",
                    "transactional_callbacks",
                    "customization_display",
                    "questionnaire_display",
                ),
            },
        ),
        (
            _("Synchronisation"),
            {
                "fields": (
                    "synced_at",
                    "created_at",
                    "updated_at",
                    "raw_payload_display",
                    "callback_events_link",
                )
            },
        ),
    )
    readonly_fields = (
        "provider_id",
        "order_link",
        "account",
        "status_display",
        "invoice_amount_display",
        "payment_amount_display",
        "paid_amount_display",
        "payment_link",
        "address",
        "provider_created_at",
        "expires_at",
        "expired_once",
        "overpaid",
        "completed_at",
        "callback_url",
        "transactional_callbacks",
        "customization_display",
        "questionnaire_display",
        "synced_at",
        "created_at",
        "updated_at",
        "raw_payload_display",
        "callback_events_link",
    )

    def uuid_search(self, term: str, value: uuid.UUID) -> Q:
        # An id resolved first: an OR across a join could use neither index.
        orders = Order.objects.filter(external_order_id=term).values_list("pk", flat=True)
        return Q(provider_id=value) | Q(order__in=list(orders[:1]))

    @admin.display(description=_("callback events"))
    def callback_events_link(self, obj: Invoice) -> Any:
        opts = CallbackEvent._meta
        url = reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_changelist")
        return format_html(
            '<a href="{}?invoice__id__exact={}">{}</a>',
            url,
            obj.pk,
            _("All callback events about this invoice"),
        )

    @admin.display(description=_("order"), ordering="order__external_order_id")
    def order_link(self, obj: Invoice) -> Any:
        return display.change_link(self.admin_site.name, Order, obj.order_id, obj.order)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: Invoice) -> Any:
        label = str(InvoiceStatus(obj.status).label)
        if obj.provider_status:
            label = f"{label} · {obj.provider_status}"
        return display.badge(obj.status, label)

    @admin.display(description=_("invoice amount"), ordering="invoice_amount")
    def invoice_amount_display(self, obj: Invoice) -> str:
        return display.amount(obj.invoice_amount, obj.invoice_asset)

    @admin.display(description=_("payment amount"))
    def payment_amount_display(self, obj: Invoice) -> str:
        return display.amount(obj.payment_amount, obj.payment_asset)

    @admin.display(description=_("received"), ordering="paid_amount")
    def paid_amount_display(self, obj: Invoice) -> str:
        return display.amount(obj.paid_amount, obj.payment_asset)

    @admin.display(description=_("payment page"))
    def payment_link(self, obj: Invoice) -> Any:
        if not obj.payment_url:
            return "-"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
            obj.payment_url,
            obj.payment_url,
        )

    @admin.display(description=_("customization"))
    def customization_display(self, obj: Invoice) -> Any:
        return display.pretty_json(obj.customization)

    @admin.display(description=_("questionnaire"))
    def questionnaire_display(self, obj: Invoice) -> Any:
        return display.pretty_json(obj.questionnaire)

    @admin.display(description=_("last payload"))
    def raw_payload_display(self, obj: Invoice) -> Any:
        return display.pretty_json(obj.raw_payload)


# -- deposits --------------------------------------------------------------------------


@admin.register(Deposit)
class DepositAdmin(
    LargeTableMixin, IndexedSearchMixin, DepositAmountsMixin, ReadOnlyMixin, admin.ModelAdmin
):
    list_display = (
        "provider_id",
        "invoice_link",
        "status",
        "amount_display",
        "processed_amount_display",
        "created_at",
    )
    list_filter = (
        values_filter("status", _("status"), fixed=lambda: DEPOSIT_STATUSES),
        values_filter("asset", _("asset")),
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("invoice",)
    # A KUNA Pay invoice id (a UUID) is looked up by ``uuid_search``.
    search_fields = ("provider_id__exact", "tx_id__exact")
    search_help_text = _("A whole transaction id, blockchain transaction or KUNA Pay invoice id.")
    fields = (
        "provider_id",
        "invoice_link",
        "status",
        "asset",
        "payment_code",
        "amount_display",
        "fee_display",
        "processed_amount_display",
        "address",
        "tx_id",
        "provider_created_at",
        "created_at",
        "updated_at",
        "raw_payload_display",
    )
    readonly_fields = fields

    def uuid_search(self, term: str, value: uuid.UUID) -> Q:
        # The invoice resolved first: an OR across the join could use neither index.
        invoices = Invoice.objects.filter(provider_id=value).values_list("pk", flat=True)
        return Q(provider_id=term) | Q(invoice__in=list(invoices[:1]))

    @admin.display(description=_("invoice"), ordering="invoice")
    def invoice_link(self, obj: Deposit) -> Any:
        return display.change_link(self.admin_site.name, Invoice, obj.invoice_id, obj.invoice)

    @admin.display(description=_("last payload"))
    def raw_payload_display(self, obj: Deposit) -> Any:
        return display.pretty_json(obj.raw_payload)


# -- callbacks -------------------------------------------------------------------------


@admin.register(CallbackEvent)
class CallbackEventAdmin(
    LargeTableMixin,
    IndexedSearchMixin,
    actions.RemotePermissionsMixin,
    ReadOnlyMixin,
    admin.ModelAdmin,
):
    """The callback log. Signature headers are hidden; keys are never stored here."""

    actions = (actions.reapply_callbacks,)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        refused = limits.refused_today()
        if refused:
            # Refused by the endpoint's rate limit and stored nowhere: only counted.
            messages.warning(
                request,
                ngettext(
                    "%(n)d callback refused by the rate limit today (answered 429, not "
                    "stored); see the log for the senders.",
                    "%(n)d callbacks refused by the rate limit today (answered 429, not "
                    "stored); see the log for the senders.",
                    refused,
                )
                % {"n": refused},
            )
        return super().changelist_view(request, extra_context)

    list_display = (
        "received_at",
        "event_display",
        "object_short",
        "provider_status_display",
        "invoice_link",
        "signed",
        "state_display",
        "attempts",
    )
    list_filter = (
        "verified",
        "state",
        values_filter(
            "event_name",
            _("event"),
            fixed=lambda: sorted(INVOICE_EVENTS | DEPOSIT_EVENTS),
            newest="-received_at",
        ),
        values_filter("account", _("merchant account"), fixed=conf.account_names, recent=False),
        ("received_at", admin.DateFieldListFilter),
    )
    # Counts beside each filter on demand ("Show counts"): events that name no invoice we
    # know ("Ignored") show up as a number, so a new event type does not go unnoticed.
    # Not always: each count reads the log, which may hold millions of rows.
    show_facets = admin.ShowFacets.ALLOW
    list_select_related = ("invoice",)
    # A KUNA Pay invoice id (a UUID) is looked up by ``uuid_search``.
    search_fields = ("object_id__exact", "body_sha256__exact")
    search_help_text = _("A whole KUNA Pay invoice id, object id or body SHA-256.")
    fields = (
        "received_at",
        "account",
        "remote_addr",
        "verified",
        "signature_variant_display",
        "key_fingerprint",
        "event_display",
        "object_display",
        "provider_status_display",
        "invoice_display",
        "state_display",
        "outcome",
        "attempts",
        "processed_at",
        "body_sha256",
        "body_size",
        "headers_display",
        "body_display",
    )
    readonly_fields = fields

    @admin.display(description=_("event"), ordering="event_name")
    def event_display(self, obj: CallbackEvent) -> Any:
        return obj.event_name or _claimed(obj, "event")

    @admin.display(description=_("object id"), ordering="object_id")
    def object_display(self, obj: CallbackEvent) -> Any:
        return obj.object_id or _claimed(obj, "object_id")

    @admin.display(description=_("object id"), ordering="object_id")
    def object_short(self, obj: CallbackEvent) -> Any:
        return display.short_id(obj.object_id) if obj.object_id else _claimed(obj, "object_id")

    @admin.display(description=_("provider status"), ordering="provider_status")
    def provider_status_display(self, obj: CallbackEvent) -> Any:
        if obj.provider_status:
            return display.breakable(obj.provider_status)
        return _claimed(obj, "status")

    @admin.display(description=_("signed"), boolean=True, ordering="verified")
    def signed(self, obj: CallbackEvent) -> bool:
        return obj.verified

    def uuid_search(self, term: str, value: uuid.UUID) -> Q:
        # A known invoice's events as located when they arrived (their invoice, through
        # the (invoice, received_at) index); events about an unknown id by the id they
        # carry. Never both in one OR: PostgreSQL would read the log newest first until
        # it found old events of a busy invoice.
        ids = {term, str(value)}
        invoice = Invoice.objects.filter(provider_id=value).values_list("pk", flat=True)
        pks = list(invoice[:1])
        if not pks:
            return Q(object_id__in=ids)
        return Q(invoice=pks[0])

    @admin.display(description=_("invoice"), ordering="invoice")
    def invoice_link(self, obj: CallbackEvent) -> Any:
        if obj.invoice is None:
            return "-"
        return display.change_link(
            self.admin_site.name, Invoice, obj.invoice_id, display.short_id(obj.invoice)
        )

    @admin.display(description=_("invoice"))
    def invoice_display(self, obj: CallbackEvent) -> Any:
        """The linked invoice; for an event not applied yet, the invoice it names."""
        invoice = obj.invoice if obj.invoice_id else services.invoice_of_event(obj)
        if invoice is None:
            return "-"
        return display.change_link(self.admin_site.name, Invoice, invoice.pk, invoice)

    @admin.display(description=_("state"), ordering="state")
    def state_display(self, obj: CallbackEvent) -> Any:
        badge = display.badge(obj.state, obj.get_state_display())
        if obj.state != CallbackEvent.State.REJECTED or not obj.outcome:
            return badge
        # Why it was refused, under the badge: the list then says what is known.
        return format_html(
            '{}<br><span style="font-size:11px">{}</span>',
            badge,
            Truncator(obj.outcome).chars(80),
        )

    @admin.display(description=_("signature variant"))
    def signature_variant_display(self, obj: CallbackEvent) -> str:
        variant = obj.signature_variant
        if not variant:
            return "-"
        if variant.endswith("/raw"):
            return _("%(recipe)s: the raw body below is what was signed.") % {"recipe": variant}
        return _(
            "%(recipe)s: the signature covers a re-serialisation of the body, so the body "
            "below is that re-serialisation, not the bytes that arrived."
        ) % {"recipe": variant}

    @admin.display(description=_("headers"))
    def headers_display(self, obj: CallbackEvent) -> Any:
        return display.pretty_json(display.redact_headers(obj.headers))

    @admin.display(description=_("raw body"))
    def body_display(self, obj: CallbackEvent) -> Any:
        return display.pretty_body(obj.body)


def _claimed(event: CallbackEvent, attribute: str) -> Any:
    """What a refused callback's body says, marked as unverified; "-" when it says nothing.

    Only for display: nothing from an unverified body is ever applied or stored as fact.
    """
    if event.verified:
        return "-"
    if not hasattr(event, "_claimed"):
        try:
            event._claimed = callbacks.parse(event.body.encode("utf-8"))  # type: ignore[attr-defined]
        except ValueError:
            event._claimed = None  # type: ignore[attr-defined]
    claimed = event._claimed  # type: ignore[attr-defined]
    value = getattr(claimed, attribute, "") if claimed is not None else ""
    if not value:
        return "-"
    return format_html(
        '<i title="{}">{}</i>', _("What the refused body claims; not verified."), value
    )
