"""The one call a shop's checkout view makes: ``start_payment(request, order)``.

.. code-block:: python

    from django.contrib.auth.decorators import login_required
    from django_invoices.checkout import start_payment

    @login_required
    def pay(request, pk):
        order = get_object_or_404(Order, pk=pk, user=request.user)
        return start_payment(request, order, error_url="shop:cart")
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _

from . import returns, services, telemetry
from .exceptions import InvoiceCreationError, KunaPayError
from .models import Order
from .statuses import OrderStatus

logger = logging.getLogger("django_invoices")


def start_payment(
    request: HttpRequest, order: Order, *, error_url: Any = None, **options: Any
) -> HttpResponse:
    """Send the customer to the payment page of the order's invoice (made if needed).

    ``options`` go to ``services.create_invoice`` (``account``,
    ``questionnaire_fields``, ...). When KUNA Pay fails or the order cannot be paid,
    the problem is logged and the customer gets a clear message, never a 500:

    - with ``error_url`` (a URL name, path, callable or dotted path, as in
      ``RETURN_URLS``; same site or ``ALLOWED_REDIRECT_HOSTS`` only): the message is
      added with Django's messages framework and the customer is redirected there;
    - without it, or when it gives no safe URL (a callable returning None, an unsafe
      or unresolvable value): ``django_invoices/checkout_error.html`` is rendered,
      status 503 when KUNA Pay failed and 409 when the order cannot be paid.
    """
    status = 503
    try:
        invoice = services.create_invoice(order, **options)
    except InvoiceCreationError as exc:
        logger.info(
            "Checkout of order %s refused: %s", order, exc, extra=telemetry.ids(order=order)
        )
        if exc.order_status == OrderStatus.PARTIALLY_PAID:
            message = _(
                "Part of this order has been paid already. Please contact us about the "
                "rest, quoting the order reference %(reference)s."
            ) % {"reference": order.external_order_id}
        else:
            message = _("This order cannot be paid again: it has been paid already.")
        status = 409
    except KunaPayError as exc:
        logger.warning(
            "Checkout of order %s failed at KUNA Pay: %s",
            order,
            exc,
            extra=telemetry.ids(order=order),
        )
        message = _(
            "We could not reach the payment provider. Your order is saved and nothing "
            "was charged; please try again in a minute."
        )
    else:
        if invoice.payment_url:
            return HttpResponseRedirect(invoice.payment_url)
        logger.error(
            "Invoice %s of order %s has no payment page URL",
            invoice,
            order,
            extra=telemetry.ids(invoice=invoice, order=order),
        )
        message = _(
            "The payment page is not available right now. Your order is saved and "
            "nothing was charged; please try again in a minute."
        )
    target = returns.safe_target(request, error_url, order)
    if target is not None:
        messages.error(request, message, fail_silently=True)
        # Already a URL: django's redirect() would try it as a URL name first.
        return HttpResponseRedirect(target)
    return render(
        request,
        "django_invoices/checkout_error.html",
        {"order": order, "message": message},
        status=status,
    )
