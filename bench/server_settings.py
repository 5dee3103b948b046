"""Settings of the example stack that ``bench/server.py`` runs under gunicorn.

The test settings, with persistent database connections (as a production site has),
the provider at ``BENCH_API_URL`` (the local stub) and the bench's own URLs: the app's,
and the hand-written minimal callback view that is the baseline. ``BENCH_INVOICES``
(JSON) is merged over ``DJANGO_INVOICES``, e.g. to choose where work runs;
``BENCH_REDIS_URL`` makes Redis the cache and Celery's broker.
"""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, DJANGO_INVOICES

ROOT_URLCONF = "bench.server_urls"
DATABASES["default"]["CONN_MAX_AGE"] = 60
DJANGO_INVOICES = {
    **DJANGO_INVOICES,
    "API_URL": os.environ.get("BENCH_API_URL", "http://127.0.0.1:9"),
    # The stub answers at once; a real provider gets the default's 1.2 s.
    "CALLBACK_API_TIMEOUT": 5.0,
    # The duplicate cases send one body 1,000 times a minute: past the replay budget
    # (CALLBACK_REPLAYS_PER_MINUTE) those would measure the 429, not the duplicate path.
    "CALLBACK_REPLAYS_PER_MINUTE": None,
    **json.loads(os.environ.get("BENCH_INVOICES") or "{}"),
}
# Worker mode (``bench/server.py --worker celery``): Redis is the shared cache (queued
# marks, the nonce counter) and Celery's broker, as in a shop that runs Celery.
if os.environ.get("BENCH_REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["BENCH_REDIS_URL"],
        }
    }
    CELERY_BROKER_URL = os.environ["BENCH_REDIS_URL"]
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    CELERY_TASK_IGNORE_RESULT = True

# W001 (plain-HTTP API URL) is the point here: the stub listens on the loopback only.
SILENCED_SYSTEM_CHECKS = ["django_invoices.W001", "django_invoices.W002"]
