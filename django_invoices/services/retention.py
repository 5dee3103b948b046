"""How long the callback log keeps what it keeps."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone as dj_timezone

from ..models import CallbackEvent


def prune_rejected_events(*, older_than: timedelta, dry_run: bool = False) -> int:
    """Delete refused callbacks received ``older_than`` ago or earlier; how many.

    Only refused ones (unverified, malformed, oversized): authentic events are the
    audit log of what changed invoices and are kept.
    """
    old = CallbackEvent.objects.filter(
        state=CallbackEvent.State.REJECTED, received_at__lte=dj_timezone.now() - older_than
    )
    if dry_run:
        return old.count()
    deleted, _by_model = old.delete()
    return deleted
