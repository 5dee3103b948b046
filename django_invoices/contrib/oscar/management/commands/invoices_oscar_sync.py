"""Record on Oscar orders every invoice ending they have not recorded yet.

The receivers do this as each ending is applied; this command catches up after one
failed (the database was down, the pipeline refused, a bug) or after the app was
installed on a shop with invoices already. Idempotent: what is recorded stays as it is.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from django_invoices.models import Invoice
from django_invoices.statuses import OPEN_STATUSES

from ... import outcomes


class Command(BaseCommand):
    help = (
        "Record on each Oscar order the endings of its KUNA Pay invoices (paid, partly "
        "paid, expired, ...) that it has not recorded yet; changes nothing twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=float,
            default=30,
            help="Only invoices changed in the last DAYS days (default 30; 0: all).",
        )
        parser.add_argument(
            "--order", metavar="NUMBER", help="Only the invoices of this Oscar order."
        )

    def handle(
        self, *args: Any, days: float = 30, order: str | None = None, **options: Any
    ) -> None:
        content_type = ContentType.objects.get_for_model(outcomes.oscar_order_model())
        invoices = Invoice.objects.filter(order__content_type=content_type).exclude(
            status__in=OPEN_STATUSES
        )
        if days:
            invoices = invoices.filter(updated_at__gte=timezone.now() - timedelta(days=days))
        if order:
            invoices = invoices.filter(order__external_order_id=order)
        done: Counter[str] = Counter()
        for pk in invoices.order_by("pk").values_list("pk", flat=True).iterator():
            done[outcomes.apply_invoice(pk)] += 1
        total = sum(done.values())
        summary = ", ".join(f"{count} {what}" for what, count in sorted(done.items()))
        self.stdout.write(f"{total} invoices of Oscar orders" + (f": {summary}" if total else ""))
