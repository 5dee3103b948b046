# Appended to the settings.py that "django-admin startproject" wrote, which defines
# BASE_DIR, INSTALLED_APPS and DATABASES. tests/test_tutorial.py appends exactly the
# marked blocks, in order.

# [settings]
import os

INSTALLED_APPS += [
    "rest_framework",
    "django_invoices",
]

# The address at which KUNA Pay and your customers reach this site: callbacks are
# posted to it and customers come back to it. On another port, or behind a tunnel,
# set SHOP_BASE_URL to that address.
SHOP_BASE_URL = os.environ.get("SHOP_BASE_URL", "http://127.0.0.1:8000")

DJANGO_INVOICES = {
    # Any non-empty strings will do for the sandbox; a live account's keys come from
    # the environment only (see "Moving to a live account").
    "API_KEY": os.environ.get("KUNAPAY_API_KEY", "sandbox-api-key"),
    "PRIVATE_KEY": os.environ.get("KUNAPAY_PRIVATE_KEY", "sandbox-private-key"),
    "BASE_URL": SHOP_BASE_URL,
}
# [end-settings]

# [sandbox-settings]
# Development only: the sandbox plays KUNA Pay inside this server. Never in production.
# It answers only while DEBUG is on; with DEBUG off every sandbox URL is a 404.
INSTALLED_APPS += ["django_invoices.sandbox"]
DJANGO_INVOICES["API_URL"] = f"{SHOP_BASE_URL}/sandbox"
# The sandbox keeps its tables in a SQLite file of its own: while the shop waits for
# the sandbox's answer, its open transaction locks the shop's file. IMMEDIATE takes
# the file's lock when a write starts, so two clicks on the payment page wait for
# each other instead of one failing with "database is locked".
DATABASES["sandbox"] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": BASE_DIR / "sandbox.sqlite3",
    "OPTIONS": {"transaction_mode": "IMMEDIATE"},
}
DATABASE_ROUTERS = ["django_invoices.sandbox.routers.SandboxRouter"]
DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}
# [end-sandbox-settings]
