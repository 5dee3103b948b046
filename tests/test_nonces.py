"""Nonces of signed requests, taken from the counter shared through NONCE_CACHE.

Several real processes at once: tests/workers/test_nonces.py (needs Redis)."""

import pytest
from django.core.cache import cache
from django.core.checks import run_checks

from django_invoices.client import KunaPayClient
from django_invoices.services import nonces

from .settings import DJANGO_INVOICES


def signed_client(clock, source):
    return KunaPayClient(
        "https://api.kunapay.test",
        public_key="pub",
        private_key="priv",
        auth_mode="signed",
        clock=clock,
        nonce_source=source,
    )


def test_first_nonce_is_the_clock_in_milliseconds():
    take = nonces.shared_counter("pub")
    assert take(1_700_000_000_000) == 1_700_000_000_000
    assert cache.get(nonces.cache_key("pub")) == 1_700_000_000_000


def test_counter_ahead_of_the_clock_gives_the_next_number():
    take = nonces.shared_counter("pub")
    take(1_700_000_000_500)
    # Another process's clock is behind: it still gets a greater nonce.
    assert take(1_700_000_000_000) == 1_700_000_000_501
    assert take(1_700_000_000_000) == 1_700_000_000_502


def test_clock_ahead_of_the_counter_moves_the_counter_up():
    take = nonces.shared_counter("pub")
    take(1_700_000_000_000)
    assert take(1_700_000_009_000) == 1_700_000_009_000
    assert take(1_700_000_000_000) == 1_700_000_009_001


def test_keys_count_apart():
    nonces.shared_counter("pub")(1000)
    assert nonces.shared_counter("other")(5) == 5


def test_the_cache_key_does_not_show_the_public_key():
    assert "pub-key-123" not in nonces.cache_key("pub-key-123")


def test_without_a_nonce_cache_the_process_counts_alone(settings):
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "NONCE_CACHE": None}
    take = nonces.shared_counter("pub")
    assert take(10) == 10 and take(10) == 10
    assert cache.get(nonces.cache_key("pub")) is None


def test_a_cache_that_fails_does_not_stop_signing(monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "incr", down)
    assert nonces.shared_counter("pub")(42) == 42


def test_client_nonces_follow_the_counter_and_never_go_backwards():
    take = nonces.shared_counter("pub")
    take(1_700_000_005_000)  # another process got ahead
    client = signed_client(lambda: 1_700_000_000.0, take)
    seen = [int(client._headers("/v1/invoice", "")["nonce"]) for _ in range(3)]
    assert seen == [1_700_000_005_001, 1_700_000_005_002, 1_700_000_005_003]


def test_client_stays_increasing_when_the_counter_is_lost():
    take = nonces.shared_counter("pub")
    client = signed_client(lambda: 1_700_000_000.0, take)
    first = int(client._nonce())
    cache.clear()  # evicted: the counter starts again at the clock
    assert int(client._nonce()) == first + 1


def test_get_client_shares_the_counter(settings):
    from django_invoices import services

    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "PUBLIC_KEY": "pub", "AUTH_MODE": "signed"}
    nonce = int(services.get_client()._headers("/v1/invoice", "")["nonce"])
    assert cache.get(nonces.cache_key("pub")) == nonce


def nonce_checks(settings, caches=None, **invoices):
    if caches is not None:
        settings.CACHES = caches
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, **invoices}
    wanted = {"django_invoices.W003", "django_invoices.E013", "django_invoices.E014"}
    return [m.id for m in run_checks() if m.id in wanted]


REDIS = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}
}


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.filebased.FileBasedCache",
    ],
)
def test_check_refuses_a_nonce_cache_signing_processes_cannot_share(settings, backend, debug):
    # With DEBUG on too: a development server and its task worker sign with one key.
    settings.DEBUG = debug
    caches = {"default": {"BACKEND": backend, "LOCATION": "/tmp/x"}}
    assert nonce_checks(settings, caches, PUBLIC_KEY="pub") == ["django_invoices.E014"]


def test_check_is_quiet_with_redis_or_without_signing(settings):
    assert nonce_checks(settings, REDIS, PUBLIC_KEY="pub") == []
    assert (
        nonce_checks(
            settings, {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
        )
        == []
    )


def test_check_warns_when_the_nonce_cache_is_off_for_signed_requests(settings):
    assert nonce_checks(settings, REDIS, PUBLIC_KEY="pub", NONCE_CACHE=None) == [
        "django_invoices.W003"
    ]


def test_check_refuses_an_unknown_nonce_cache(settings):
    assert nonce_checks(settings, REDIS, NONCE_CACHE="nonces") == ["django_invoices.E013"]


def test_the_counter_never_expires(monkeypatch):
    import time

    take = nonces.shared_counter("pub")
    assert take(1000) == 1000
    a_year_on = time.time() + 366 * 24 * 3600
    monkeypatch.setattr(time, "time", lambda: a_year_on)
    assert take(5) == 1001


def test_a_counter_another_process_starts_meanwhile_is_counted_on(monkeypatch):
    real_incr = cache.incr
    calls = []

    def incr(key, delta=1, version=None):
        calls.append(key)
        if len(calls) == 1:
            cache.add(key, 5000, timeout=None)  # another process starts the counter first
            raise ValueError("no such key")
        return real_incr(key, delta, version)

    monkeypatch.setattr(cache, "incr", incr)
    assert nonces.shared_counter("pub")(1000) == 5001


def test_a_counter_that_reaches_the_clock_is_not_asked_again(monkeypatch):
    """Asking again (an increment of nothing) could return another process's nonce."""
    key = nonces.cache_key("pub")
    cache.add(key, 999, timeout=None)
    real_incr = cache.incr

    def incr(key, delta=1, version=None):
        value = real_incr(key, delta, version)
        real_incr(key, 1, version)  # another process takes the next nonce meanwhile
        return value

    monkeypatch.setattr(cache, "incr", incr)
    assert nonces.shared_counter("pub")(1000) == 1000
