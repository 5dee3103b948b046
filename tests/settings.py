"""Settings for the test suite: SQLite by default, PostgreSQL when DATABASE_URL says so."""

import os

import dj_database_url

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["testserver", "shop.example", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "django_invoices",
    "django_invoices.sandbox",
    "tests.merchants",  # a shop's own table of accounts (ACCOUNT_RESOLVER's tests)
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"
STATIC_URL = "static/"  # the live_server fixture serves static files

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

DJANGO_INVOICES = {
    "API_URL": "https://api.kunapay.test",
    "API_KEY": "test-api-key",
    "PUBLIC_KEY": "",
    "PRIVATE_KEY": "test-private-key",
    "BASE_URL": "https://shop.example",
    "RETRY_BACKOFF": 0,
    "QUESTIONNAIRE_FIELDS": [],
}

# Tests run with DEBUG off, as in production: the sandbox answers only because it is
# switched on here on purpose; the test account's API_URL is where the tests reach it
# (through responses), and the payment page tests send callbacks to hooks.example.
DJANGO_INVOICES_SANDBOX = {
    "ENABLED": True,
    "ALLOW_WITHOUT_DEBUG": True,
    "API_URLS": ["https://api.kunapay.test"],
    "CALLBACK_HOSTS": ["hooks.example"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django_invoices": {"handlers": ["null"], "propagate": True}},
}
