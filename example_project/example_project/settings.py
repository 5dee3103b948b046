"""The example shop. Configured from the environment; see docs/reference/settings.rst
("The demo shop").

With no KUNAPAY_* variable set it talks to the sandbox address below with demo keys.
Set a variable to an empty string to see the system checks complain, e.g.
``KUNAPAY_API_KEY= KUNAPAY_PRIVATE_KEY= python manage.py check``.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

SHOP_BASE_URL = os.environ.get("SHOP_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = [SHOP_BASE_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_invoices",
    "django_invoices.sandbox",
    "shop",
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
DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}

USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
STATIC_URL = "static/"

DJANGO_INVOICES = {
    "API_URL": os.environ.get("KUNAPAY_API_URL", f"{SHOP_BASE_URL}/sandbox"),
    "API_KEY": os.environ.get("KUNAPAY_API_KEY", "sandbox-api-key"),
    "PUBLIC_KEY": os.environ.get("KUNAPAY_PUBLIC_KEY", ""),
    "PRIVATE_KEY": os.environ.get("KUNAPAY_PRIVATE_KEY", "sandbox-private-key"),
    "BASE_URL": SHOP_BASE_URL,
    "REDIRECT_BUTTON_TITLE": "Back to the example shop",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_invoices": {"handlers": ["console"], "level": "INFO"}},
}
