from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_invoices import background, services
from django_invoices.models import CallbackEvent, Invoice, Order
from django_invoices.services import sync

#: Minutes in a year: as good as forever here, and keeps the date arithmetic in range.
MAX_MINUTES = 366 * 24 * 60


class Command(BaseCommand):
    help = (
        "Read back from KUNA Pay everything that can still change: open invoices, "
        "invoices that ended unpaid within LATE_PAYMENT_WINDOW (late payments), orders "
        "whose invoice create got no clear answer, and pending callback events. Run it "
        "from cron every few minutes; it exits with status 1 when something could not "
        "be read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=15,
            metavar="MINUTES",
            help="Only invoices not read back for this many minutes (default: 15); 0 reads "
            "every invoice that can change, however recently read (a run by hand).",
        )
        parser.add_argument(
            "--limit", type=int, default=500, help="At most this many of each kind."
        )
        parser.add_argument(
            "--now",
            action="store_true",
            help="Read here and now even when DJANGO_INVOICES['TASKS'] names a task system "
            "(which otherwise gets the reads in chunks of TASKS_CHUNK_SIZE).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List what would be read (invoices by KUNA Pay id and order reference), "
            "and read nothing.",
        )

    def handle(
        self,
        *args: Any,
        older_than: int,
        limit: int,
        dry_run: bool,
        now: bool = False,
        **options: Any,
    ) -> None:
        if not 0 <= older_than <= MAX_MINUTES or limit < 1:
            raise CommandError(
                _("--older-than must be 0 to %(max)d minutes (a year) and --limit 1 or more.")
                % {"max": MAX_MINUTES}
            )
        plan = services.plan_sync(older_than=timedelta(minutes=older_than), limit=limit)
        if not plan:
            if not dry_run:
                # Recorded all the same (a SweepRun with nothing read): the health page
                # and check see the sweep running.
                services.run_sync(plan)
            nothing = ngettext(
                "Nothing to read: no invoice that can change older than %(n)d minute, "
                "no order to reconcile, no pending callback event.",
                "Nothing to read: no invoice that can change older than %(n)d minutes, "
                "no order to reconcile, no pending callback event.",
                older_than,
            ) % {"n": older_than}
            if older_than:
                # Run by hand right after a change at KUNA Pay, the invoice was read
                # moments ago: say how to read it now.
                nothing += " " + _(
                    "To read the invoices that can change now, however recently they were "
                    "read, run it with --older-than 0."
                )
            self.stdout.write(nothing)
            return
        if dry_run:
            self._list(plan)
            return
        if background.queued() and not now:
            self._queue(plan)
            return
        report = services.run_sync(plan)
        for change in report.changes:
            self.stdout.write(
                _("Invoice %(id)s: %(old)s -> %(new)s")
                % {"id": change.provider_id, "old": change.old_status, "new": change.new_status}
            )
        for failure in report.failures:
            self.stderr.write(failure)
        self.stdout.write(summary(report))
        if report.failures:
            raise CommandError(
                ngettext(
                    "%(n)d item could not be read from KUNA Pay; it is read again next time.",
                    "%(n)d items could not be read from KUNA Pay; they are read again next time.",
                    len(report.failures),
                )
                % {"n": len(report.failures)}
            )

    def _queue(self, plan: sync.SyncPlan) -> None:
        """Hand the sweep to the task system in chunks; its workers read and retry."""
        tasks = sum(
            background.enqueue_chunks(job, ids)
            for job, ids in (("sync_invoices", plan.invoices), ("sync_orders", plan.orders))
            if ids
        )
        if plan.events:
            # The pending rows are the queue: one drain finds them all.
            background.enqueue("drain_callbacks")
            tasks += 1
        self.stdout.write(
            ngettext(
                "Queued %(invoices)s, %(orders)s and %(events)s in %(tasks)d task.",
                "Queued %(invoices)s, %(orders)s and %(events)s in %(tasks)d tasks.",
                tasks,
            )
            % {
                "invoices": _count_invoices(len(plan.invoices)),
                "orders": _count_orders(len(plan.orders)),
                "events": _count_events(len(plan.events)),
                "tasks": tasks,
            }
        )

    def _list(self, plan: sync.SyncPlan) -> None:
        """Each item by the names staff know it by: the KUNA Pay invoice id and the
        order's reference (its ``externalOrderId``), never a row's internal id alone."""
        invoices = Invoice.objects.select_related("order").in_bulk(plan.invoices)
        for pk in plan.invoices:
            if invoice := invoices.get(pk):
                self.stdout.write(
                    _("would read invoice %(invoice)s (order %(order)s)")
                    % {"invoice": invoice.provider_id, "order": invoice.order.external_order_id}
                )
        orders = Order.objects.in_bulk(plan.orders)
        for pk in plan.orders:
            if order := orders.get(pk):
                self.stdout.write(
                    _("would reconcile order %(order)s") % {"order": order.external_order_id}
                )
        events = CallbackEvent.objects.select_related("invoice__order").in_bulk(plan.events)
        for pk in plan.events:
            if event := events.get(pk):
                self.stdout.write(_describe_event(event))
        self.stdout.write(
            _("Dry run: %(invoices)s, %(orders)s, %(events)s; nothing was read.")
            % {
                "invoices": _count_invoices(len(plan.invoices)),
                "orders": _count_orders(len(plan.orders)),
                "events": _count_events(len(plan.events)),
            }
        )


def _describe_event(event: CallbackEvent) -> str:
    """A pending callback event by its id and what it is about."""
    what = event.event_name or _("callback")
    if event.provider_status:
        what = f"{what} {event.provider_status}"
    if event.invoice is not None:
        return _(
            "would settle callback event %(pk)s (%(what)s about invoice %(invoice)s, "
            "order %(order)s)"
        ) % {
            "pk": event.pk,
            "what": what,
            "invoice": event.invoice.provider_id,
            "order": event.invoice.order.external_order_id,
        }
    return _(
        "would settle callback event %(pk)s (%(what)s naming %(object)s, no invoice of "
        "this shop found for it yet)"
    ) % {"pk": event.pk, "what": what, "object": event.object_id or "-"}


def _count_invoices(n: int) -> str:
    return ngettext("%(n)d invoice", "%(n)d invoices", n) % {"n": n}


def _count_orders(n: int) -> str:
    return ngettext("%(n)d order", "%(n)d orders", n) % {"n": n}


def _count_events(n: int) -> str:
    return ngettext("%(n)d callback event", "%(n)d callback events", n) % {"n": n}


def summary(report: sync.SyncReport) -> str:
    """The one line a sweep prints."""
    return _(
        "Read %(read)s (%(changed)d changed status), settled %(settled)s (%(pending)d still "
        "pending), reconciled %(orders)s (%(adopted)d adopted, %(flagged)d flagged for "
        "staff), %(failed)d could not be read."
    ) % {
        "read": _count_invoices(report.invoices_read),
        "changed": report.invoices_changed,
        "settled": _count_events(report.events_settled),
        "pending": report.events_pending,
        "orders": _count_orders(
            report.orders_adopted + report.orders_flagged + report.orders_cleared
        ),
        "adopted": report.orders_adopted,
        "flagged": report.orders_flagged,
        "failed": len(report.failures),
    }
