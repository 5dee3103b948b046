"""The shop's orders and mirrors of the provider's objects.

Only ``services`` writes these rows; everything else reads them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

from .statuses import OPEN_STATUSES, InvoiceStatus, OrderStatus


def amount_field(verbose_name: StrOrPromise, **kwargs: Any) -> models.DecimalField:
    """Enough for crypto amounts (18 places, as ETH has) and large fiat sums."""
    return models.DecimalField(verbose_name, max_digits=36, decimal_places=18, **kwargs)


class Order(models.Model):
    """What the customer pays for; ``external_order_id`` is sent as ``externalOrderId``."""

    external_order_id = models.CharField(_("external order id"), max_length=128, unique=True)
    amount = amount_field(_("amount"))
    asset = models.CharField(_("asset"), max_length=16)
    description = models.TextField(_("description"), blank=True)
    email = models.EmailField(_("email"), blank=True)
    status = models.CharField(
        _("status"), max_length=32, choices=OrderStatus.choices, default=OrderStatus.NEW
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("customer"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invoice_orders",
    )
    # The shop's own object (a cart, an order of another app), if it has one.
    content_type = models.ForeignKey(ContentType, on_delete=models.SET_NULL, null=True, blank=True)
    object_id = models.CharField(max_length=64, blank=True, default="")
    shop_object = GenericForeignKey("content_type", "object_id")
    # Set when a create request may have reached the provider without an answer; the
    # next attempt looks the invoice up by externalOrderId instead of creating another.
    needs_reconciliation = models.BooleanField(default=False, editable=False)
    # Why reconciliation could not adopt what the provider has for this order (an
    # invoice whose amount or asset differs): for staff to settle by hand.
    reconciliation_issue = models.CharField(
        _("reconciliation issue"), max_length=255, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ("-created_at", "-pk")
        indexes = [
            models.Index(fields=["status"]),
            models.Index(fields=["content_type", "object_id"]),
            # The admin's default ordering: a page of the newest without a sort.
            models.Index(fields=["created_at", "id"], name="django_invo_order_created"),
            # The admin's search by e-mail, in any case.
            models.Index(Upper("email"), name="django_invo_order_email"),
            # The orders flagged for reconciliation (the health page's count, the
            # admin's filter): few rows whatever the size of the table.
            models.Index(
                fields=["updated_at"],
                condition=Q(needs_reconciliation=True) | ~Q(reconciliation_issue=""),
                name="django_invo_order_reconcile",
            ),
        ]

    def __str__(self) -> str:
        return self.external_order_id

    @property
    def is_paid(self) -> bool:
        return self.status == OrderStatus.PAID


#: Invoices a person should look at: overpaid, partly paid, or paid after they expired.
NEEDS_A_PERSON = (
    Q(overpaid=True)
    | Q(status=InvoiceStatus.PARTIALLY_PAID)
    | Q(status=InvoiceStatus.PAID, expired_once=True)
)


class Invoice(models.Model):
    """The provider's invoice for an order."""

    provider_id = models.UUIDField(_("KUNA Pay id"), unique=True)
    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="invoices"
    )
    account = models.CharField(_("merchant account"), max_length=64, default="default")
    provider_status = models.CharField(_("provider status"), max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=32, choices=InvoiceStatus.choices, default=InvoiceStatus.CREATED
    )
    invoice_amount = amount_field(_("invoice amount"))
    invoice_asset = models.CharField(_("invoice asset"), max_length=16)
    payment_amount = amount_field(_("payment amount"), null=True, blank=True)
    payment_asset = models.CharField(_("payment asset"), max_length=16, blank=True)
    # Sum of processed deposits, kept by services under the invoice's row lock.
    paid_amount = amount_field(_("received"), default=Decimal("0"))
    payment_url = models.URLField(_("payment page"), max_length=1000, blank=True)
    address = models.CharField(_("deposit address"), max_length=256, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    provider_created_at = models.DateTimeField(_("created at provider"), null=True, blank=True)
    # Set when it expires and kept: a payment that arrives later, even in parts after a
    # partial one, is a late payment.
    expired_once = models.BooleanField(_("expired once"), default=False)
    # Set when its credited deposits exceed what the buyer was asked to pay (the
    # invoice_overpaid signal): a refund or a word with the buyer is for staff.
    overpaid = models.BooleanField(_("overpaid"), default=False, editable=False)
    # What we asked for when creating it.
    callback_url = models.URLField(_("callback URL"), max_length=1000, blank=True)
    transactional_callbacks = models.BooleanField(_("per-deposit callbacks"), default=False)
    customization = models.JSONField(_("customization"), default=dict, blank=True)
    questionnaire = models.JSONField(_("questionnaire"), default=list, blank=True)
    raw_payload = models.JSONField(_("last payload"), default=dict, blank=True)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    # The queue of record for callbacks (services.queue): while callbacks about this
    # invoice wait for a read, the next read is not before ``callbacks_read_after``
    # (backing off per invoice while the API does not confirm their news, counted in
    # ``callbacks_unconfirmed``), and a reader holds ``read_lease_until`` so no other
    # reads it at the same time. A lease outlives a dead reader by at most its length.
    callbacks_read_after = models.DateTimeField(
        _("callbacks read again after"), null=True, blank=True, editable=False
    )
    callbacks_unconfirmed = models.PositiveSmallIntegerField(
        _("reads without the callbacks' news"), default=0, editable=False
    )
    read_lease_until = models.DateTimeField(
        _("being read until"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ("-created_at", "-pk")
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="django_invoices_one_open_invoice_per_order",
            )
        ]
        indexes = [
            models.Index(fields=["status"]),
            models.Index(fields=["created_at", "id"], name="django_invo_invoice_created"),
            # The invoices a person should look at (the health page's counts, the
            # admin's "needs a person" filter): few rows whatever the size of the table.
            models.Index(
                fields=["created_at"], condition=NEEDS_A_PERSON, name="django_invo_invoice_person"
            ),
        ]
        permissions = [
            ("create_invoice_remote", _("Can create invoices at KUNA Pay")),
            ("refresh_invoice_remote", _("Can refresh invoices from KUNA Pay")),
        ]

    def __str__(self) -> str:
        return str(self.provider_id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Deposit(models.Model):
    """One payment into an invoice (transactional callback or invoice detail)."""

    provider_id = models.CharField(_("transaction id"), max_length=64, unique=True)
    invoice = models.ForeignKey(
        Invoice, verbose_name=_("invoice"), on_delete=models.CASCADE, related_name="deposits"
    )
    status = models.CharField(_("status"), max_length=32, blank=True)
    # The provider's transaction type; only money in counts (statuses.MONEY_IN_TYPES).
    type = models.CharField(_("type"), max_length=32, blank=True)
    asset = models.CharField(_("asset"), max_length=16, blank=True)
    payment_code = models.CharField(_("payment method"), max_length=32, blank=True)
    amount = amount_field(_("amount"), null=True, blank=True)
    fee = amount_field(_("fee"), null=True, blank=True)
    processed_amount = amount_field(_("credited"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=256, blank=True)
    tx_id = models.CharField(_("blockchain tx"), max_length=256, blank=True)
    raw_payload = models.JSONField(_("last payload"), default=dict, blank=True)
    provider_created_at = models.DateTimeField(_("created at provider"), null=True, blank=True)
    created_at = models.DateTimeField(_("received"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("deposit")
        verbose_name_plural = _("deposits")
        ordering = ("-created_at", "-pk")
        indexes = [
            models.Index(fields=["created_at", "id"], name="django_invo_deposit_created"),
            # The admin's search by blockchain transaction.
            models.Index(fields=["tx_id"], name="django_invo_deposit_tx"),
        ]

    def __str__(self) -> str:
        return self.provider_id


class CallbackEvent(models.Model):
    """Every callback that arrived, as it arrived: the audit log and the dedupe key."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPLIED = "applied", _("Applied")
        DUPLICATE = "duplicate", _("Duplicate")
        IGNORED = "ignored", _("Ignored")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Failed")

    account = models.CharField(_("merchant account"), max_length=64, default="default")
    received_at = models.DateTimeField(_("received"), auto_now_add=True, db_index=True)
    # The same request again (a replay, or the provider's retry of one we refused) adds
    # no row: it is counted on the first one (services.receipt). ``replay_key`` says
    # what "the same" is: the body for an authentic callback, the body, signature and
    # reason for a refused one; NULL (never equal to another) when each must be looked
    # at anew, and for the rows stored before replays were counted.
    times_received = models.PositiveIntegerField(_("times received"), default=1)
    last_received_at = models.DateTimeField(_("last received"), null=True, blank=True)
    replay_key = models.CharField(  # noqa: DJ001 (NULLs never conflict; "" would)
        max_length=64, null=True, blank=True, editable=False
    )
    # As it arrived; for a refused callback only its first few KB (body_size and
    # body_sha256 describe the whole); for one verified by a recipe that signs a
    # re-serialisation, that re-serialisation (what the signature covers).
    body = models.TextField(_("raw body"), blank=True)
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64)
    body_size = models.PositiveIntegerField(_("body size"), null=True, blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(_("sender"), null=True, blank=True)
    verified = models.BooleanField(_("signature valid"), default=False)
    # The recipe that verified it ("sha384/hex/raw", see signing.py).
    signature_variant = models.CharField(_("signature variant"), max_length=32, blank=True)
    # Which of the account's private keys verified it (conf.key_fingerprint: a name of
    # the key, never the key), so an old key that no longer signs can be retired.
    key_fingerprint = models.CharField(
        _("key fingerprint"), max_length=16, blank=True, editable=False
    )
    # The kun-signature of a refused callback, for invoices_check_signatures: an HMAC of
    # that body only, no secret.
    signature = models.CharField(_("signature"), max_length=256, blank=True, editable=False)
    event_name = models.CharField(_("event"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    provider_status = models.CharField(_("provider status"), max_length=64, blank=True)
    # event + object + status + updatedAt: the same news delivered twice has one key.
    dedupe_key = models.CharField(max_length=64, blank=True)
    invoice = models.ForeignKey(
        Invoice,
        verbose_name=_("invoice"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="callback_events",
        # The (invoice, received_at) index below serves lookups by invoice as well.
        db_index=False,
    )
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.PENDING
    )
    outcome = models.TextField(_("outcome"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        verbose_name = _("callback event")
        verbose_name_plural = _("callback events")
        ordering = ("-received_at", "-pk")
        constraints = [
            # One row per distinct request: the database keeps replays from adding rows
            # however many arrive at once.
            models.UniqueConstraint(
                fields=["account", "replay_key"], name="django_invoices_event_replay"
            ),
        ]
        # Every callback's INSERT updates each index whose condition its row meets, so
        # each one here serves a query the app makes. Identifiers are only ever searched
        # for exactly: plain indexes (``db_index`` would add a second, for ``LIKE``, on
        # PostgreSQL).
        indexes = [
            models.Index(fields=["body_sha256"], name="django_invo_event_sha256"),
            models.Index(fields=["object_id"], name="django_invo_event_object"),
            # "Was this news applied to this invoice already?" (locate): only applied
            # rows, so the pending ones a callback stores never touch it.
            models.Index(
                fields=["invoice", "dedupe_key"],
                condition=Q(state="applied"),
                name="django_invo_event_applied",
            ),
            # Each below serves a filter of the admin's list in its order (newest
            # first), so a rare value is found without reading a million rows.
            models.Index(fields=["invoice", "received_at"], name="django_invo_event_invoice"),
            # Replaces the plain index on state: pending events oldest first, too.
            models.Index(fields=["state", "received_at"], name="django_invo_event_state"),
            models.Index(fields=["event_name", "received_at"], name="django_invo_event_name"),
            models.Index(fields=["account", "received_at"], name="django_invo_event_account"),
            models.Index(
                fields=["received_at"],
                condition=Q(verified=False),
                name="django_invo_event_unverified",
            ),
            # When each key last (and first) verified a callback, for the check W008.
            models.Index(
                fields=["key_fingerprint", "received_at"],
                condition=~Q(key_fingerprint=""),
                name="django_invo_event_key",
            ),
            # The queue of record: the invoices with callbacks waiting for a read (see
            # services.queue), few rows whatever the size of the log.
            models.Index(
                fields=["invoice", "received_at"],
                condition=Q(state="pending", verified=True),
                name="django_invo_event_pending",
            ),
        ]

    def __str__(self) -> str:
        if self.event_name:
            return f"{self.event_name} {self.object_id} ({self.state})".replace("  ", " ")
        if self.state == self.State.REJECTED:
            # A refused callback has no event or object we trust: say what is known.
            return gettext("Callback %(pk)s refused: %(reason)s") % {
                "pk": self.pk,
                "reason": self.outcome or self.state,
            }
        return gettext("Callback %(pk)s (%(state)s)") % {"pk": self.pk, "state": self.state}


class DrainSchedule(models.Model):
    """When callback work was last handed to a task system (one row, ``name="callbacks"``).

    Wake-up messages only speed the queue up; the pending events are the work. Through
    this row the web processes and workers agree, in the database and on any cache
    backend, whether a drain is already asked for (``requested_at``) and when the next
    deferred one is due (``scheduled_for``), so a burst of callbacks sends one message
    and a lost message is made good by the deferred one (see ``services.queue``).
    """

    name = models.CharField(max_length=32, primary_key=True)
    requested_at = models.DateTimeField(_("drain asked for"), null=True, blank=True)
    scheduled_for = models.DateTimeField(_("next drain due"), null=True, blank=True)

    class Meta:
        verbose_name = _("callback drain schedule")
        verbose_name_plural = _("callback drain schedules")

    def __str__(self) -> str:
        return self.name


class ProviderRequest(models.Model):
    """One HTTP request to KUNA Pay, as the client reported it (``signals.provider_request``).

    Insert-only, one row per request and nothing else per request, so busy workers never
    wait on each other for it; pruned by age (``MONITORING_MAX_AGE``). What the admin's
    health page draws the provider's latency and errors from.
    """

    class Result(models.TextChoices):
        OK = "ok", _("Answered")
        NOT_FOUND = "not_found", _("Not found")
        INVALID = "invalid", _("Unreadable answer")
        REFUSED = "refused", _("Refused (4xx)")
        AUTH = "auth", _("Keys refused")
        RATE_LIMITED = "rate_limited", _("Rate limited")
        SERVER_ERROR = "server_error", _("Server error")
        TIMEOUT = "timeout", _("Timed out")
        UNREACHABLE = "unreachable", _("Unreachable")

    started_at = models.DateTimeField(_("started"))
    account = models.CharField(_("merchant account"), max_length=64)
    method = models.CharField(_("method"), max_length=8)
    # The path with the id left out ("/v1/invoice/{id}"), so requests group by endpoint.
    endpoint = models.CharField(_("endpoint"), max_length=64)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    result = models.CharField(_("result"), max_length=16, choices=Result.choices)
    milliseconds = models.PositiveIntegerField(_("milliseconds"))
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)

    class Meta:
        verbose_name = _("provider request")
        verbose_name_plural = _("provider requests")
        ordering = ("-started_at", "-pk")
        indexes = [
            models.Index(fields=["started_at"], name="django_invo_request_started"),
            models.Index(fields=["result", "started_at"], name="django_invo_request_result"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint} {self.result}"


class SweepRun(models.Model):
    """One run of the sweep (``invoices_sync``), or one chunk of it run by a task worker.

    Insert-only, pruned by age (``MONITORING_MAX_AGE``): when the sweep last ran, and
    what it could not read, for the health page and the health check.
    """

    class Kind(models.TextChoices):
        SWEEP = "sweep", _("Whole sweep")
        INVOICES = "invoices", _("Chunk of invoices")
        ORDERS = "orders", _("Chunk of orders")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"))
    invoices_read = models.PositiveIntegerField(_("invoices read"), default=0)
    invoices_changed = models.PositiveIntegerField(_("invoices changed"), default=0)
    events_settled = models.PositiveIntegerField(_("callbacks settled"), default=0)
    orders_reconciled = models.PositiveIntegerField(_("orders reconciled"), default=0)
    failures = models.PositiveIntegerField(_("could not be read"), default=0)
    # The first few of them, for staff.
    errors = models.TextField(_("errors"), blank=True)

    class Meta:
        verbose_name = _("sweep run")
        verbose_name_plural = _("sweep runs")
        ordering = ("-finished_at", "-pk")
        indexes = [models.Index(fields=["finished_at"], name="django_invo_sweep_finished")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.finished_at:%Y-%m-%d %H:%M}"


class HealthHour(models.Model):
    """One past hour of callbacks and requests to KUNA Pay, summed once for the health
    page's charts (``services.health``): insert-only, one row per hour, pruned by age
    (``MONITORING_MAX_AGE``)."""

    hour = models.DateTimeField(_("hour"), unique=True)
    summary = models.JSONField(_("summary"), default=dict)

    class Meta:
        verbose_name = _("health hour")
        verbose_name_plural = _("health hours")

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00}"


class PaymentsHealth(CallbackEvent):
    """The admin's "Payments health" page (``admin/health.py``): no table of its own, a
    place in the app's admin index."""

    class Meta:
        proxy = True
        verbose_name = _("payments health")
        verbose_name_plural = _("payments health")
