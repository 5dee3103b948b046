"""Nonces of signed requests, counted together by every process that signs with a key.

KUNA Pay's rules for nonces are not published (``docs/explanation/provider-api.rst``,
"Requests"); APIs of this kind refuse a nonce that is not greater than the last one
seen for the key. A shop signs from several processes at once (web workers, task
workers), each with its own clock reading, so each nonce is taken from a counter in the
shared cache (``NONCE_CACHE``): ``incr`` is atomic in Redis and Memcached, so no two
processes get the same number and a later request never gets a smaller one. The counter
follows the clock in milliseconds, the format the provider expects.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from django.core.cache import caches

from .. import conf

logger = logging.getLogger("django_invoices")

# Tries at the counter before a process falls back to counting alone.
ATTEMPTS = 3


def cache_key(public_key: str) -> str:
    # A digest: the cache is shared with other code, and a key need not be readable.
    return "django_invoices:nonce:" + hashlib.sha256(public_key.encode()).hexdigest()[:24]


def shared_counter(public_key: str) -> Callable[[int], int]:
    """``next(at_least)``: a nonce of at least ``at_least`` (the process's own clock
    reading), greater than any other the counter has given out."""
    key = cache_key(public_key)

    def next_nonce(at_least: int) -> int:
        alias = conf.get("NONCE_CACHE")
        if alias is None:
            return at_least
        try:
            return _take(caches[alias], key, at_least)
        except Exception as exc:  # the cache is down: sign anyway, this process alone
            logger.warning("Nonce counter unavailable, counting in this process: %r", exc)
            return at_least

    return next_nonce


def _take(cache: object, key: str, at_least: int) -> int:
    from django.core.cache.backends.base import BaseCache

    assert isinstance(cache, BaseCache)
    for _attempt in range(ATTEMPTS):
        try:
            value = int(cache.incr(key))
        except ValueError:  # no counter yet (or evicted): start it at our clock
            if cache.add(key, at_least, timeout=None):
                return at_least
            continue
        if value < at_least:
            # The clock is ahead of the counter: move the counter up to it. Other
            # processes' increments only add, so the answer is still ours alone.
            value = int(cache.incr(key, at_least - value))
        return value
    logger.warning("Nonce counter %s keeps vanishing; counting in this process", key)
    return at_least
