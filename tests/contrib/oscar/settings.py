"""The main test settings plus django-oscar (as its docs set a shop up) and this
app's Oscar integration: its checkout in place of Oscar's, listed before Oscar."""

import atexit
import shutil
import tempfile
from pathlib import Path

import django
import oscar
from oscar.defaults import *  # noqa: F403

from tests.settings import *  # noqa: F403
from tests.settings import DJANGO_INVOICES, INSTALLED_APPS, MIDDLEWARE, TEMPLATES

INSTALLED_APPS = [
    *INSTALLED_APPS,
    "django.contrib.sites",
    "django.contrib.flatpages",
    "django_invoices.contrib.oscar",
    "oscar.config.Shop",
    "oscar.apps.analytics.apps.AnalyticsConfig",
    "django_invoices.contrib.oscar.checkout.apps.CheckoutConfig",
    "oscar.apps.address.apps.AddressConfig",
    "oscar.apps.shipping.apps.ShippingConfig",
    "oscar.apps.catalogue.apps.CatalogueConfig",
    "oscar.apps.catalogue.reviews.apps.CatalogueReviewsConfig",
    "oscar.apps.communication.apps.CommunicationConfig",
    "oscar.apps.partner.apps.PartnerConfig",
    "oscar.apps.basket.apps.BasketConfig",
    "oscar.apps.payment.apps.PaymentConfig",
    "oscar.apps.offer.apps.OfferConfig",
    "oscar.apps.order.apps.OrderConfig",
    "oscar.apps.customer.apps.CustomerConfig",
    "oscar.apps.search.apps.SearchConfig",
    "oscar.apps.voucher.apps.VoucherConfig",
    "oscar.apps.wishlists.apps.WishlistsConfig",
    "oscar.apps.dashboard.apps.DashboardConfig",
    "oscar.apps.dashboard.reports.apps.ReportsDashboardConfig",
    "oscar.apps.dashboard.users.apps.UsersDashboardConfig",
    "oscar.apps.dashboard.orders.apps.OrdersDashboardConfig",
    "oscar.apps.dashboard.catalogue.apps.CatalogueDashboardConfig",
    "oscar.apps.dashboard.offers.apps.OffersDashboardConfig",
    "oscar.apps.dashboard.partners.apps.PartnersDashboardConfig",
    "oscar.apps.dashboard.pages.apps.PagesDashboardConfig",
    "oscar.apps.dashboard.ranges.apps.RangesDashboardConfig",
    "oscar.apps.dashboard.reviews.apps.ReviewsDashboardConfig",
    "oscar.apps.dashboard.vouchers.apps.VouchersDashboardConfig",
    "oscar.apps.dashboard.communications.apps.CommunicationsDashboardConfig",
    "oscar.apps.dashboard.shipping.apps.ShippingDashboardConfig",
    "widget_tweaks",
    "haystack",
    "treebeard",
    "sorl.thumbnail",
    "django_tables2",
]
SITE_ID = 1
ROOT_URLCONF = "tests.contrib.oscar.urls"

MIDDLEWARE = [
    *MIDDLEWARE,
    "oscar.apps.basket.middleware.BasketMiddleware",
    "django.contrib.flatpages.middleware.FlatpageFallbackMiddleware",
]
AUTHENTICATION_BACKENDS = (
    "oscar.apps.customer.auth_backends.EmailBackend",
    "django.contrib.auth.backends.ModelBackend",
)
TEMPLATES = [
    {
        **TEMPLATES[0],
        "OPTIONS": {
            "context_processors": [
                *TEMPLATES[0]["OPTIONS"]["context_processors"],
                "oscar.apps.search.context_processors.search_form",
                "oscar.apps.checkout.context_processors.checkout",
                "oscar.apps.communication.notifications.context_processors.notifications",
                "oscar.core.context_processors.metadata",
            ]
        },
    }
]
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}

OSCAR_DEFAULT_CURRENCY = "EUR"
OSCAR_ALLOW_ANON_CHECKOUT = True
OSCAR_INITIAL_ORDER_STATUS = "Pending"
OSCAR_INITIAL_LINE_STATUS = "Pending"
# The how-to's pipeline (docs/howto/oscar/settings.py), the statuses of conf.DEFAULTS.
OSCAR_ORDER_STATUS_PIPELINE = {
    "Pending": ("Being processed", "Cancelled"),
    "Pending payment": (
        "Paid",
        "Overpaid",
        "Paid late",
        "Partly paid",
        "Payment expired",
        "Payment cancelled",
        "Payment declined",
    ),
    "Partly paid": ("Paid", "Overpaid", "Paid late", "Being processed", "Cancelled"),
    "Payment expired": ("Paid", "Paid late", "Partly paid", "Payment declined"),
    "Payment cancelled": ("Paid", "Paid late", "Partly paid"),
    "Payment declined": ("Paid", "Paid late", "Partly paid"),
    "Paid": ("Overpaid", "Being processed", "Cancelled"),
    "Overpaid": ("Being processed", "Cancelled"),
    "Paid late": ("Being processed", "Cancelled"),
    "Being processed": ("Shipped", "Cancelled"),
    "Shipped": (),
    "Cancelled": (),
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"  # what Oscar's migrations use
# Oscar mails a confirmation of each order. Django 6.1 names its mailers in MAILERS
# (without one, sending warns); the test runner makes each one locmem's.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
# Haystack's simple backend indexes nothing, and warns on every save it is told of.
HAYSTACK_SIGNAL_PROCESSOR = "haystack.signals.BaseSignalProcessor"

# Oscar's pages show a placeholder for products without images, which sorl-thumbnail
# resizes from MEDIA_ROOT: a throw-away folder holding Oscar's placeholder.
MEDIA_ROOT = tempfile.mkdtemp(prefix="django-invoices-oscar-media-")
atexit.register(shutil.rmtree, MEDIA_ROOT, ignore_errors=True)
shutil.copy(Path(oscar.__file__).parent / "static/oscar/img/image_not_found.jpg", MEDIA_ROOT)

# The buyer back from KUNA Pay: Oscar's thank-you page once paid, else the order's
# payment page (the how-to's RETURN_URLS).
DJANGO_INVOICES = {
    **DJANGO_INVOICES,
    "RETURN_URLS": {
        "paid": "checkout:thank-you",
        "pending": "django_invoices_oscar:waiting",
        "failed": "django_invoices_oscar:waiting",
    },
}
