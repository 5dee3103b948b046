from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_invoices import services
from django_invoices.services.retention import (
    DUPLICATES,
    PROVIDER_REQUESTS,
    REFUSED,
    SWEEP_RUNS,
    UNKNOWN_ACCOUNTS,
)


class Command(BaseCommand):
    help = (
        "Delete old callbacks nothing depends on: refused ones (REJECTED_EVENT_MAX_AGE "
        "days), authentic duplicates of news applied already (DUPLICATE_EVENT_MAX_AGE) "
        "and posts for an account nobody configured (UNKNOWN_ACCOUNT_EVENT_MAX_AGE). "
        "The callbacks that were acted on are never deleted. Also deletes the records of "
        "requests to KUNA Pay and of sweep runs after MONITORING_MAX_AGE days."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="DAYS",
            help="One age for every kind instead of the settings' ages.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go, and delete nothing."
        )

    def handle(self, *args: Any, older_than: float | None, dry_run: bool, **options: Any) -> None:
        if older_than is not None and not 0 <= older_than <= 36600:
            raise CommandError(_("--older-than must be 0 to 36600 days."))
        age = None if older_than is None else timedelta(days=older_than)
        counts = services.prune_callbacks(older_than=age, dry_run=dry_run)
        described = [
            ngettext("%(n)d refused callback", "%(n)d refused callbacks", counts[REFUSED])
            % {"n": counts[REFUSED]},
            ngettext("%(n)d duplicate callback", "%(n)d duplicate callbacks", counts[DUPLICATES])
            % {"n": counts[DUPLICATES]},
            ngettext(
                "%(n)d callback for an unknown account",
                "%(n)d callbacks for unknown accounts",
                counts[UNKNOWN_ACCOUNTS],
            )
            % {"n": counts[UNKNOWN_ACCOUNTS]},
            ngettext(
                "%(n)d record of a request to KUNA Pay",
                "%(n)d records of requests to KUNA Pay",
                counts[PROVIDER_REQUESTS],
            )
            % {"n": counts[PROVIDER_REQUESTS]},
            ngettext("%(n)d sweep run", "%(n)d sweep runs", counts[SWEEP_RUNS])
            % {"n": counts[SWEEP_RUNS]},
        ]
        message = _("Dry run: %(what)s would be deleted.") if dry_run else _("Deleted %(what)s.")
        self.stdout.write(message % {"what": ", ".join(described)})
