"""How long the callback log keeps what it keeps.

Authentic callbacks that were acted on are the audit log of what changed invoices and
are kept. Three kinds carry nothing an invoice depends on and go after an age of their
own: refused callbacks (``REJECTED_EVENT_MAX_AGE``), authentic ones that only repeated
news applied already (duplicates, ``DUPLICATE_EVENT_MAX_AGE``) and posts for an account
name nobody configured (``UNKNOWN_ACCOUNT_EVENT_MAX_AGE``). The monitoring records
(requests to KUNA Pay, sweep runs) go after ``MONITORING_MAX_AGE`` (``monitoring.prune``).
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone as dj_timezone

from .. import conf
from ..models import CallbackEvent
from . import monitoring
from .receipt import REJECT_UNKNOWN_ACCOUNT

REFUSED = "refused"
DUPLICATES = "duplicates"
UNKNOWN_ACCOUNTS = "unknown accounts"
PROVIDER_REQUESTS = "provider requests"
SWEEP_RUNS = "sweep runs"

KINDS = {
    REFUSED: ("REJECTED_EVENT_MAX_AGE", Q(state=CallbackEvent.State.REJECTED)),
    DUPLICATES: ("DUPLICATE_EVENT_MAX_AGE", Q(state=CallbackEvent.State.DUPLICATE)),
    UNKNOWN_ACCOUNTS: (
        "UNKNOWN_ACCOUNT_EVENT_MAX_AGE",
        Q(state=CallbackEvent.State.REJECTED, outcome=REJECT_UNKNOWN_ACCOUNT),
    ),
}


def prune_callbacks(
    *, older_than: timedelta | None = None, dry_run: bool = False
) -> dict[str, int]:
    """Delete (or with ``dry_run`` count) the events of each kind above older than its
    age (or than ``older_than`` for all); how many of each, unknown accounts first (they
    are refused callbacks too, with an age of their own). Then the monitoring records
    (``PROVIDER_REQUESTS``, ``SWEEP_RUNS``) older than ``MONITORING_MAX_AGE``."""
    now = dj_timezone.now()
    counts: dict[str, int] = {}
    for kind in (UNKNOWN_ACCOUNTS, REFUSED, DUPLICATES):
        setting, which = KINDS[kind]
        age = older_than if older_than is not None else timedelta(days=float(conf.get(setting)))
        old = CallbackEvent.objects.filter(which, received_at__lte=now - age)
        if kind == REFUSED:
            old = old.exclude(outcome=REJECT_UNKNOWN_ACCOUNT)
        counts[kind] = old.count() if dry_run else old.delete()[0]
    counts.update(monitoring.prune(older_than=older_than, dry_run=dry_run))
    return counts


def prune_rejected_events(*, older_than: timedelta, dry_run: bool = False) -> int:
    """Delete refused callbacks received ``older_than`` ago or earlier; how many."""
    old = CallbackEvent.objects.filter(
        state=CallbackEvent.State.REJECTED, received_at__lte=dj_timezone.now() - older_than
    )
    if dry_run:
        return old.count()
    deleted, _by_model = old.delete()
    return deleted
