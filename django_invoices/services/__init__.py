"""The only code that calls the KUNA Pay client and writes the app's models.

Views, admin actions, management commands and tasks call these functions; import them
from here (``from django_invoices import services``), not from the modules below, which
may move.

- ``provider``: the clients of the merchant accounts, the URLs sent to KUNA Pay and its
  cached catalogues;
- ``invoices``: creating an invoice for an order and reading it back;
- ``transitions``: the one locked transition every status change goes through;
- ``callback_events``: storing callbacks and applying them exactly once;
- ``customer``: what the return view, checkout and REST API ask for a customer;
- ``bulk``: the admin's actions on many orders or invoices;
- ``sync``: the reconciliation sweep (``invoices_sync``), as ids and units of work;
- ``signatures``: which signature recipe stored callbacks were signed with;
- ``dispatch``: applying work now or queueing it for a task worker (``TASKS``);
- ``fields``: reading the provider's fields into what the models store.
"""

from ..statuses import CREDITED_DEPOSIT_STATUSES
from .bulk import (
    OrderOutcome,
    Outcome,
    RefreshOutcome,
    create_invoices,
    current_invoices,
    refresh_invoices,
    refresh_orders,
    stale_open_invoices,
    with_current_invoice,
)
from .callback_events import (
    REJECT_BAD_SIGNATURE,
    REJECT_MALFORMED,
    REJECT_MISCONFIGURED,
    REJECT_NO_SIGNATURE,
    REJECT_TOO_LARGE,
    REJECT_UNKNOWN_ACCOUNT,
    RETRYABLE_EVENT_STATES,
    find_named_invoice,
    invoice_of_event,
    pending_event_ids,
    process_callback_event,
    process_callback_events,
    process_event_by_id,
    process_pending_callbacks,
    prune_rejected_events,
    receive_callback,
    settle_covered_events,
)
from .customer import (
    OUTCOME_FAILED,
    OUTCOME_PAID,
    OUTCOME_PENDING,
    OUTCOMES,
    Refresh,
    find_customer_invoice,
    get_order,
    overpayment,
    parse_invoice_id,
    payment_outcome,
    refresh_if_stale,
)
from .dispatch import dispatch_callback_event, hand_on_waiting, pending_events_with
from .invoices import create_invoice, reconcile_order, refresh_invoice
from .provider import (
    absolute_url,
    callback_url,
    get_client,
    list_assets,
    questionnaire_fields,
    redirect_url,
)
from .signatures import Diagnosis, diagnose_signatures
from .sync import (
    InvoiceSync,
    SyncPlan,
    SyncReport,
    changeable_invoices,
    chunks,
    may_still_change,
    plan_sync,
    run_sync,
    sync_event,
    sync_invoice,
    sync_invoices,
    sync_order,
)
from .transitions import (
    Transition,
    apply_invoice_data,
    apply_status,
    lock_invoice,
    record_deposit,
)

__all__ = [
    "CREDITED_DEPOSIT_STATUSES",
    "OUTCOMES",
    "OUTCOME_FAILED",
    "OUTCOME_PAID",
    "OUTCOME_PENDING",
    "REJECT_BAD_SIGNATURE",
    "REJECT_MALFORMED",
    "REJECT_MISCONFIGURED",
    "REJECT_NO_SIGNATURE",
    "REJECT_TOO_LARGE",
    "REJECT_UNKNOWN_ACCOUNT",
    "RETRYABLE_EVENT_STATES",
    "Diagnosis",
    "InvoiceSync",
    "OrderOutcome",
    "Outcome",
    "Refresh",
    "RefreshOutcome",
    "SyncPlan",
    "SyncReport",
    "Transition",
    "absolute_url",
    "apply_invoice_data",
    "apply_status",
    "callback_url",
    "changeable_invoices",
    "chunks",
    "create_invoice",
    "create_invoices",
    "current_invoices",
    "diagnose_signatures",
    "dispatch_callback_event",
    "find_customer_invoice",
    "find_named_invoice",
    "get_client",
    "get_order",
    "hand_on_waiting",
    "invoice_of_event",
    "list_assets",
    "lock_invoice",
    "may_still_change",
    "overpayment",
    "parse_invoice_id",
    "payment_outcome",
    "pending_event_ids",
    "pending_events_with",
    "plan_sync",
    "process_callback_event",
    "process_callback_events",
    "process_event_by_id",
    "process_pending_callbacks",
    "prune_rejected_events",
    "questionnaire_fields",
    "receive_callback",
    "reconcile_order",
    "record_deposit",
    "redirect_url",
    "refresh_if_stale",
    "refresh_invoice",
    "refresh_invoices",
    "refresh_orders",
    "run_sync",
    "settle_covered_events",
    "stale_open_invoices",
    "sync_event",
    "sync_invoice",
    "sync_invoices",
    "sync_order",
    "with_current_invoice",
]
