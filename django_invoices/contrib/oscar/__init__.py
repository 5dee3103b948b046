"""KUNA Pay as a payment method of django-oscar's checkout (``pip install django-invoices[oscar]``).

.. code-block:: python

    INSTALLED_APPS = [
        ...,
        "django_invoices.contrib.oscar",  # before "oscar.config.Shop"
        "oscar.config.Shop",
        ...,
        # instead of "oscar.apps.checkout.apps.CheckoutConfig":
        "django_invoices.contrib.oscar.checkout.apps.CheckoutConfig",
        ...,
        "rest_framework",
        "django_invoices",
    ]

The buyer places the order, which Oscar saves in ``PENDING_STATUS`` ("Pending
payment"), and is sent to the KUNA Pay invoice made for it through
``django_invoices.services`` (``mixins.KunaPayPaymentMixin``). What happens to the
invoice reaches the order through this app's signals only (``outcomes.py`` has the
table): a payment ``Source`` and ``PaymentEvent`` per outcome, recorded once, and the
order's status. See ``docs/howto/oscar.rst``.

Nothing is imported here: Django imports this package while it loads the apps.
"""
