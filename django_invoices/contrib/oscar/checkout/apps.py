from oscar.apps.checkout import apps


class CheckoutConfig(apps.CheckoutConfig):
    # Oscar's class loader looks for "checkout.views" classes in this package first.
    name = "django_invoices.contrib.oscar.checkout"
