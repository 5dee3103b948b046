"""The views Oscar's class loader finds in this checkout app before its own."""

from oscar.apps.checkout import views

from ..mixins import KunaPayPaymentMixin


class PaymentDetailsView(KunaPayPaymentMixin, views.PaymentDetailsView):
    """Oscar's payment details and preview steps; placing the order sends the buyer to
    the order's KUNA Pay invoice."""
