from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_invoices import services
from django_invoices.models import CallbackEvent


class Command(BaseCommand):
    help = (
        "Act on stored KUNA Pay callbacks that are still pending (the provider or the "
        "database failed while they arrived): each reads the invoice it names. "
        "invoices_sync does this too; run either from cron every few minutes."
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
            ids = services.pending_event_ids(limit=limit, include_failed=include_failed)
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
        counts = services.process_pending_callbacks(limit=limit, include_failed=include_failed)
        if not counts:
            self.stdout.write(_("No pending callback events."))
            return
        self.stdout.write(describe_counts(counts))


STATE_PHRASES = {
    CallbackEvent.State.APPLIED: (
        "%(n)d applied (the invoice read from KUNA Pay)",
        "%(n)d applied (the invoices read from KUNA Pay)",
    ),
    CallbackEvent.State.DUPLICATE: ("%(n)d duplicate", "%(n)d duplicates"),
    CallbackEvent.State.IGNORED: (
        "%(n)d ignored (names no invoice we know)",
        "%(n)d ignored (name no invoice we know)",
    ),
    CallbackEvent.State.PENDING: (
        "%(n)d not applied yet, still pending (KUNA Pay could not be read or does not "
        "show the news yet)",
        "%(n)d not applied yet, still pending (KUNA Pay could not be read or does not "
        "show the news yet)",
    ),
    CallbackEvent.State.FAILED: ("%(n)d failed for good", "%(n)d failed for good"),
}


def describe_counts(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    parts = []
    for state, (singular, plural) in STATE_PHRASES.items():
        if counts.get(state):
            parts.append(ngettext(singular, plural, counts[state]) % {"n": counts[state]})
    head = ngettext(
        "Acted on %(n)d callback event: ", "Acted on %(n)d callback events: ", total
    ) % {"n": total}
    return head + "; ".join(parts) + "."
