"""Django admin: a read-mostly back office over orders, invoices, deposits and callbacks."""

from __future__ import annotations

from django.contrib import admin

from .models import CallbackEvent, Deposit, Invoice, Order


class ReadOnlyAdmin(admin.ModelAdmin):
    """Mirrors of the provider's data are written by services only."""

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [field.name for field in self.model._meta.fields]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("external_order_id", "amount", "asset", "status", "email", "created_at")
    list_filter = ("status", "asset")
    search_fields = ("external_order_id", "email", "invoices__provider_id")
    readonly_fields = ("status", "created_at", "updated_at")
    raw_id_fields = ("user",)
    exclude = ("content_type", "object_id")


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = (
        "provider_id",
        "order",
        "status",
        "invoice_amount",
        "invoice_asset",
        "synced_at",
    )
    list_filter = ("status", "invoice_asset", "account")
    list_select_related = ("order",)
    search_fields = ("provider_id", "order__external_order_id")


@admin.register(Deposit)
class DepositAdmin(ReadOnlyAdmin):
    list_display = ("provider_id", "invoice", "status", "amount", "asset", "created_at")
    list_filter = ("status", "asset")
    list_select_related = ("invoice",)


@admin.register(CallbackEvent)
class CallbackEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "event_name", "object_id", "verified", "state")
    list_filter = ("state", "verified", "event_name")
    search_fields = ("object_id", "body_sha256")
