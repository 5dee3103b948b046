"""The main test settings plus django-payments, this contrib and a shop's Payment model."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [
    *INSTALLED_APPS,
    "payments",
    "django_invoices.contrib.payments",
    "tests.contrib.payments.shop",
]
ROOT_URLCONF = "tests.contrib.payments.urls"

PAYMENT_MODEL = "payments_shop.Payment"
# The shop's address as tests.settings gives it to django-invoices (BASE_URL).
PAYMENT_HOST = "shop.example"
PAYMENT_USES_SSL = True
PAYMENT_VARIANTS = {
    "kunapay": ("django_invoices.contrib.payments.KunaPayProvider", {}),
    "kunapay-shared": (
        "django_invoices.contrib.payments.KunaPayProvider",
        {"order_prefix": "site2-", "redirect_button_title": "Back to site 2"},
    ),
}
