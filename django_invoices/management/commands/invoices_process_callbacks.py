from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_invoices import services
from django_invoices.models import CallbackEvent


def pending_event_ids(*, limit: int, include_failed: bool) -> list[int]:
    """Ids of the authentic events still to act on, oldest first."""
    states = [CallbackEvent.State.PENDING]
    if include_failed:
        states.append(CallbackEvent.State.FAILED)
    return list(
        CallbackEvent.objects.filter(verified=True, state__in=states)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


class Command(BaseCommand):
    help = (
        "Act on stored KUNA Pay callbacks that are still pending and due: each invoice "
        "they are about is read once from KUNA Pay, and that read settles them. A task "
        "worker does this on its own; run this from cron every few minutes as the "
        "backstop (invoices_sync does it too)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=500, help="At most this many events.")
        parser.add_argument(
            "--include-failed",
            action="store_true",
            help="Also retry events whose last attempt failed for good.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List the events, and act on none."
        )

    def handle(
        self, *args: Any, limit: int, include_failed: bool, dry_run: bool, **options: Any
    ) -> None:
        if limit < 1:
            raise CommandError(_("--limit must be 1 or more."))
        if dry_run:
            ids = pending_event_ids(limit=limit, include_failed=include_failed)
            for pk in ids:
                self.stdout.write(_("would act on callback event %(pk)s") % {"pk": pk})
            self.stdout.write(
                ngettext(
                    "Dry run: %(n)d callback event to act on; nothing was done.",
                    "Dry run: %(n)d callback events to act on; nothing was done.",
                    len(ids),
                )
                % {"n": len(ids)}
            )
            return
        counts: Counter[str] = Counter()
        if include_failed:
            failed = CallbackEvent.objects.filter(verified=True, state=CallbackEvent.State.FAILED)
            counts.update(services.reapply_callbacks(failed.values_list("pk", flat=True)[:limit]))
        counts.update(services.drain_callbacks(limit=limit, due_only=False).counts)
        if not counts:
            self.stdout.write(_("No pending callback events."))
            return
        self.stdout.write(describe_counts(counts))


def _phrase(state: str, n: int) -> str:
    # Literal ngettext calls, so makemessages finds every phrase.
    if state == CallbackEvent.State.APPLIED:
        text = ngettext(
            "%(n)d applied (the invoice read from KUNA Pay)",
            "%(n)d applied (the invoices read from KUNA Pay)",
            n,
        )
    elif state == CallbackEvent.State.DUPLICATE:
        text = ngettext("%(n)d duplicate", "%(n)d duplicates", n)
    elif state == CallbackEvent.State.IGNORED:
        text = ngettext(
            "%(n)d ignored (names no invoice we know)",
            "%(n)d ignored (name no invoice we know)",
            n,
        )
    elif state == CallbackEvent.State.PENDING:
        text = ngettext(
            "%(n)d not applied yet, still pending (KUNA Pay could not be read or does "
            "not show the news yet)",
            "%(n)d not applied yet, still pending (KUNA Pay could not be read or does "
            "not show the news yet)",
            n,
        )
    else:
        text = ngettext("%(n)d failed for good", "%(n)d failed for good", n)
    return text % {"n": n}


ORDER = (
    CallbackEvent.State.APPLIED,
    CallbackEvent.State.DUPLICATE,
    CallbackEvent.State.IGNORED,
    CallbackEvent.State.PENDING,
    CallbackEvent.State.FAILED,
)


def describe_counts(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    parts = [_phrase(state, counts[state]) for state in ORDER if counts.get(state)]
    head = ngettext(
        "Acted on %(n)d callback event: ", "Acted on %(n)d callback events: ", total
    ) % {"n": total}
    return head + "; ".join(parts) + "."
