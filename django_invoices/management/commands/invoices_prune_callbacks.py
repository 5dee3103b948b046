from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_invoices import conf, services


class Command(BaseCommand):
    help = (
        "Delete refused (unverified, malformed or oversized) callbacks older than a number "
        "of days (default: the REJECTED_EVENT_MAX_AGE setting). Authentic callbacks are "
        "never deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="DAYS",
            help="Only events received this many days ago or earlier.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go, and delete nothing."
        )

    def handle(self, *args: Any, older_than: float | None, dry_run: bool, **options: Any) -> None:
        days = float(conf.get("REJECTED_EVENT_MAX_AGE") if older_than is None else older_than)
        if not 0 <= days <= 36600:
            raise CommandError(_("--older-than must be 0 to 36600 days."))
        count = services.prune_rejected_events(older_than=timedelta(days=days), dry_run=dry_run)
        if dry_run:
            message = ngettext(
                "Dry run: %(n)d refused callback older than %(days)s days would be deleted.",
                "Dry run: %(n)d refused callbacks older than %(days)s days would be deleted.",
                count,
            )
        else:
            message = ngettext(
                "Deleted %(n)d refused callback older than %(days)s days.",
                "Deleted %(n)d refused callbacks older than %(days)s days.",
                count,
            )
        self.stdout.write(message % {"n": count, "days": f"{days:g}"})
