# Appended to the settings.py that "django-admin startproject" wrote, which defines
# BASE_DIR, INSTALLED_APPS and DATABASES. tests/contrib/payments/test_howto.py appends
# exactly the marked blocks, in order.

# [settings]
import os
from urllib.parse import urlsplit

INSTALLED_APPS += [
    "rest_framework",
    "payments",
    "django_invoices",
    # Moves each Payment as its invoice ends; needed by KunaPayProvider.
    "django_invoices.contrib.payments",
    "shop",
]

# The address at which KUNA Pay and your customers reach this site.
SHOP_BASE_URL = os.environ.get("SHOP_BASE_URL", "http://127.0.0.1:8000")

DJANGO_INVOICES = {
    # Any non-empty strings will do for the sandbox; live keys come from the
    # environment only.
    "API_KEY": os.environ.get("KUNAPAY_API_KEY", "sandbox-api-key"),
    "PRIVATE_KEY": os.environ.get("KUNAPAY_PRIVATE_KEY", "sandbox-private-key"),
    "BASE_URL": SHOP_BASE_URL,
}

# django-payments: the shop's Payment model, the site's address (the buyer comes back
# to it), and KUNA Pay as a variant.
PAYMENT_MODEL = "shop.Payment"
PAYMENT_HOST = urlsplit(SHOP_BASE_URL).netloc
PAYMENT_USES_SSL = SHOP_BASE_URL.startswith("https://")
PAYMENT_VARIANTS = {
    "kunapay": ("django_invoices.contrib.payments.KunaPayProvider", {}),
}
# [end-settings]

# [sandbox-settings]
# Development only: the sandbox plays KUNA Pay inside this server. Never in production.
# It answers only while DEBUG is on; with DEBUG off every sandbox URL is a 404.
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
