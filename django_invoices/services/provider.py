"""The merchant accounts' clients, the URLs sent to KUNA Pay, and its cached catalogues."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.core.cache import cache
from django.urls import reverse

from .. import conf
from ..client import KunaPayClient
from ..exceptions import ProviderUnavailable, RateLimited
from . import nonces
from .fields import is_whole_number

logger = logging.getLogger("django_invoices")

# Connect timeout of the "fast" client (reads while a callback or a customer waits).
FAST_CONNECT_TIMEOUT = 0.5

# Seconds a failed fetch of the asset or questionnaire list is remembered, during which
# it is not asked for again (the public API must not hammer a provider that is down).
CATALOGUE_FAILURE_MEMORY = 30

# One set of clients per thread: requests does not promise that a Session is safe to
# share between threads (the bulk refresh's pool, threaded web servers).
_local = threading.local()


def get_client(account: str = conf.DEFAULT_ACCOUNT, *, fast: bool = False) -> KunaPayClient:
    """The client of one merchant account; one per configuration and thread, so
    sessions are reused but never shared between threads.

    ``fast`` gives a client for reads inside a callback request, which must answer
    within the provider's 2 seconds: a short read timeout and no retries.
    """
    settings = conf.get_account(account)
    if fast:
        settings = replace(
            settings,
            # Connecting and reading together stay well inside the provider's 2 seconds.
            connect_timeout=min(settings.connect_timeout, FAST_CONNECT_TIMEOUT),
            read_timeout=float(conf.get("CALLBACK_API_TIMEOUT")),
            retries=0,
        )
    clients: dict[conf.Account, KunaPayClient] | None = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    client = clients.get(settings)
    if client is None:
        client = clients[settings] = KunaPayClient.from_account(
            settings, nonce_source=nonces.shared_counter(settings.public_key)
        )
    return client


# -- URLs sent to the provider ---------------------------------------------------------


def absolute_url(path: str, account: str = conf.DEFAULT_ACCOUNT) -> str:
    """``path`` on the site as KUNA Pay and customers reach it: the account's own
    ``BASE_URL`` (one domain per tenant, say), else the top-level one."""
    return str(conf.raw_account(account)["BASE_URL"]).rstrip("/") + path


def callback_url(account: str = conf.DEFAULT_ACCOUNT) -> str:
    return absolute_url(reverse("django_invoices:callback", kwargs={"account": account}), account)


def redirect_url(account: str = conf.DEFAULT_ACCOUNT) -> str:
    return absolute_url(reverse("django_invoices:return"), account)


# -- provider catalogues ---------------------------------------------------------------


def _cached(
    kind: str,
    account: str,
    fetch: Any,
    refresh: bool,
    *,
    key_field: str,
    order: Callable[[dict[str, Any]], Any] | None = None,
    remember_failure: bool = True,
) -> list[dict[str, Any]]:
    """The list from the cache, else fetched and cached.

    A failed fetch is remembered for ``CATALOGUE_FAILURE_MEMORY`` seconds: meanwhile
    callers get ``ProviderUnavailable`` at once instead of each asking (with retries and
    the long read timeout) a provider that is down. ``refresh`` always asks.
    """
    key = f"django_invoices:{kind}:{account}"
    failure_key = f"{key}:failed"
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
        failure = cache.get(failure_key)
        if failure is not None:
            raise ProviderUnavailable(
                f"KUNA Pay's {kind} list could not be fetched moments ago ({failure}); "
                f"not asking again for up to {CATALOGUE_FAILURE_MEMORY} seconds"
            )
    try:
        data = _usable_items(kind, fetch(), key_field)
        if order is not None:
            data.sort(key=order)
    except (ProviderUnavailable, RateLimited) as exc:
        # Only outages are remembered: a refusal (bad keys, say) keeps its own error.
        if remember_failure:
            cache.set(failure_key, str(exc)[:200], CATALOGUE_FAILURE_MEMORY)
        raise
    cache.set(key, data, conf.get("CACHE_TIMEOUT"))
    cache.delete(failure_key)
    return data


def _usable_items(kind: str, items: Any, key_field: str) -> list[dict[str, Any]]:
    """The objects of a provider list that carry a string ``key_field``; the rest (not
    objects, no or a non-string code or name) is left out, with a warning."""
    items = items if isinstance(items, list) else []
    usable = [
        item for item in items if isinstance(item, dict) and isinstance(item.get(key_field), str)
    ]
    if len(usable) != len(items):
        logger.warning(
            "KUNA Pay's %s list had %d item(s) without a string %r; left out",
            kind,
            len(items) - len(usable),
            key_field,
        )
    return usable


def list_assets(
    account: str = conf.DEFAULT_ACCOUNT, *, refresh: bool = False, fast: bool = False
) -> list[dict[str, Any]]:
    """The assets invoices may be created in, through Django's cache.

    Only objects with a string ``code`` are kept, sorted by ``position`` (0 when it is
    missing or not a whole number), then by code. ``fast`` fetches with the short
    timeout and no retries of ``get_client(fast=True)``, for a page someone waits for.
    """
    fetch = get_client(account, fast=fast).list_assets

    # A fast fetch that times out says little about the provider: it must not make
    # everyone else wait out the failure memory.
    return _cached(
        "assets",
        account,
        fetch,
        refresh,
        key_field="code",
        order=_asset_order,
        remember_failure=not fast,
    )


def _asset_order(item: dict[str, Any]) -> tuple[int, str]:
    # Never a number compared with a string, whatever the provider sends.
    position = item.get("position")
    return (position if is_whole_number(position) else 0, item["code"])


def questionnaire_fields(
    account: str = conf.DEFAULT_ACCOUNT, *, refresh: bool = False
) -> list[dict[str, Any]]:
    """The buyer fields an invoice may ask for, through Django's cache.

    Only objects with a string ``name`` are kept."""
    return _cached(
        "questionnaire",
        account,
        get_client(account).questionnaire_fields,
        refresh,
        key_field="name",
    )
