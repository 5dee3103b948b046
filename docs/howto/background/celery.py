# The whole of shop/celery.py, written by tests/test_guide_background.py.

# [celery-app]
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# [end-celery-app]
