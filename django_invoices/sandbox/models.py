"""The sandbox's own records: the provider's side of invoices, deposits and callbacks."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class SandboxInvoice(models.Model):
    """An invoice as the provider keeps it."""

    # The provider's status strings (``docs/explanation/provider-api.rst`` ("Statuses")).
    CREATED = "CREATED"
    PAYMENT_AWAITING = "PAYMENT_AWAITING"
    CONFIRMATION_AWAITING = "CONFIRMATION_AWAITING"
    PAID = "PAID"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    TIMEOUT = "TIMEOUT"
    DECLINED = "DECLINED"
    OPEN = (CREATED, PAYMENT_AWAITING, CONFIRMATION_AWAITING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.CharField(_("merchant"), max_length=32, db_index=True)
    status = models.CharField(_("status"), max_length=32, default=CREATED)
    amount = models.DecimalField(_("amount"), max_digits=36, decimal_places=18)
    asset = models.CharField(_("asset"), max_length=16)
    external_order_id = models.CharField(
        _("external order id"), max_length=255, blank=True, db_index=True
    )
    product_description = models.TextField(_("product description"), blank=True)
    product_category = models.CharField(_("product category"), max_length=255, blank=True)
    callback_url = models.URLField(_("callback URL"), max_length=2000, blank=True)
    transactional_callbacks = models.BooleanField(_("transactional callbacks"), default=False)
    redirect_url = models.URLField(_("redirect URL"), max_length=2000, blank=True)
    redirect_button_title = models.CharField(_("redirect button title"), max_length=255, blank=True)
    questionnaire = models.JSONField(_("questionnaire fields"), default=list, blank=True)
    answers = models.JSONField(_("questionnaire answers"), default=dict, blank=True)
    payment_amount = models.DecimalField(
        _("payment amount"), null=True, blank=True, max_digits=36, decimal_places=18
    )
    payment_asset = models.CharField(_("payment asset"), max_length=16, blank=True)
    address = models.CharField(_("deposit address"), max_length=128, blank=True)
    failures = models.JSONField(_("failure modes"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    expire_at = models.DateTimeField(_("expires at"))
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sandbox invoice")
        verbose_name_plural = _("sandbox invoices")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return str(self.id)

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class SandboxTransaction(models.Model):
    """One deposit into a sandbox invoice."""

    CREATED = "Created"
    PROCESSING = "Processing"
    PROCESSED = "Processed"
    CANCELED = "Canceled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(
        SandboxInvoice, on_delete=models.CASCADE, related_name="transactions"
    )
    type = models.CharField(_("type"), max_length=32, default="Deposit")
    status = models.CharField(_("status"), max_length=32, default=CREATED)
    asset = models.CharField(_("asset"), max_length=16)
    payment_code = models.CharField(_("payment code"), max_length=32)
    amount = models.DecimalField(_("amount"), max_digits=36, decimal_places=18)
    fee = models.DecimalField(_("fee"), max_digits=36, decimal_places=18)
    processed_amount = models.DecimalField(_("processed amount"), max_digits=36, decimal_places=18)
    address = models.CharField(_("address"), max_length=128, blank=True)
    tx_id = models.CharField(_("transaction hash"), max_length=128, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sandbox transaction")
        verbose_name_plural = _("sandbox transactions")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return str(self.id)


class CallbackDelivery(models.Model):
    """One callback the sandbox sends (or sent, or failed to send) to a shop."""

    PENDING = "pending"
    HELD = "held"
    DELIVERED = "delivered"
    FAILED = "failed"
    STATES = [
        (PENDING, _("Pending")),
        (HELD, _("Held back")),
        (DELIVERED, _("Delivered")),
        (FAILED, _("Failed")),
    ]

    invoice = models.ForeignKey(SandboxInvoice, on_delete=models.CASCADE, related_name="deliveries")
    url = models.URLField(_("URL"), max_length=2000)
    event = models.CharField(_("event"), max_length=32)
    body = models.TextField(_("body"))
    bad_signature = models.BooleanField(_("wrong signature on purpose"), default=False)
    state = models.CharField(_("state"), max_length=16, choices=STATES, default=PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    response_status = models.PositiveIntegerField(_("last answer"), null=True, blank=True)
    error = models.TextField(_("last error"), blank=True)
    # What the shop answered last, and how fast: with a task worker, an acknowledgement
    # ("pending") within milliseconds; in the request, the applied outcome.
    response_text = models.TextField(_("state the shop reported"), blank=True)
    response_ms = models.PositiveIntegerField(_("last answer in ms"), null=True, blank=True)
    due_at = models.DateTimeField(_("due at"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sandbox callback delivery")
        verbose_name_plural = _("sandbox callback deliveries")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.event} → {self.url}"
