"""The only code that calls the KUNA Pay client and writes the app's models.

What shops and the app's own entry points (views, admin, commands, tasks) call is
importable from here (``from django_invoices import services``) and documented in
``docs/reference/services.rst``. Everything else is imported from its module, which
may change between releases:

- ``receipt``, ``locate``, ``queue``, ``reads``, ``settle``, ``pipeline``: the callback
  pipeline, step by step (``docs/architecture.rst``);
- ``invoices``: creating an invoice for an order and reading it back;
- ``orders`` and ``linked``: the order that stands for a shop's own object (the
  contribs' way in), found again from that object, and what an order received;
- ``transitions``: the one locked transition every status change goes through;
- ``customer``: what the return view, checkout and REST API ask for a customer;
- ``bulk``: the admin's actions on many orders or invoices;
- ``sync`` and ``window``: the reconciliation sweep and the late-payment window;
- ``provider``, ``nonces``, ``fields``: the clients, the URLs sent to KUNA Pay, its
  catalogues, and reading its fields into what the models store;
- ``signatures``, ``keys``, ``retention``: diagnosing signature recipes, which key
  verifies callbacks, pruning the log.
"""

from .bulk import (
    OrderOutcome,
    Outcome,
    RefreshOutcome,
    create_invoices,
    current_invoices,
    refresh_invoices,
    refresh_orders,
    with_current_invoice,
)
from .customer import (
    OUTCOME_FAILED,
    OUTCOME_PAID,
    OUTCOME_PENDING,
    OUTCOMES,
    find_customer_invoice,
    get_order,
    overpayment,
    payment_outcome,
    refresh_if_stale,
)
from .invoices import create_invoice, refresh_invoice
from .keys import idle_keys, unverified_live_accounts
from .linked import invoice_received, linked_order, order_received
from .orders import order_for
from .pipeline import drain as drain_callbacks
from .pipeline import handle_callback, invoice_of_event
from .pipeline import reapply as reapply_callbacks
from .provider import callback_url, get_client, list_assets, questionnaire_fields
from .retention import prune_callbacks, prune_rejected_events
from .signatures import diagnose_signatures
from .sync import plan_sync, run_sync

__all__ = [
    "OUTCOMES",
    "OUTCOME_FAILED",
    "OUTCOME_PAID",
    "OUTCOME_PENDING",
    "OrderOutcome",
    "Outcome",
    "RefreshOutcome",
    "callback_url",
    "create_invoice",
    "create_invoices",
    "current_invoices",
    "diagnose_signatures",
    "drain_callbacks",
    "find_customer_invoice",
    "get_client",
    "get_order",
    "handle_callback",
    "idle_keys",
    "invoice_of_event",
    "invoice_received",
    "linked_order",
    "list_assets",
    "order_for",
    "order_received",
    "overpayment",
    "payment_outcome",
    "plan_sync",
    "prune_callbacks",
    "prune_rejected_events",
    "questionnaire_fields",
    "reapply_callbacks",
    "refresh_if_stale",
    "refresh_invoice",
    "refresh_invoices",
    "refresh_orders",
    "run_sync",
    "unverified_live_accounts",
    "with_current_invoice",
]
