"""The numbers the docs state agree with the code, and each is pinned here by a literal.

A number read back from the code by the test that checks it (``range(CONFIRM_ATTEMPTS)``)
changes with the code and catches nothing; an audit changed the documented 12 attempts
that way and the suite stayed green. Each row below names the number, the code that
holds it and the page that states it; changing either side fails here.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from django_invoices import client, conf
from django_invoices.services import limits, pipeline, provider, queue, settle

DOCS = Path(__file__).resolve().parent.parent / "docs"

# (the number, where the code holds it, the page, words of the page that state it)
NUMBERS = [
    (12, settle.CONFIRM_ATTEMPTS, "architecture.rst", r"at most 12 reads"),
    (12, settle.CONFIRM_ATTEMPTS, "howto/background.rst", r"After 12 reads"),
    (2, queue.READ_BACKOFF, "howto/background.rst", r"the next read waits 2 seconds"),
    (600, queue.READ_BACKOFF_MAX, "howto/background.rst", r"up to 10 minutes"),
    (600, queue.READ_BACKOFF_MAX, "architecture.rst", r"doubling from 2 seconds to 10 minutes"),
    (10, queue.WAKE_CHECK, "howto/background.rst", r"a deferred drain ten seconds later"),
    (10, queue.WAKE_CHECK, "architecture.rst", r"a deferred check 10 seconds later"),
    (5, queue.LEASE_MARGIN, "howto/background.rst", r"and five seconds"),
    (5, queue.LEASE_MARGIN, "architecture.rst", r"plus 5 seconds"),
    (1.0, pipeline.WAIT_FOR_READER, None, None),
    (30, provider.CATALOGUE_FAILURE_MEMORY, "reference/services.rst", r"remembered for 30 seconds"),
    (0.5, provider.FAST_CONNECT_TIMEOUT, None, None),
    (100, client.PAGE_SIZE, None, None),
    (100, client.MAX_PAGES, None, None),
    (60, limits.WINDOW, "howto/deploying.rst", r"Retry-After`` \(the seconds left in the minute\)"),
    (120, conf.DEFAULTS["CALLBACK_REFUSED_PER_MINUTE"], "howto/deploying.rst", r"120 refused"),
    (600, conf.DEFAULTS["CALLBACK_REPLAYS_PER_MINUTE"], "howto/deploying.rst", r"600 replays"),
    (12, settle.CONFIRM_ATTEMPTS, "howto/deploying.rst", r"up to 12 times"),
]

# Defaults the settings reference states in its tables: ``KEY`` then the default.
SETTINGS = {
    "CONNECT_TIMEOUT": 3.05,
    "READ_TIMEOUT": 15.0,
    "RETRIES": 2,
    "RETRY_BACKOFF": 0.5,
    "CACHE_TIMEOUT": 3600,
    "CALLBACK_MAX_BODY_SIZE": 65536,
    "CALLBACK_API_TIMEOUT": 1.2,
    "REJECTED_BODY_KEEP": 4096,
    "REJECTED_EVENT_MAX_AGE": 30,
    "DUPLICATE_EVENT_MAX_AGE": 90,
    "UNKNOWN_ACCOUNT_EVENT_MAX_AGE": 7,
    "CALLBACK_REFUSED_PER_MINUTE": 120,
    "CALLBACK_REPLAYS_PER_MINUTE": 600,
    "LATE_PAYMENT_WINDOW": 7,
    "REFRESH_MIN_INTERVAL": 10,
    "PENDING_PAGE_REFRESH": 10,
    "TASKS_CHUNK_SIZE": 25,
    "TASKS_ADMIN_THRESHOLD": 20,
    "TASKS_MAX_RETRIES": 8,
    "TASKS_RETRY_BACKOFF": 5,
    "TASKS_RETRY_BACKOFF_MAX": 600,
    "REFRESH_WORKERS": 8,
    "MONITORING_MAX_AGE": 14,
    "HEALTH_PENDING_MAX_AGE": 600,
    "HEALTH_SWEEP_MAX_AGE": 3600,
}


@pytest.mark.parametrize(
    ("number", "held", "page", "words"),
    NUMBERS,
    ids=[f"{row[0]}-{row[2] or 'code'}" for row in NUMBERS],
)
def test_each_number_is_what_the_docs_say(number, held, page, words):
    assert held == number
    if page is not None:
        text = " ".join((DOCS / page).read_text().split())
        assert re.search(words, text), f"{page} no longer says {words!r}"


@pytest.mark.parametrize(("key", "default"), SETTINGS.items())
def test_each_default_is_the_one_the_settings_reference_gives(key, default):
    assert conf.DEFAULTS[key] == default
    text = (DOCS / "reference/settings.rst").read_text()
    row = re.search(rf"^``{key}``\s+``([^`]+)``", text, re.MULTILINE)
    assert row is not None, f"the settings reference has no row for {key}"
    assert row.group(1) == str(default), (key, row.group(1))


def test_the_late_payment_window_reads_as_days():
    assert conf.late_payment_window() == timedelta(days=7)
