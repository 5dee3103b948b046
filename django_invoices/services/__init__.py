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
    process_callback_event,
    process_callback_events,
    process_pending_callbacks,
    receive_callback,
)
from .customer import (
    OUTCOME_FAILED,
    OUTCOME_PAID,
    OUTCOME_PENDING,
    OUTCOMES,
    Refresh,
    find_customer_invoice,
    get_order,
    parse_invoice_id,
    payment_outcome,
    refresh_if_stale,
)
from .invoices import create_invoice, refresh_invoice
from .provider import (
    absolute_url,
    callback_url,
    get_client,
    list_assets,
    questionnaire_fields,
    redirect_url,
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
    "OrderOutcome",
    "Outcome",
    "Refresh",
    "RefreshOutcome",
    "Transition",
    "absolute_url",
    "apply_invoice_data",
    "apply_status",
    "callback_url",
    "create_invoice",
    "create_invoices",
    "current_invoices",
    "find_customer_invoice",
    "get_client",
    "get_order",
    "list_assets",
    "lock_invoice",
    "parse_invoice_id",
    "payment_outcome",
    "process_callback_event",
    "process_callback_events",
    "process_pending_callbacks",
    "questionnaire_fields",
    "receive_callback",
    "record_deposit",
    "redirect_url",
    "refresh_if_stale",
    "refresh_invoice",
    "refresh_invoices",
    "refresh_orders",
    "stale_open_invoices",
    "with_current_invoice",
]
