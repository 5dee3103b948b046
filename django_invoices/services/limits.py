"""The callback endpoint's rate limit: what abuse may cost, never what the provider sends.

A new authentic callback is never counted nor refused, so the provider's real traffic
always gets through. What is counted is what an attacker can send without the signing
key or with a captured body: refused requests, per sender address
(``CALLBACK_REFUSED_PER_MINUTE``), and replays of a body stored before, per merchant
account (``CALLBACK_REPLAYS_PER_MINUTE``). Past either, such a request is answered 429
with ``Retry-After`` and stored nowhere; the provider, which retries anything but 200,
would try again (its own retries of one callback, at most 12 over two hours, stay far
below either budget: ``docs/howto/deploying.rst``).

The counters live in Django's default cache, one window a minute: they only bound what
abuse costs, and decide nothing about a payment. With a cache each process keeps for
itself, each process counts alone; with none (the dummy cache), nothing is limited.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.core.cache import cache
from django.utils import timezone as dj_timezone

from .. import conf

logger = logging.getLogger("django_invoices")

WINDOW = 60

REFUSED = "refused"
REPLAYED = "replayed"
SETTING = {REFUSED: "CALLBACK_REFUSED_PER_MINUTE", REPLAYED: "CALLBACK_REPLAYS_PER_MINUTE"}


def _key(kind: str, who: str, window: int) -> str:
    # A digest: addresses and account names make keys every cache backend takes.
    digest = hashlib.sha256(who.encode("utf-8")).hexdigest()[:24]
    return f"django_invoices:limit:{kind}:{digest}:{window}"


def budget(kind: str) -> int | None:
    """Requests of ``kind`` allowed per minute; None when that limit is off."""
    value = conf.get(SETTING[kind])
    return int(value) if value else None


def exceeded(kind: str, who: str) -> bool:
    """Whether ``who`` (an address, an account) spent its budget of ``kind`` in this
    minute. Never raises: a cache that fails limits nothing."""
    allowed = budget(kind)
    if allowed is None:
        return False
    try:
        used = cache.get(_key(kind, who, int(time.time()) // WINDOW))
    except Exception:
        logger.warning("Cannot read the callback rate limit's counter", exc_info=True)
        return False
    return isinstance(used, int) and used >= allowed


def spend(kind: str, who: str) -> None:
    """Count one request of ``kind`` against ``who``'s budget."""
    if budget(kind) is None:
        return
    key = _key(kind, who, int(time.time()) // WINDOW)
    try:
        if not cache.add(key, 1, timeout=WINDOW * 2):
            cache.incr(key)
    except Exception:  # the dummy cache, an evicted key, a cache down: no limit
        return


def retry_after() -> int:
    """Seconds until the current window ends."""
    return WINDOW - int(time.time()) % WINDOW


def refused_today() -> int:
    """How many callbacks were answered 429 today (as far as this cache knows)."""
    try:
        return int(cache.get(_today_key()) or 0)
    except Exception:
        return 0


def note_refusal(kind: str, who: str) -> None:
    """Count a 429 for staff (``refused_today``) and say so in the log."""
    logger.warning("Callback rate limit: %s requests from %s over the budget", kind, who)
    key = _today_key()
    try:
        if not cache.add(key, 1, timeout=2 * 86400):
            cache.incr(key)
    except Exception:
        return


def _today_key() -> str:
    return f"django_invoices:limit:refused-on:{dj_timezone.now().date().isoformat()}"
