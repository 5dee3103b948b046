"""``KunaPayProvider``: django-payments' side of a KUNA Pay invoice.

``get_form`` links the ``Payment`` to an ``Order`` of this app, creates (or reuses) the
order's invoice and redirects the buyer to its payment page. KUNA Pay's callbacks go to
this app's callback view, never to django-payments' ``process`` URLs: verified, stored,
read back from the API and applied once, like every other callback. ``process_data``
is only where the buyer comes back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NoReturn

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from payments import PaymentError, PaymentStatus, RedirectNeeded
from payments.core import BasicProvider

from django_invoices import conf, services
from django_invoices.exceptions import InvoiceCreationError, KunaPayError

from .status import shown, sync_payment

# What the variant's options may pass on to ``services.create_invoice``.
INVOICE_OPTIONS = ("redirect_button_title", "transactional_callbacks", "questionnaire_fields")
WAITING = (PaymentStatus.WAITING, PaymentStatus.INPUT)


class KunaPayProvider(BasicProvider):
    """Takes a django-payments ``Payment`` through a KUNA Pay invoice.

    Options (the variant's dict in ``PAYMENT_VARIANTS``):

    - ``account``: the ``DJANGO_INVOICES`` merchant account (``"default"``);
    - ``order_prefix``: ``externalOrderId`` is this followed by the Payment's primary
      key (``"payment-"``); give each site that shares a KUNA Pay account its own;
    - ``redirect_button_title``, ``transactional_callbacks``, ``questionnaire_fields``:
      passed to ``services.create_invoice`` (default: the settings).

    Payments are taken in one step (KUNA Pay has no authorisation to capture later), so
    ``capture=False`` is refused; refunds and cancellations have no API either.
    """

    def __init__(
        self,
        account: str = conf.DEFAULT_ACCOUNT,
        order_prefix: str = "payment-",
        capture: bool = True,
        **invoice_options: Any,
    ) -> None:
        if not capture:
            raise ImproperlyConfigured(
                "KunaPayProvider: KUNA Pay invoices are paid in one step; capture=False "
                "is not supported."
            )
        unknown = sorted(set(invoice_options) - set(INVOICE_OPTIONS))
        if unknown:
            raise ImproperlyConfigured(
                f"KunaPayProvider: unknown options {unknown}; known: account, order_prefix, "
                + ", ".join(INVOICE_OPTIONS)
            )
        if not apps.is_installed("django_invoices.contrib.payments"):
            # Without its app nothing would ever move a Payment: say so at once.
            raise ImproperlyConfigured(
                'KunaPayProvider: add "django_invoices.contrib.payments" to INSTALLED_APPS.'
            )
        super().__init__(capture=True)
        self.account = account
        self.order_prefix = order_prefix
        self.invoice_options = invoice_options

    def external_order_id(self, payment: Any) -> str:
        """``externalOrderId`` of the order that stands for ``payment``."""
        return f"{self.order_prefix}{payment.pk}"

    # -- the buyer leaves for KUNA Pay ------------------------------------------------

    def get_form(self, payment: Any, data: Any = None) -> NoReturn:
        """Always raises ``RedirectNeeded``: to the invoice's payment page while the
        Payment waits, else to its success or failure URL. ``PaymentError`` when KUNA
        Pay cannot be reached (the Payment stays ``waiting``: try again later)."""
        if payment.status not in WAITING:
            raise RedirectNeeded(self._outcome_url(payment))
        try:
            order = services.order_for(
                payment,
                external_order_id=self.external_order_id(payment),
                amount=Decimal(str(payment.total)),
                asset=payment.currency,
                description=payment.description or "",
                email=payment.billing_email or "",
            )
            invoice = services.create_invoice(
                order,
                account=self.account,
                return_url=self.get_return_url(payment),
                **self.invoice_options,
            )
        except InvoiceCreationError as exc:
            stored = sync_payment(payment)
            if stored.status in WAITING:
                # Nothing to follow: the reference is another object's, or the Payment's
                # amount changed since it was first sent to pay.
                raise PaymentError(str(exc), code="order") from exc
            # Paid (or partly paid) already: the Payment followed its order.
            raise RedirectNeeded(self._outcome_url(stored)) from exc
        except ValueError as exc:
            # Nothing to pay (a total of 0), or a prefix too long for externalOrderId.
            raise PaymentError(str(exc), code="order") from exc
        except KunaPayError as exc:
            raise PaymentError(
                gettext(
                    "We could not reach the payment provider. Your order is saved and nothing "
                    "was charged; please try again in a minute."
                ),
                code="unavailable",
                gateway_message=str(exc),
            ) from exc
        if not invoice.payment_url:
            raise PaymentError(
                gettext(
                    "The payment page is not available right now. Your order is saved and "
                    "nothing was charged; please try again in a minute."
                ),
                code="no-payment-page",
            )
        if payment.transaction_id != str(invoice.provider_id):
            payment.transaction_id = str(invoice.provider_id)
            payment.save(update_fields=["transaction_id"])
        raise RedirectNeeded(invoice.payment_url)

    # -- the buyer comes back ---------------------------------------------------------

    def process_data(self, payment: Any, request: HttpRequest) -> HttpResponse:
        """The buyer's return from the payment page (``customization.redirectUrl``).

        Nothing in the request is used: the order's invoice is re-read from KUNA Pay
        unless that was done recently (``services.refresh_if_stale``), the Payment is
        brought in step (``sync_payment``), and the buyer goes to the success or failure
        URL, or gets a page that checks again by itself while the payment is open. Only
        GET and HEAD: KUNA Pay's callbacks go to this app's callback view.
        """
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        order = services.linked_order(payment)
        if order is None:
            raise Http404("This payment has no KUNA Pay invoice.")
        invoice = services.current_invoices([order]).get(order.pk)
        if invoice is not None:
            invoice = services.refresh_if_stale(invoice).invoice
        stored = sync_payment(payment)
        for name in ("status", "captured_amount", "message"):
            setattr(payment, name, getattr(stored, name))
        if payment.status not in WAITING or invoice is None:
            return redirect(self._outcome_url(payment))
        return render(
            request,
            "django_invoices_payments/waiting.html",
            {
                "payment": payment,
                "order": order,
                "invoice": invoice,
                "amount": shown(invoice.invoice_amount, invoice.invoice_asset),
                "status_label": invoice.get_status_display(),
                "payment_url": invoice.payment_url if invoice.is_open else "",
                "refresh_seconds": max(1, int(conf.get("PENDING_PAGE_REFRESH"))),
            },
        )

    @staticmethod
    def _outcome_url(payment: Any) -> str:
        if payment.status == PaymentStatus.CONFIRMED:
            return str(payment.get_success_url())
        return str(payment.get_failure_url())

    # -- what KUNA Pay's API does not offer -------------------------------------------

    def get_token_from_request(self, payment: Any, request: HttpRequest) -> NoReturn:
        raise PaymentError(
            "KUNA Pay's callbacks go to django-invoices' callback view "
            "(django_invoices:callback), not to django-payments' process URLs.",
            code=400,
        )

    def capture(self, payment: Any, amount: Any = None) -> NoReturn:
        raise PaymentError("KUNA Pay invoices are captured when paid; there is nothing to capture.")

    def release(self, payment: Any) -> NoReturn:
        raise PaymentError("KUNA Pay invoices are captured when paid; there is nothing to release.")

    def refund(self, payment: Any, amount: Any = None) -> NoReturn:
        raise PaymentError(
            "KUNA Pay has no refund API: refund from the KUNA Pay cabinet, then mark the "
            "Payment refunded yourself."
        )

    def cancel(self, payment: Any) -> NoReturn:
        raise PaymentError(
            "KUNA Pay has no API to deactivate an invoice: its buyer could still pay it. "
            "Deactivate it in the KUNA Pay cabinet; the next read of it moves the Payment."
        )
