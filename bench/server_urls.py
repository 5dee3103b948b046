"""URLs of the server bench: the app's (as the tests mount them) and the minimal receivers."""

import os

from django.urls import path

from tests.urls import urlpatterns as app_urls

from .minimal import minimal_callback, minimal_reread_callback

if os.environ.get("BENCH_REDIS_URL"):
    # Worker mode: the Celery app the tasks are sent through, loaded with the site (a
    # shop imports its own from its project package's __init__.py).
    from . import celery_app  # noqa: F401

urlpatterns = [
    *app_urls,
    path("minimal/callback/", minimal_callback),
    path("minimal/reread/", minimal_reread_callback),
]
