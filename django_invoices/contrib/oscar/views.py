"""The buyer's page of their order's payment, while KUNA Pay has not settled it.

``RETURN_URLS`` sends a buyer who comes back from KUNA Pay here (or to Oscar's
thank-you page once the invoice is paid). The page answers only the browser that placed
the order (Oscar keeps its id in the session, for its own thank-you page) and shows
what this app has stored, re-read from KUNA Pay when it is stale
(``services.refresh_if_stale``); nothing in the request says what happened.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from django_invoices import conf as invoices_conf
from django_invoices import services

from . import conf, outcomes, payment


def buyers_order(request: HttpRequest) -> Any:
    """The Oscar order this browser placed last, else 404."""
    pk = request.session.get("checkout_order_id")
    found = outcomes.oscar_order_model()._default_manager.filter(pk=pk).first() if pk else None
    if found is None:
        raise Http404
    return found


def show_payment(request: HttpRequest) -> HttpResponse:
    oscar_order = buyers_order(request)
    invoice = payment.current_invoice(oscar_order)
    provider_error = False
    if invoice is not None:
        refresh = services.refresh_if_stale(invoice)
        invoice, provider_error = refresh.invoice, refresh.error is not None
    outcome = services.payment_outcome(invoice) if invoice is not None else None
    if outcome == services.OUTCOME_PAID:
        return HttpResponseRedirect(reverse("checkout:thank-you"))
    pending = outcome == services.OUTCOME_PENDING
    context = {
        "order": oscar_order,
        "invoice": invoice,
        "is_pending": pending,
        "is_partly_paid": invoice is not None and invoice.status == "partially_paid",
        "is_failed": outcome == services.OUTCOME_FAILED,
        "payment_url": invoice.payment_url if pending and invoice is not None else "",
        # No invoice yet (KUNA Pay failed at checkout): the buyer may try again.
        "can_pay": invoice is None and oscar_order.status == conf.get("PENDING_STATUS"),
        "provider_error": provider_error,
        "refresh_seconds": max(1, int(invoices_conf.get("PENDING_PAGE_REFRESH")))
        if pending
        else None,
    }
    return render(request, "django_invoices_oscar/payment.html", context)


def pay(request: HttpRequest) -> HttpResponse:
    """Try again to make the order's invoice (only an order still waiting for one)."""
    from oscar.apps.payment.exceptions import PaymentError, RedirectRequired

    oscar_order = buyers_order(request)
    invoice = payment.current_invoice(oscar_order)
    waiting = HttpResponseRedirect(reverse("django_invoices_oscar:waiting"))
    if oscar_order.status != conf.get("PENDING_STATUS") or (
        invoice is not None and not invoice.is_open
    ):
        return waiting
    try:
        payment.start_payment(oscar_order)
    except RedirectRequired as exc:
        return HttpResponseRedirect(exc.url)
    except PaymentError as exc:
        messages.error(request, str(exc))
    return waiting


# Decorated here, as the app's own views are (its mutation runs reach the bodies).
waiting_page = never_cache(require_safe(show_payment))
pay_again = never_cache(require_POST(pay))
