"""Settings of the tests with real workers, and of the worker processes they start.

PostgreSQL from DATABASE_URL (the worker processes get the test database's name in
WORKER_DB_NAME), Redis from REDIS_URL for Celery's broker and the shared cache, the
provider played by a stub server at STUB_URL, the task system chosen by INVOICES_TASKS.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DJANGO_INVOICES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks", "django_tasks_db", "tests.workers"]

if os.environ.get("WORKER_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["WORKER_DB_NAME"]  # noqa: F405

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# The cache the shop runs with (INVOICES_CACHE): Redis, shared by every process, or
# one that shares nothing (the local-memory cache ``startproject`` gives, or none at
# all). Callbacks must be applied the same with each.
CACHE_BACKENDS = {
    "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
}
CACHES = {"default": CACHE_BACKENDS[os.environ.get("INVOICES_CACHE") or "redis"]}

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One message at a time: the message a killed child held goes back to the queue.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True

DJANGO_INVOICES = {
    **DJANGO_INVOICES,
    "API_URL": os.environ.get("STUB_URL", "http://127.0.0.1:9"),
    "TASKS": os.environ.get("INVOICES_TASKS") or None,
    "TASKS_RETRY_BACKOFF": 0.2,
    "TASKS_RETRY_BACKOFF_MAX": 1,
    "RETRIES": 0,
    # A worker killed in the middle of a read holds its invoice for this long and 5 s
    # (the lease, services.queue): short, so the tests of killed workers stay short.
    "READ_TIMEOUT": 5,
}
if os.environ.get("INVOICES_PUBLIC_KEY"):
    DJANGO_INVOICES["PUBLIC_KEY"] = os.environ["INVOICES_PUBLIC_KEY"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_invoices": {"handlers": ["console"], "level": "INFO"}},
}
