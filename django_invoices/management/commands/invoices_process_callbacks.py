from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_invoices import services


class Command(BaseCommand):
    help = (
        "Apply stored KUNA Pay callbacks that are still pending (the provider or the "
        "database failed while they arrived). Run it from cron every few minutes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=500, help="At most this many events.")
        parser.add_argument(
            "--include-failed",
            action="store_true",
            help="Also retry events whose last attempt failed for good.",
        )

    def handle(self, *args: Any, limit: int, include_failed: bool, **options: Any) -> None:
        if limit < 1:
            raise CommandError("--limit must be 1 or more.")
        counts = services.process_pending_callbacks(limit=limit, include_failed=include_failed)
        if not counts:
            self.stdout.write("No pending callback events.")
            return
        summary = ", ".join(f"{state}: {count}" for state, count in sorted(counts.items()))
        self.stdout.write(f"Processed {sum(counts.values())} callback events ({summary}).")
