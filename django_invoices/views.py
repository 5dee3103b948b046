"""Views the provider and the customer reach."""

import logging

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from . import conf, returns, services
from .services import limits, receipt

logger = logging.getLogger("django_invoices")


# HTTP answers to refused callbacks. KUNA Pay retries anything but 200, which is what we
# want for a body that may have been damaged on the way, and harmless for forgeries.
REJECTION_STATUS = {
    receipt.REJECT_TOO_LARGE: 413,
    receipt.REJECT_UNKNOWN_ACCOUNT: 404,
    receipt.REJECT_NO_SIGNATURE: 401,
    receipt.REJECT_BAD_SIGNATURE: 401,
    receipt.REJECT_MALFORMED: 400,
    receipt.REJECT_MISCONFIGURED: 503,
    receipt.REJECT_RATE_LIMITED: 429,
}


def receive_callback(request: HttpRequest, account: str) -> HttpResponse:
    """Receive a KUNA Pay callback (``services.handle_callback``): store it verified and
    located, then read the invoice it is about from the API and apply that read, in the
    request or (with a task system) in a worker; answer 200 quickly. The body itself is
    never applied.

    Not atomic even under ``ATOMIC_REQUESTS``: the stored event must survive whatever
    happens while it is applied.
    """
    limit = int(conf.get("CALLBACK_MAX_BODY_SIZE"))
    declared = _content_length(request)
    body = b"" if declared > limit else request.read(limit + 1)
    oversized = max(declared, len(body)) if max(declared, len(body)) > limit else None
    stored = services.handle_callback(
        account,
        b"" if oversized else body,
        request.headers,
        request.META.get("REMOTE_ADDR"),
        body_size=oversized,
    )
    event, rejection = stored.event, stored.rejection
    if rejection == receipt.REJECT_RATE_LIMITED:
        response = JsonResponse(
            {"error": rejection, "detail": "too many refused or repeated callbacks"}, status=429
        )
        response["Retry-After"] = str(limits.retry_after())
        return response
    if rejection:
        return JsonResponse(
            {"error": rejection, "detail": event.outcome}, status=REJECTION_STATUS[rejection]
        )
    return JsonResponse(stored.answer)


def _content_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def show_return(request: HttpRequest) -> HttpResponse:
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
        # Already a URL: django's redirect() would try it as a URL name first.
        return HttpResponseRedirect(target)
    context = returns.page_context(
        refresh.invoice, outcome, provider_error=refresh.error is not None
    )
    return render(request, "django_invoices/return.html", context)


# The views as URLs reach them. Decorated here, not above their definitions, so the
# mutation run reaches their bodies (mutmut leaves decorated functions alone); the
# decorators themselves are hand-written mutants (.ci/hand_mutants.py).
callback = csrf_exempt(require_POST(transaction.non_atomic_requests(receive_callback)))
# HEAD too: link checkers and some browsers ask before they follow.
payment_return = never_cache(require_safe(show_return))
