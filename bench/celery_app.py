"""The Celery app of the server bench's worker mode, as a shop would write its own."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.server_settings")

app = Celery("invoices_bench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
