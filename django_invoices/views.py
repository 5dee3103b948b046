"""Views the provider and the customer reach. Placeholders until their issues land."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import returns, services


@csrf_exempt
@require_POST
def callback(request: HttpRequest, account: str) -> HttpResponse:
    return HttpResponse("callbacks are not handled yet", status=501, content_type="text/plain")


@never_cache
@require_GET
def payment_return(request: HttpRequest) -> HttpResponse:
    """Where KUNA Pay sends the customer back (``customization.redirectUrl``).

    The query string (``invoiceId``, ``orderId``) only names the invoice; its status
    comes from our records, re-read from the API when unsettled (at most once per
    ``REFRESH_MIN_INTERVAL``). Then the customer is forwarded to the shop's page for
    the outcome (``RETURN_URLS``) or shown ``django_invoices/return.html``.
    """
    invoice = services.find_customer_invoice(
        request.GET.get("invoiceId"), request.GET.get("orderId")
    )
    if invoice is None:
        return render(request, "django_invoices/not_found.html", status=404)
    refresh = services.refresh_if_stale(invoice)
    outcome = services.payment_outcome(refresh.invoice)
    target = returns.forward_url(request, refresh.invoice, outcome)
    if target is not None:
        return redirect(target)
    context = returns.page_context(
        refresh.invoice, outcome, provider_error=refresh.error is not None
    )
    return render(request, "django_invoices/return.html", context)
