# The background-work guide's settings, included into docs/howto/background.rst and
# appended by tests/test_guide_background.py to the settings of a project made by
# "django-admin startproject shop" with the app installed as the tutorial installs it
# (which defines INSTALLED_APPS, DATABASES and DJANGO_INVOICES).

# [celery-settings]
import os

DJANGO_INVOICES["TASKS"] = "celery"

# Celery reads the settings that start with CELERY_ (shop/celery.py).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
# django-invoices' tasks on a queue of their own: a worker must listen to it.
CELERY_TASK_ROUTES = {"django_invoices.*": {"queue": "payments"}}
# A worker holds no more messages than it runs...
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# ...and on Redis, the messages of a worker host that vanished come back after this
# many seconds: longer than the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# [end-celery-settings]

# [celery-beat]
CELERY_BEAT_SCHEDULE = {
    "invoices-sweep": {
        "task": "django_invoices.process_pending_callbacks",
        "schedule": 300.0,
    },
}
# [end-celery-beat]

# [tasks-db-settings]
INSTALLED_APPS += ["django_tasks_db"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
DJANGO_INVOICES["TASKS"] = "django.tasks"
# [end-tasks-db-settings]

# [tasks-db-settings-django52]
INSTALLED_APPS += ["django_tasks", "django_tasks_db"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
DJANGO_INVOICES["TASKS"] = "django.tasks"
# [end-tasks-db-settings-django52]

# [sqlite-settings]
# SQLite only (the tutorial's database): the web server and every worker process write
# to one file. Each transaction takes the file's lock when it begins and waits up to
# 20 seconds for it, instead of failing with "database is locked".
DATABASES["default"].setdefault("OPTIONS", {}).update(
    {"transaction_mode": "IMMEDIATE", "timeout": 20}
)
# [end-sqlite-settings]
