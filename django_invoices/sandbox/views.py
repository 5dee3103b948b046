"""The hosted payment page of a sandbox invoice."""

from __future__ import annotations

import json
import logging
import uuid
from decimal import Decimal
from typing import Any

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from . import conf, delivery, simulate, wire
from .forms import FailureForm, PaymentForm
from .models import CallbackDelivery, SandboxInvoice, SandboxTransaction

ACTION_LABELS = {
    simulate.PAY: gettext_lazy("Pay in full"),
    simulate.PAY_PART: gettext_lazy("Pay part"),
    simulate.OVERPAY: gettext_lazy("Overpay"),
    simulate.EXPIRE: gettext_lazy("Let it expire"),
    simulate.DECLINE: gettext_lazy("Decline"),
}

STATUS_TEXT = {
    SandboxInvoice.CREATED: gettext_lazy("Waiting for the buyer."),
    SandboxInvoice.PAYMENT_AWAITING: gettext_lazy("Waiting for the payment."),
    SandboxInvoice.CONFIRMATION_AWAITING: gettext_lazy("Waiting for confirmations."),
    SandboxInvoice.PAID: gettext_lazy("Paid. Thank you!"),
    SandboxInvoice.PARTIALLY_PAID: gettext_lazy("Only part of the amount was paid."),
    SandboxInvoice.TIMEOUT: gettext_lazy("The invoice expired."),
    SandboxInvoice.DECLINED: gettext_lazy("The payment was declined."),
}

logger = logging.getLogger("django_invoices.sandbox")

# Actions that mean the buyer paid something, so the questionnaire must be filled in.
PAYING = (simulate.PAY, simulate.PAY_PART, simulate.OVERPAY, simulate.DECLINE)


@require_http_methods(["GET", "POST"])
def payment_page(request: HttpRequest, invoice_id: uuid.UUID) -> HttpResponse:
    invoice = get_object_or_404(SandboxInvoice, pk=invoice_id)
    payment_form = PaymentForm(invoice=invoice)
    failure_form = FailureForm(initial={"failures": invoice.failures})
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "failures":
            failure_form = FailureForm(request.POST)
            if failure_form.is_valid():
                invoice.failures = failure_form.cleaned_data["failures"]
                invoice.save(update_fields=["failures", "updated_at"])
                return _back(request)
        elif action == "deliver_late":
            delivery.deliver_due(force=True, invoice=invoice)
            return _back(request)
        elif action in simulate.ACTIONS:
            payment_form = PaymentForm(request.POST, invoice=invoice)
            if action == simulate.EXPIRE or payment_form.is_valid():
                cleaned = getattr(payment_form, "cleaned_data", {})
                try:
                    simulate.act(
                        invoice,
                        action,
                        amount=cleaned.get("amount") if action in PAYING else None,
                        payment_asset=cleaned.get("payment_asset") or None,
                        answers=payment_form.answers() if action in PAYING else None,
                    )
                except simulate.ActionRefused as exc:
                    error = str(exc)
                except OperationalError:
                    # SQLite's lock, when the same form is sent twice at once: the other
                    # request carries the action out.
                    logger.info("Sandbox invoice %s is busy; action %s not taken", invoice, action)
                    error = _("This invoice is being changed by another request; look again.")
                else:
                    return _back(request)
        else:
            error = _("Unknown action.")
        status = 400
        # What the refusal is about may be newer than the page loaded above.
        invoice.refresh_from_db()
    else:
        status = 200
    transactions = list(invoice.transactions.all())
    received = sum(
        (tx.amount for tx in transactions if tx.status == SandboxTransaction.PROCESSED),
        Decimal(0),
    )
    return render(
        request,
        "invoices_sandbox/pay.html",
        {
            "invoice": invoice,
            "status_text": STATUS_TEXT.get(invoice.status, invoice.status),
            "payment_form": payment_form,
            "failure_form": failure_form,
            "actions": list(ACTION_LABELS.items()),
            "global_failures": sorted(
                str(conf.FAILURE_MODES[mode]) for mode in conf.global_failures()
            ),
            "return_url": "" if invoice.is_open else wire.return_url(invoice),
            "button_title": invoice.redirect_button_title or _("Back to the shop"),
            "deliveries": [_delivery_row(delivery) for delivery in invoice.deliveries.all()],
            "has_held": invoice.deliveries.filter(state=CallbackDelivery.HELD).exists(),
            "transactions": [
                {
                    "amount": wire.amount_text(tx.amount, tx.asset),
                    "status": tx.status,
                    "tx_id": tx.tx_id,
                }
                for tx in transactions
            ],
            "amount_text": wire.amount_text(invoice.amount, invoice.asset),
            "payment_amount_text": wire.amount_text(invoice.payment_amount, invoice.payment_asset),
            "received_text": wire.amount_text(received, invoice.payment_asset) if received else "",
            "error": error,
        },
        status=status,
    )


def _delivery_row(sent: CallbackDelivery) -> dict[str, Any]:
    """A callback with the status it carried (its body is the sandbox's own JSON)."""
    try:
        data = json.loads(sent.body).get("data")
    except (ValueError, AttributeError):
        data = None
    status = str(data.get("status") or "") if isinstance(data, dict) else ""
    return {
        "delivery": sent,
        "status": status,
        # A narrow screen may break CONFIRMATION_AWAITING at its underscore, not mid-word.
        "status_parts": status.split("_") if status else [],
    }


def _back(request: HttpRequest) -> HttpResponse:
    # Post/redirect/get: reloading the page never pays twice.
    response = HttpResponseRedirect(request.path)
    response.status_code = 303
    return response
