"""Oscar's checkout app with KUNA Pay as its payment step.

Put ``"django_invoices.contrib.oscar.checkout.apps.CheckoutConfig"`` in
``INSTALLED_APPS`` instead of ``"oscar.apps.checkout.apps.CheckoutConfig"``: the same
app (label ``checkout``, Oscar's URLs and templates), whose ``PaymentDetailsView``
takes ``mixins.KunaPayPaymentMixin``. Every other view is Oscar's own.
"""
