"""KUNA Pay in Oscar's checkout: a mixin for its ``PaymentDetailsView``.

The ready-made checkout app (``django_invoices.contrib.oscar.checkout``) uses it as it
is. A shop that forked Oscar's checkout app already mixes it into its own view:

.. code-block:: python

    # yourshop/checkout/views.py
    from oscar.apps.checkout import views

    from django_invoices.contrib.oscar.mixins import KunaPayPaymentMixin


    class PaymentDetailsView(KunaPayPaymentMixin, views.PaymentDetailsView):
        pass

Nothing is taken before the order exists. The order is placed first, in
``PENDING_STATUS``; then its invoice is made (``payment.start_payment``) and the buyer is
sent to the invoice's payment page instead of the thank-you page. The outcome may come
long after the buyer left, by callback or by the sweep: it always finds an order to
move. Orders with nothing to pay (a zero total) go through Oscar's checkout unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseRedirectBase
from django.urls import NoReverseMatch, reverse

from . import conf, payment

logger = logging.getLogger("django_invoices.oscar")


class KunaPayPaymentMixin:
    """For a subclass of Oscar's ``PaymentDetailsView``; put it first."""

    #: Whether the order being placed has something to pay (set by ``handle_payment``).
    kunapay_due = False

    def handle_payment(self, order_number: str, total: Any, **kwargs: Any) -> None:
        super().handle_payment(order_number, total, **kwargs)  # type: ignore[misc]
        # Nothing to take yet: the invoice is made for the placed order (see above).
        self.kunapay_due = total.incl_tax > 0

    def get_initial_order_status(self, basket: Any) -> Any:
        if self.kunapay_due:
            return conf.get("PENDING_STATUS")
        return super().get_initial_order_status(basket)  # type: ignore[misc]

    def handle_successful_order(self, order: Any) -> HttpResponse:
        # Oscar's steps first: the confirmation email, the checkout session flushed,
        # the order remembered for the thank-you page, post_checkout sent.
        response: HttpResponse = super().handle_successful_order(order)  # type: ignore[misc]
        if not self.kunapay_due:
            return response
        return self.redirect_to_payment(order, response)

    def redirect_to_payment(self, order: Any, response: HttpResponse) -> HttpResponse:
        """Send the buyer to the order's invoice; if it cannot be made, to the waiting
        page, which says why and offers to try again. Never raises a payment error:
        the order is placed, and Oscar would put its basket back for a second one."""
        from oscar.apps.payment.exceptions import PaymentError, RedirectRequired

        try:
            payment.start_payment(order)
        except RedirectRequired as exc:
            logger.info("Oscar order %s: the buyer goes to KUNA Pay", order.number)
            url = exc.url
        except PaymentError as exc:
            messages.error(self.request, str(exc))  # type: ignore[attr-defined]
            url = waiting_url()
        if isinstance(response, HttpResponseRedirectBase):
            # The same response post_checkout's receivers saw (and set cookies on).
            response["Location"] = url
            return response
        return HttpResponseRedirect(url)


def waiting_url() -> str:
    """The buyer's page of their order's payment; Oscar's thank-you page when the shop
    did not include ``django_invoices.contrib.oscar.urls`` (system check W003)."""
    try:
        return reverse("django_invoices_oscar:waiting")
    except NoReverseMatch:
        return reverse("checkout:thank-you")
