# Appended to the settings.py that "django-admin startproject" wrote, which defines
# BASE_DIR, INSTALLED_APPS, MIDDLEWARE, TEMPLATES and DATABASES.
# tests/contrib/oscar/test_howto.py appends exactly the marked blocks, in order.
# ruff: noqa: F405  (startproject's names, which ruff takes for the star import's)

# [oscar-settings]
import django
from oscar.defaults import *  # noqa: F403

INSTALLED_APPS += [
    "django.contrib.sites",
    "django.contrib.flatpages",
    "oscar.config.Shop",
    "oscar.apps.analytics.apps.AnalyticsConfig",
    "oscar.apps.checkout.apps.CheckoutConfig",
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
MIDDLEWARE += [
    "oscar.apps.basket.middleware.BasketMiddleware",
    "django.contrib.flatpages.middleware.FlatpageFallbackMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "oscar.apps.customer.auth_backends.EmailBackend",
    "django.contrib.auth.backends.ModelBackend",
]
TEMPLATES[0]["OPTIONS"]["context_processors"] += [
    "oscar.apps.search.context_processors.search_form",
    "oscar.apps.checkout.context_processors.checkout",
    "oscar.apps.communication.notifications.context_processors.notifications",
    "oscar.core.context_processors.metadata",
]
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
# Oscar emails a confirmation of each order: on the console while developing (Django
# 6.1 names the backend in MAILERS, older versions in EMAIL_BACKEND).
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# [end-oscar-settings]

# [settings]
import os  # noqa: E402

INSTALLED_APPS += ["rest_framework", "django_invoices"]
# Oscar's checkout app, with KUNA Pay as its payment step (same label, URLs, templates).
INSTALLED_APPS[INSTALLED_APPS.index("oscar.apps.checkout.apps.CheckoutConfig")] = (
    "django_invoices.contrib.oscar.checkout.apps.CheckoutConfig"
)
# Before Oscar: its version of the dashboard's order page adds the order's invoices.
INSTALLED_APPS.insert(INSTALLED_APPS.index("oscar.config.Shop"), "django_invoices.contrib.oscar")

# The address at which KUNA Pay and your customers reach this site.
SHOP_BASE_URL = os.environ.get("SHOP_BASE_URL", "http://127.0.0.1:8000")

DJANGO_INVOICES = {
    # Any non-empty strings will do for the sandbox; a live account's keys come from
    # the environment only.
    "API_KEY": os.environ.get("KUNAPAY_API_KEY", "sandbox-api-key"),
    "PRIVATE_KEY": os.environ.get("KUNAPAY_PRIVATE_KEY", "sandbox-private-key"),
    "BASE_URL": SHOP_BASE_URL,
    # The buyer back from KUNA Pay: Oscar's thank-you page once the payment is
    # confirmed, else the order's page that waits for it (or says it failed).
    "RETURN_URLS": {
        "paid": "checkout:thank-you",
        "pending": "django_invoices_oscar:waiting",
        "failed": "django_invoices_oscar:waiting",
    },
}

# Prices in a currency KUNA Pay makes invoices in; guests may buy too.
OSCAR_DEFAULT_CURRENCY = "EUR"
OSCAR_ALLOW_ANON_CHECKOUT = True

# Orders paid by KUNA Pay start in "Pending payment"; each way an invoice ends moves
# them on (docs: "Statuses and payment events"). Orders with nothing to pay start in
# Oscar's OSCAR_INITIAL_ORDER_STATUS.
OSCAR_INITIAL_ORDER_STATUS = "Pending"
OSCAR_INITIAL_LINE_STATUS = "Pending"
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
# [end-settings]

# [sandbox-settings]
# Development only: the sandbox plays KUNA Pay inside this server (while DEBUG is on).
INSTALLED_APPS += ["django_invoices.sandbox"]
DJANGO_INVOICES["API_URL"] = f"{SHOP_BASE_URL}/sandbox"
# The sandbox keeps its tables in a SQLite file of its own (see the tutorial).
DATABASES["sandbox"] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": BASE_DIR / "sandbox.sqlite3",
    "OPTIONS": {"transaction_mode": "IMMEDIATE"},
}
DATABASE_ROUTERS = ["django_invoices.sandbox.routers.SandboxRouter"]
DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}
# [end-sandbox-settings]
