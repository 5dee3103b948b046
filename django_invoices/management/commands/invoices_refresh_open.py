from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_invoices import background, services


class Command(BaseCommand):
    help = (
        "Read open invoices back from KUNA Pay when nothing was heard of them for a while, "
        "so a lost callback cannot leave an order waiting. Run it from cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=15,
            metavar="MINUTES",
            help="Only invoices not read back for this many minutes (default: 15).",
        )
        parser.add_argument("--limit", type=int, default=500, help="At most this many invoices.")
        parser.add_argument(
            "--now",
            action="store_true",
            help="Read them here and now even when DJANGO_INVOICES['TASKS'] names a task "
            "system (which otherwise gets them in chunks of TASKS_CHUNK_SIZE).",
        )

    def handle(
        self, *args: Any, older_than: int, limit: int, now: bool = False, **options: Any
    ) -> None:
        # A year is as good as forever here, and keeps the date arithmetic in range.
        if not 0 <= older_than <= 366 * 24 * 60 or limit < 1:
            raise CommandError(
                "--older-than must be 0 to 527040 minutes (a year) and --limit 1 or more."
            )
        invoices = services.stale_open_invoices(
            older_than=timedelta(minutes=older_than), limit=limit
        )
        if not invoices:
            self.stdout.write("No open invoices to refresh.")
            return
        if background.queued() and not now:
            tasks = background.enqueue_chunks("refresh_invoices", [i.pk for i in invoices])
            self.stdout.write(f"Queued {len(invoices)} open invoices in {tasks} tasks.")
            return
        outcomes = services.refresh_invoices(invoices)
        failed = [o for o in outcomes if o.outcome == services.Outcome.FAILED]
        changed = [o for o in outcomes if o.changed]
        for outcome in changed:
            self.stdout.write(f"{outcome.invoice}: {outcome.old_status} -> {outcome.new_status}")
        for outcome in failed:
            self.stderr.write(f"{outcome.invoice}: {outcome.error or outcome.reason}")
        self.stdout.write(
            f"Refreshed {len(outcomes) - len(failed)} of {len(outcomes)} open invoices "
            f"({len(changed)} changed status)."
        )
        if failed:
            raise CommandError(f"{len(failed)} invoices could not be refreshed.")
