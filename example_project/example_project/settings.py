"""The example shop. Configured from the environment; see docs/explanation/security.rst
and docs/reference/settings.rst ("The demo shop").

Safe to copy: DEBUG is off unless DJANGO_DEBUG=1, and there is no default secret. The
demo's published values (DEBUG on, a secret key, demo API keys) are in ``demo.env``, and
only ``make demo`` passes them; with DEBUG off, system check ``django_invoices.E020``
refuses those keys. Without DJANGO_SECRET_KEY every page fails (Django refuses an
empty SECRET_KEY).

With no KUNAPAY_API_URL the shop talks to the embedded sandbox below, which answers only
while DEBUG is on. Leave the keys out to see the system checks complain, e.g.
``DJANGO_DEBUG=1 python manage.py check``.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

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
    "rest_framework",
    # Before django_invoices: its templates/django_invoices/return.html extends the app's.
    "shop",
    "django_invoices",
    "django_invoices.sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

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
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60
    ),
    # The embedded sandbox plays the provider, with a database of its own (see
    # docs/howto/sandbox.rst): the shop's open transaction never blocks the provider's
    # writes.
    "sandbox": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SANDBOX_DATABASE_PATH", str(BASE_DIR / "sandbox.sqlite3")),
        # A write transaction takes SQLite's lock at its start, so two clicks on the
        # payment page wait for each other instead of one failing with "locked".
        "OPTIONS": {"transaction_mode": "IMMEDIATE"},
    },
}
for database in DATABASES.values():
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
DATABASE_ROUTERS = ["django_invoices.sandbox.routers.SandboxRouter"]
# The sandbox answers while DEBUG is on (ENABLED: None) and takes the keys of the account
# whose API_URL is SHOP_BASE_URL/sandbox; with DEBUG off every sandbox URL is a 404.
DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}

USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
STATIC_URL = "static/"

DJANGO_INVOICES = {
    "API_URL": os.environ.get("KUNAPAY_API_URL", f"{SHOP_BASE_URL}/sandbox"),
    "API_KEY": os.environ.get("KUNAPAY_API_KEY", ""),
    "PUBLIC_KEY": os.environ.get("KUNAPAY_PUBLIC_KEY", ""),
    "PRIVATE_KEY": os.environ.get("KUNAPAY_PRIVATE_KEY", ""),
    "BASE_URL": SHOP_BASE_URL,
    "REDIRECT_BUTTON_TITLE": "Back to the example shop",
}

# `make demo-worker`: callbacks are acknowledged at once and applied by a worker
# (django-tasks' database backend in this SQLite database, `manage.py db_worker`).
if os.environ.get("DEMO_WORKER") == "1":
    import django

    if django.VERSION < (6, 0):
        INSTALLED_APPS.append("django_tasks")  # the backport of django.tasks
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    DJANGO_INVOICES["TASKS"] = "django.tasks"
    DJANGO_INVOICES["TASKS_RETRY_BACKOFF"] = 1
    DJANGO_INVOICES["TASKS_MONITOR_URL"] = "/admin/django_tasks_db/dbtaskresult/"
    # The return page looks again soon: the worker applies the payment a moment later.
    DJANGO_INVOICES["PENDING_PAGE_REFRESH"] = 2

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_invoices": {"handlers": ["console"], "level": "INFO"},
        # The shop's own lines ("Shipped Purchase 3 ...") on the runserver console.
        "shop": {"handlers": ["console"], "level": "INFO"},
    },
}
