"""The Celery app of the worker tests, as a shop would write its own."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.workers.settings")

app = Celery("invoices_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
