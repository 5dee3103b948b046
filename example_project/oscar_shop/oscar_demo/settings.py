"""The Oscar example shop: django-oscar with KUNA Pay as its payment step, on SQLite and
the embedded sandbox. Configured from the environment like the other example shop
(``example_project/example_project/settings.py``): DEBUG is off unless DJANGO_DEBUG=1,
there is no default secret, and ``make demo-oscar`` passes the demo's published values
from ``example_project/demo.env``. docs/howto/oscar.rst explains each setting.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import django
from oscar.defaults import *  # noqa: F403

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"

SHOP_BASE_URL = os.environ.get("SHOP_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
if urlsplit(SHOP_BASE_URL).hostname not in (None, *ALLOWED_HOSTS):
    ALLOWED_HOSTS.append(str(urlsplit(SHOP_BASE_URL).hostname))
CSRF_TRUSTED_ORIGINS = [SHOP_BASE_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.flatpages",
    "oscar_demo",
    # Before Oscar: its dashboard order page adds the order's KUNA Pay invoices.
    "django_invoices.contrib.oscar",
    "oscar.config.Shop",
    "oscar.apps.analytics.apps.AnalyticsConfig",
    # Oscar's checkout, with KUNA Pay as its payment step.
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
    "rest_framework",
    "django_invoices",
    "django_invoices.sandbox",
]
SITE_ID = 1

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "oscar.apps.basket.middleware.BasketMiddleware",
    "django.contrib.flatpages.middleware.FlatpageFallbackMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "oscar.apps.customer.auth_backends.EmailBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "oscar_demo.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "oscar.apps.search.context_processors.search_form",
                "oscar.apps.checkout.context_processors.checkout",
                "oscar.apps.communication.notifications.context_processors.notifications",
                "oscar.core.context_processors.metadata",
            ]
        },
    }
]
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
# The simple backend indexes nothing: no signal processing for it.
HAYSTACK_SIGNAL_PROCESSOR = "haystack.signals.BaseSignalProcessor"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60
    ),
    # The embedded sandbox plays the provider, with a database of its own.
    "sandbox": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SANDBOX_DATABASE_PATH", str(BASE_DIR / "sandbox.sqlite3")),
    },
}
for database in DATABASES.values():
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # A write transaction takes SQLite's lock at its start: two requests that write
        # wait for each other instead of one failing with "database is locked".
        database.setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
DATABASE_ROUTERS = ["django_invoices.sandbox.routers.SandboxRouter"]
DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-gb"
STATIC_URL = "static/"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("OSCAR_DEMO_MEDIA", BASE_DIR / "media"))

DJANGO_INVOICES = {
    "API_URL": os.environ.get("KUNAPAY_API_URL", f"{SHOP_BASE_URL}/sandbox"),
    "API_KEY": os.environ.get("KUNAPAY_API_KEY", ""),
    "PUBLIC_KEY": os.environ.get("KUNAPAY_PUBLIC_KEY", ""),
    "PRIVATE_KEY": os.environ.get("KUNAPAY_PRIVATE_KEY", ""),
    "BASE_URL": SHOP_BASE_URL,
    "REDIRECT_BUTTON_TITLE": "Back to the Oscar shop",
    "RETURN_URLS": {
        "paid": "checkout:thank-you",
        "pending": "django_invoices_oscar:waiting",
        "failed": "django_invoices_oscar:waiting",
    },
}

OSCAR_SHOP_NAME = "Oscar + KUNA Pay"
OSCAR_SHOP_TAGLINE = "demo"
OSCAR_HOMEPAGE = "/"
OSCAR_DEFAULT_CURRENCY = "EUR"
OSCAR_ALLOW_ANON_CHECKOUT = True
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
# Oscar's order confirmations on the console (Django 6.1 names the backend in MAILERS).
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_invoices": {"handlers": ["console"], "level": "INFO"}},
}
