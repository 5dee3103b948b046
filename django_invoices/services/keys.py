"""Which private key verified which callbacks: what the checks on key rotation and on
the first live callbacks read (``checks.check_keys``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone as dj_timezone

from .. import conf
from ..models import CallbackEvent


@dataclass(frozen=True)
class IdleKey:
    """An older key of ``account`` that has verified no callback for ``idle`` (since
    ``since``: its last callback, or the newest key's first when it verified none)."""

    account: str
    position: int  # 1 for the key after the newest, and so on
    fingerprint: str
    since: datetime
    idle: timedelta


def idle_keys(account: str, *, now: datetime | None = None) -> list[IdleKey]:
    """The older keys of an account that can go: the newest key verified its first
    callback, and neither that nor the older key's last match is younger than
    ``OLD_KEY_IDLE_DAYS`` days. Nothing while the newest key has verified nothing: the
    provider may still be signing with an older one."""
    keys = conf.get_account(account).private_keys
    if len(keys) < 2:
        return []
    now = now or dj_timezone.now()
    newest_first = _received(keys[0], oldest=True)
    if newest_first is None:
        return []
    limit = timedelta(days=float(conf.get("OLD_KEY_IDLE_DAYS")))
    found = []
    for position, key in enumerate(keys[1:], start=1):
        fingerprint = conf.key_fingerprint(key)
        last = _received(key, oldest=False)
        since = max(newest_first, last) if last is not None else newest_first
        if now - since >= limit:
            found.append(IdleKey(account, position, fingerprint, since, now - since))
    return found


def _received(key: str, *, oldest: bool) -> datetime | None:
    """When the first (or last) callback this key verified arrived (an index serves it)."""
    events = CallbackEvent.objects.filter(key_fingerprint=conf.key_fingerprint(key))
    order = "received_at" if oldest else "-received_at"
    return events.order_by(order).values_list("received_at", flat=True).first()


def unverified_live_accounts(names: Iterable[str]) -> list[str]:
    """Of these accounts, those with live keys (their API_URL is the provider's) for
    which no callback has been verified yet: the recipe is still untried there."""
    live = []
    for name in names:
        try:
            account = conf.get_account(name)
        except (ImproperlyConfigured, TypeError, ValueError):
            continue  # a broken account: reported by check_settings
        if account.private_keys and conf.is_live(account.api_url):
            live.append(name)
    # One look per account, each stopping at its first verified callback.
    return [
        name
        for name in live
        if not CallbackEvent.objects.filter(account=name, verified=True).exists()
    ]
